"""What samplers produce: per-layer bipartite blocks, heterogeneous, seeds first.

A :class:`Block` is one message-passing layer. For every node type ``t`` it
has ``src_nodes[t]`` (global node IDs of the layer's inputs) whose first
``num_dst[t]`` entries are the layer's outputs (the *dst* nodes), DGL-style;
so a layer can combine a node's own input with its neighbours' without a
lookup. For every edge type ``(s, r, d)`` it has the sampled edges as a CSR
over dst nodes: ``indptr[etype]`` (``num_dst[d] + 1``), ``indices[etype]``
(local positions into ``src_nodes[s]``) and ``eids[etype]`` (global edge IDs,
for edge features). ``edge_index`` and a ``torch.sparse_csr_tensor`` adjacency
are derived from that for PyG layers and sparse aggregation.

Homogeneous graphs are the one-type case: ``src_nodes == {"node": ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

NodeType = str
EdgeType = tuple[str, str, str]


@dataclass
class Block:
    src_nodes: dict[NodeType, torch.Tensor]  # int64 global IDs; the first num_dst[t] are the dst nodes
    num_dst: dict[NodeType, int]
    indptr: dict[EdgeType, torch.Tensor]  # int64 [num_dst[d] + 1]
    indices: dict[EdgeType, torch.Tensor]  # int64 local src positions
    eids: dict[EdgeType, torch.Tensor]  # int64 global edge IDs
    edge_weight: dict[EdgeType, torch.Tensor] = field(default_factory=dict)  # optional (e.g. GraphSAINT norms)
    # Control-variate training (graphkit.training.control_variate): per relation group, the mean of the
    # *historical* activations over each dst node's FULL in-neighbourhood, and the histories of the src nodes.
    history_agg: dict = field(default_factory=dict)
    history_src: dict[NodeType, torch.Tensor] = field(default_factory=dict)
    edge_feat: dict[EdgeType, torch.Tensor] = field(default_factory=dict)  # features of the sampled edges (by eids)

    @property
    def edge_types(self) -> list[EdgeType]:
        return list(self.indptr)

    def num_src(self, ntype: NodeType) -> int:
        t = self.src_nodes.get(ntype)
        return 0 if t is None else int(t.numel())

    def dst_nodes(self, ntype: NodeType) -> torch.Tensor:
        return self.src_nodes[ntype][: self.num_dst[ntype]]

    def num_edges(self, etype: Optional[EdgeType] = None) -> int:
        if etype is None:
            return sum(int(v.numel()) for v in self.indices.values())
        return int(self.indices[etype].numel())

    def edge_index(self, etype: EdgeType) -> torch.Tensor:
        """``[2, E]`` local (src, dst) pairs, PyG's convention (row 0 = source)."""
        ptr = self.indptr[etype]
        dst = torch.repeat_interleave(torch.arange(ptr.numel() - 1, dtype=torch.int64, device=ptr.device), ptr.diff())
        return torch.stack([self.indices[etype], dst])

    def adj(self, etype: EdgeType, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Sparse CSR ``[num_dst[d], num_src[s]]`` adjacency (values 1, or ``weight``)."""
        s, _, d = etype
        idx = self.indices[etype]
        if weight is None:
            weight = self.edge_weight.get(etype)
        values = torch.ones(idx.numel(), dtype=torch.float32, device=idx.device) if weight is None else weight
        return torch.sparse_csr_tensor(self.indptr[etype], idx, values, size=(self.num_dst[d], self.num_src(s)),
                                       check_invariants=False)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Block":
        def mv(d: dict) -> dict:
            return {k: v.to(device, non_blocking=non_blocking) for k, v in d.items()}

        return Block(mv(self.src_nodes), dict(self.num_dst), mv(self.indptr), mv(self.indices), mv(self.eids),
                     mv(self.edge_weight), edge_feat=mv(self.edge_feat))


@dataclass
class SampledSubgraph:
    """The output of a node sampler: blocks in input-to-output order.

    ``blocks[0]`` consumes input features of ``blocks[0].src_nodes``;
    ``blocks[-1]``'s dst nodes are the seeds, in the order they were given.
    """

    blocks: list[Block]
    seed_nodes: dict[NodeType, torch.Tensor] = field(default_factory=dict)  # used when there are no blocks

    @property
    def input_nodes(self) -> dict[NodeType, torch.Tensor]:
        return self.blocks[0].src_nodes if self.blocks else self.seed_nodes

    @property
    def seeds(self) -> dict[NodeType, torch.Tensor]:
        if not self.blocks:
            return self.seed_nodes
        last = self.blocks[-1]
        return {t: last.dst_nodes(t) for t in last.num_dst if last.num_dst[t] > 0}

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "SampledSubgraph":
        return SampledSubgraph([b.to(device, non_blocking) for b in self.blocks],
                               {t: v.to(device, non_blocking=non_blocking) for t, v in self.seed_nodes.items()})
