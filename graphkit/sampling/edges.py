"""Edge-seeded mini-batches for edge classification/regression and link prediction.

The endpoints of the target edges (and any negative nodes) become the seed
nodes of a neighbour sample; the target edges themselves, and their reverse
edges, are removed from message passing so a model cannot read the answer
from the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from graphkit.sampling.base import EdgeType, NodeType, SampledSubgraph
from graphkit.sampling.kernels import unique_stable
from graphkit.sampling.neighbor import NeighborSampler


@dataclass
class EdgeBatch:
    """A sampled batch of target edges of one edge type.

    ``src_index``/``dst_index`` are positions of the endpoints among the
    output nodes (``subgraph.seeds``) of their types; ``neg_dst_index`` (and
    ``neg_src_index``) have the negative sampler's shape, mapped the same way.
    """

    etype: EdgeType
    eids: torch.Tensor
    subgraph: SampledSubgraph
    src_index: torch.Tensor
    dst_index: torch.Tensor
    neg_src_index: Optional[torch.Tensor] = None
    neg_dst_index: Optional[torch.Tensor] = None


class EdgeSeedSampler:
    """Wraps a :class:`NeighborSampler` to sample around target edges.

    Args:
        node_sampler: samples the blocks around the endpoint nodes.
        exclude_targets: remove the batch's target edges (and reverse edges
            sharing their IDs) from message passing (default: True).
    """

    def __init__(self, node_sampler: NeighborSampler, exclude_targets: bool = True) -> None:
        self.node_sampler = node_sampler
        self.graph = node_sampler.graph
        self.exclude_targets = exclude_targets
        self.ends = {e: tuple(np.asarray(a) for a in self.graph.edges(e)) for e in self.graph.edge_types}

    def sample_from_edges(self, etype: EdgeType, eids: np.ndarray, seed: int = 0,
                          neg_dst: Optional[np.ndarray] = None, neg_src: Optional[np.ndarray] = None) -> EdgeBatch:
        """Sample around edges ``eids`` of ``etype`` plus optional negative endpoints (global IDs, any shape)."""
        etype = tuple(etype)  # type: ignore[assignment]
        eids = np.ascontiguousarray(eids, dtype=np.int64)
        src_all, dst_all = self.ends[etype]
        src, dst = src_all[eids], dst_all[eids]
        s_type, _, d_type = etype
        groups: dict[NodeType, list[np.ndarray]] = {}
        groups.setdefault(s_type, []).append(src)
        groups.setdefault(d_type, []).append(dst)
        if neg_dst is not None:
            groups[d_type].append(np.asarray(neg_dst, dtype=np.int64).reshape(-1))
        if neg_src is not None:
            groups[s_type].append(np.asarray(neg_src, dtype=np.int64).reshape(-1))
        seeds: dict[NodeType, np.ndarray] = {}
        positions: dict[NodeType, np.ndarray] = {}
        for t, parts in groups.items():
            seeds[t], positions[t] = unique_stable(self.node_sampler._scratch(t), np.concatenate(parts))
        exclude = {etype: eids} if self.exclude_targets else None
        sub = self.node_sampler.sample_from_nodes(seeds, seed=seed, exclude_eids=exclude)

        # Split each type's positions back into the pieces they were built from.
        cursor = {t: 0 for t in groups}

        def take(t: NodeType, n: int, shape: tuple) -> torch.Tensor:
            out = positions[t][cursor[t]:cursor[t] + n]
            cursor[t] += n
            return torch.from_numpy(out.reshape(shape))

        src_index = take(s_type, src.size, src.shape)
        dst_index = take(d_type, dst.size, dst.shape)
        neg_dst_index = take(d_type, np.size(neg_dst), np.shape(neg_dst)) if neg_dst is not None else None
        neg_src_index = take(s_type, np.size(neg_src), np.shape(neg_src)) if neg_src is not None else None
        return EdgeBatch(etype=etype, eids=torch.from_numpy(eids), subgraph=sub, src_index=src_index,
                         dst_index=dst_index, neg_src_index=neg_src_index, neg_dst_index=neg_dst_index)
