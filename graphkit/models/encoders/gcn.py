"""GCN (Kipf & Welling, ICLR 2017): ``H' = D^-1/2 (A + I) D^-1/2 H W``.

The degrees ``D`` are the node's in-degree in the *whole graph* plus one (the
self-loop), looked up by global node ID, so a sampled block normalises
exactly as full-graph GCN does. Edge types between two node types are merged
(a graph with ``cites`` and ``cites-rev`` is the undirected citation graph).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from graphkit.models.aggregate import edge_dst, merged_csr, spmm
from graphkit.models.encoders.base import GraphSchema, GroupKey, HeteroLayer, group_name, register_encoder, stack
from graphkit.sampling.base import Block, EdgeType, NodeType


class GCNLayer(HeteroLayer):
    """One GCN layer; ``degrees[t]`` is the whole-graph in-degree of every node of type ``t``."""

    def __init__(self, schema: GraphSchema, in_dim: int, out_dim: int, degrees: Mapping[NodeType, torch.Tensor],
                 **kwargs) -> None:
        super().__init__(schema, in_dim, out_dim, self_loop=False, **kwargs)
        self.weights = nn.ModuleDict({group_name(k): nn.Linear(in_dim, out_dim, bias=False) for k in self.groups})
        for t in schema.node_types:
            deg = degrees[t].to(torch.float32) + 1.0
            self.register_buffer(f"inv_sqrt_deg_{t}", deg.rsqrt(), persistent=False)

    def _inv_sqrt_deg(self, ntype: NodeType) -> torch.Tensor:
        return getattr(self, f"inv_sqrt_deg_{ntype}")

    def message(self, key: GroupKey, etypes: Sequence[EdgeType], block: Block, h_src: torch.Tensor,
                h_dst: torch.Tensor) -> torch.Tensor:
        s, _, d = key
        indptr, indices, _ = merged_csr(block, etypes)
        norm_src = self._inv_sqrt_deg(s)[block.src_nodes[s]]
        norm_dst = self._inv_sqrt_deg(d)[block.dst_nodes(d)]
        values = norm_src[indices] * norm_dst[edge_dst(indptr)]
        agg = spmm(indptr, indices, h_src, h_dst.shape[0], values=values, reduce="sum")
        if s == d:
            agg = agg + h_dst * norm_dst.pow(2).unsqueeze(1)  # the self-loop of A + I
        return self.weights[group_name(key)](agg)


@register_encoder("gcn")
def gcn(schema: GraphSchema, hidden: int, num_layers: int, dropout: float = 0.0,
        degrees: Mapping[NodeType, torch.Tensor] | None = None, norm: str | None = None, in_dim: int | None = None,
        out_dim: int | None = None,
        **_) -> nn.Module:
    if degrees is None:
        raise ValueError("the GCN encoder needs whole-graph node degrees")
    return stack(GCNLayer, schema, hidden, num_layers, dropout, degrees=degrees, norm=norm, in_dim=in_dim,
                 out_dim=out_dim)
