"""Balance constraints for METIS: one vertex-weight column per thing to spread evenly.

- one column per node type (1 for its nodes): every partition gets its share of
  every type, not just of the total;
- one per train/val/test mask of every node label (the masks named by the
  label metadata): node-task seeds are spread evenly;
- one weighting a node by its in-degree over all edge types (reverse types
  included): an edge lives in its destination's partition, so this spreads
  the edges, and with them the sampling and message-passing work, evenly
  (DGL's ``balance_edges``); without it, the partition holding the hubs of a
  power-law graph gets most of the edges;
- one per train/val/test mask of every edge label, weighting a node by the
  number of such edges it is the destination of: edge-task seeds are spread
  evenly too.

Columns that are zero everywhere (an empty split) are dropped: METIS
normalises each constraint by its total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphkit.partition.homogenize import Homogenized, is_forward
from graphkit.storage.graph import Graph


@dataclass(frozen=True)
class BalanceConstraints:
    names: list[str]  # e.g. "nodes:product", "product/train_mask", "customer,buys,product/train_mask"
    weights: np.ndarray  # int64 [num_nodes, len(names)], rows by global node ID


def label_masks(labels: dict) -> list[str]:
    """The split mask names of a type's labels, in order, without repeats."""
    return list(dict.fromkeys(m for lab in labels.values() for m in lab.mask_names))


def balance_constraints(graph: Graph, hom: Homogenized) -> BalanceConstraints:
    names: list[str] = []
    columns: list[tuple[int, np.ndarray]] = []  # (global offset, weights of that type's nodes)
    for t in graph.node_types:
        n = graph.num_nodes(t)
        if n == 0:
            continue
        names.append(f"nodes:{t}")
        columns.append((hom.offsets[t], np.ones(n, dtype=np.int64)))
        nt = graph.meta.node_type(t)
        for m in label_masks(nt.labels):
            if m in nt.masks:
                names.append(f"{t}/{m}")
                columns.append((hom.offsets[t], np.asarray(graph.node_mask(t, m)).astype(np.int64)))
    in_degree = np.zeros(hom.num_nodes, dtype=np.int64)
    for em in graph.meta.edge_types:
        indptr, _, _ = graph.csc(em.etype)
        off = hom.offsets[em.dst_type]
        in_degree[off:off + graph.num_nodes(em.dst_type)] += np.diff(indptr)
    names.append("edges:in-degree")
    columns.append((0, in_degree))
    for em in graph.meta.edge_types:
        if not is_forward(graph, em):
            continue
        _, dst = graph.edges(em.etype)
        for m in label_masks(em.labels):
            if m in em.masks:
                sel = np.asarray(graph.edge_mask(em.etype, m)).astype(bool)
                counts = np.bincount(np.asarray(dst)[sel], minlength=graph.num_nodes(em.dst_type))
                names.append(f"{','.join(em.etype)}/{m}")
                columns.append((hom.offsets[em.dst_type], counts.astype(np.int64)))
    keep = [i for i, (_, w) in enumerate(columns) if w.any()]
    weights = np.zeros((hom.num_nodes, len(keep)), dtype=np.int64)
    for j, i in enumerate(keep):
        off, w = columns[i]
        weights[off:off + len(w), j] = w
    return BalanceConstraints(names=[names[i] for i in keep], weights=weights)
