"""RGCN (Schlichtkrull et al., 2018) and GraphSAGE-mean (Hamilton et al., 2017) layers.

RGCN: ``h_v' = W_0 h_v + sum_r mean_{u in N_r(v)} W_r h_u`` — one weight per
edge type (optionally a basis decomposition ``W_r = sum_b a_rb V_b``).
GraphSAGE: the same update with all edge types between two node types merged
into one neighbourhood: ``h_v' = W_self h_v + W_neigh mean_{u in N(v)} h_u``.
Aggregation runs as a sparse CSR product (see :mod:`graphkit.models.aggregate`).
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from graphkit.models.aggregate import merged_csr, spmm
from graphkit.models.encoders.base import GraphSchema, GroupKey, HeteroLayer, group_name, register_encoder, stack
from graphkit.sampling.base import Block, EdgeType


class RGCNLayer(HeteroLayer):
    """One relational graph convolution.

    Args:
        num_bases: number of shared bases for the relation weights; ``-1``
            (default) gives every relation its own full matrix.
    """

    merge_etypes = False

    def __init__(self, schema: GraphSchema, in_dim: int, out_dim: int, num_bases: int = -1,
                 edge_feat_dims: Optional[Mapping[EdgeType, int]] = None, edge_feat_mp_op: str = "concat",
                 **kwargs) -> None:
        super().__init__(schema, in_dim, out_dim, **kwargs)
        names = [group_name(k) for k in self.groups]
        # Edge features in messages (GraphStorm's edge_feat_mp_op): m_uv = h_u (+) W_e e_uv, averaged over
        # neighbours; "concat" doubles the relation weight's input, "add" keeps it.
        if edge_feat_mp_op not in ("concat", "add"):
            raise ValueError(f"edge_feat_mp_op must be concat or add, got '{edge_feat_mp_op}'")
        self.edge_feat_mp_op = edge_feat_mp_op
        self.edge_proj = nn.ModuleDict({group_name(k): nn.Linear(d, in_dim) for k, d in (edge_feat_dims or {}).items()
                                        if tuple(k) in self.groups})
        if self.edge_proj and num_bases > 0:
            raise ValueError("edge features in message passing do not combine with num_bases")
        if self.edge_proj and edge_feat_mp_op == "concat":
            in_dim = 2 * in_dim  # for the relation weights of edge types with features
        self.num_bases = num_bases if 0 < num_bases < len(names) else -1
        if self.num_bases > 0:
            self.bases = nn.Parameter(torch.empty(self.num_bases, in_dim, out_dim))
            self.coeff = nn.ParameterDict({n: nn.Parameter(torch.empty(self.num_bases)) for n in names})
            nn.init.xavier_uniform_(self.bases)
            for p in self.coeff.values():
                nn.init.uniform_(p, -1.0, 1.0)
        else:
            self.weights = nn.ModuleDict({n: nn.Linear(in_dim if n in self.edge_proj else self.in_dim, out_dim,
                                                       bias=False) for n in names})

    def _transform(self, key: GroupKey, x: torch.Tensor) -> torch.Tensor:
        name = group_name(key)
        if self.num_bases > 0:
            return x @ torch.einsum("b,bio->io", self.coeff[name], self.bases)
        return self.weights[name](x)

    def message(self, key: GroupKey, etypes: Sequence[EdgeType], block: Block, h_src: torch.Tensor,
                h_dst: torch.Tensor) -> torch.Tensor:
        indptr, indices, _ = merged_csr(block, etypes)
        name = group_name(key)
        if name in self.edge_proj:
            agg = spmm(indptr, indices, h_src, h_dst.shape[0], reduce="mean")
            e = self.edge_proj[name](block.edge_feat[key])  # rows in the block's edge order (one etype per group)
            agg_e = spmm(indptr, torch.arange(e.shape[0], device=e.device), e, h_dst.shape[0], reduce="mean")
            return self._transform(key, torch.cat([agg, agg_e], 1) if self.edge_feat_mp_op == "concat" else agg + agg_e)
        if key in block.history_agg:
            # Control variate (Chen et al., 2018): full-neighbourhood mean of histories + sampled mean of the change.
            delta = h_src - block.history_src[key[0]]
            agg = block.history_agg[key] + spmm(indptr, indices, delta, h_dst.shape[0], reduce="mean")
            return self._transform(key, agg)
        return self._transform(key, spmm(indptr, indices, h_src, h_dst.shape[0], reduce="mean"))


class SAGELayer(RGCNLayer):
    """GraphSAGE with the mean aggregator; edge types between two node types share a neighbourhood."""

    merge_etypes = True


@register_encoder("rgcn")
def rgcn(schema: GraphSchema, hidden: int, num_layers: int, dropout: float = 0.0, num_bases: int = -1,
         use_self_loop: bool = True, norm: str | None = None, in_dim: int | None = None, out_dim: int | None = None,
         edge_feat_dims: Optional[Mapping[EdgeType, int]] = None, edge_feat_mp_op: str = "concat",
         **_) -> "nn.Module":
    return stack(RGCNLayer, schema, hidden, num_layers, dropout, num_bases=num_bases, self_loop=use_self_loop,
                 norm=norm, in_dim=in_dim, out_dim=out_dim, edge_feat_dims=edge_feat_dims,
                 edge_feat_mp_op=edge_feat_mp_op)


@register_encoder("sage")
def sage(schema: GraphSchema, hidden: int, num_layers: int, dropout: float = 0.0, norm: str | None = None,
         in_dim: int | None = None, out_dim: int | None = None, **_) -> "nn.Module":
    return stack(SAGELayer, schema, hidden, num_layers, dropout, self_loop=True, norm=norm, in_dim=in_dim,
                 out_dim=out_dim)
