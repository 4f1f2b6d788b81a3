"""How good a partitioning is: edge cut and balance.

- edge cut: the fraction of edges (all forward edge types; reverse types would
  count every edge twice) whose endpoints lie in different partitions;
- balance: ``max / mean`` of the per-partition counts (1.0 is perfect), for the
  nodes of every type, the nodes of every node split mask, the edges of every
  edge type (reverse types included) and of every edge split mask (an edge
  counts for its destination's partition, where it lives).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphkit.partition.constraints import label_masks
from graphkit.partition.homogenize import is_forward
from graphkit.storage.graph import Graph


@dataclass
class PartitionMetrics:
    edge_cut: float
    edge_cut_per_etype: dict[str, float] = field(default_factory=dict)  # keyed "src,rel,dst"
    balance: dict[str, float] = field(default_factory=dict)  # keyed like counts
    counts: dict[str, list[int]] = field(default_factory=dict)  # "nodes:t", "t/mask", "edges:s,r,d", "s,r,d/mask"

    @property
    def worst_balance(self) -> float:
        return max(self.balance.values(), default=1.0)


def balance(counts: np.ndarray) -> float:
    """``max / mean`` of per-partition counts (1.0 when empty)."""
    mean = float(np.mean(counts)) if len(counts) else 0.0
    return float(np.max(counts)) / mean if mean > 0 else 1.0


def partition_metrics(graph: Graph, node_part: dict[str, np.ndarray], num_parts: int) -> PartitionMetrics:
    counts: dict[str, np.ndarray] = {}
    for t in graph.node_types:
        part = node_part[t]
        counts[f"nodes:{t}"] = np.bincount(part, minlength=num_parts)
        nt = graph.meta.node_type(t)
        for m in label_masks(nt.labels):
            if m in nt.masks:
                sel = np.asarray(graph.node_mask(t, m)).astype(bool)
                counts[f"{t}/{m}"] = np.bincount(part[sel], minlength=num_parts)
    cut_total, edges_total, cut_per = 0, 0, {}
    for em in graph.meta.edge_types:
        key = ",".join(em.etype)
        src, dst = graph.edges(em.etype)
        dst_part = node_part[em.dst_type][np.asarray(dst)]
        counts[f"edges:{key}"] = np.bincount(dst_part, minlength=num_parts)
        if not is_forward(graph, em):
            continue
        src_part = node_part[em.src_type][np.asarray(src)]
        cut = int(np.count_nonzero(src_part != dst_part))
        cut_per[key] = cut / len(dst_part) if len(dst_part) else 0.0
        cut_total += cut
        edges_total += len(dst_part)
        for m in label_masks(em.labels):
            if m in em.masks:
                sel = np.asarray(graph.edge_mask(em.etype, m)).astype(bool)
                counts[f"{key}/{m}"] = np.bincount(dst_part[sel], minlength=num_parts)
    return PartitionMetrics(
        edge_cut=cut_total / edges_total if edges_total else 0.0,
        edge_cut_per_etype=cut_per,
        balance={k: balance(c) for k, c in counts.items()},
        counts={k: [int(x) for x in c] for k, c in counts.items()},
    )
