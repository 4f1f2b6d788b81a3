"""Attention layers from PyTorch Geometric on blocks: GAT, GATv2 and relational GAT.

- GAT (Velickovic et al., ICLR 2018) and GATv2 (Brody et al., ICLR 2022):
  edge types between two node types are merged; self-loops are added inside
  the attention (the dst nodes are the first src nodes of a block, so PyG's
  bipartite self-loops ``i -> i`` are exactly the node itself).
- RGAT (GraphStorm's ``rgat``): one GAT per edge type, summed, plus a
  separate self-loop weight.
Heads are concatenated: ``out_dim = heads * (out_dim // heads)``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch_geometric.nn import GATConv, GATv2Conv

from graphkit.models.aggregate import merged_csr
from graphkit.models.encoders.base import GraphSchema, GroupKey, HeteroLayer, group_name, register_encoder, stack
from graphkit.sampling.base import Block, EdgeType


class GATLayer(HeteroLayer):
    """Multi-head graph attention over merged edge types (PyG ``GATConv``/``GATv2Conv``)."""

    conv_cls: type = GATConv
    add_self_loops = True

    def __init__(self, schema: GraphSchema, in_dim: int, out_dim: int, heads: int = 4, attn_dropout: float = 0.0,
                 **kwargs) -> None:
        if out_dim % heads and out_dim < heads:
            # an output layer narrower than the heads (e.g. 7 classes): one head, as the GAT paper's Cora model
            heads = 1
        if out_dim % heads:
            raise ValueError(f"hidden size {out_dim} is not divisible by {heads} attention heads")
        kwargs.setdefault("self_loop", not self.add_self_loops)
        super().__init__(schema, in_dim, out_dim, bias=False, **kwargs)
        self.convs = nn.ModuleDict({
            group_name(k): self.conv_cls((in_dim, in_dim), out_dim // heads, heads=heads, dropout=attn_dropout,
                                         add_self_loops=self.add_self_loops and k[0] == k[2])
            for k in self.groups})

    def message(self, key: GroupKey, etypes: Sequence[EdgeType], block: Block, h_src: torch.Tensor,
                h_dst: torch.Tensor) -> torch.Tensor:
        indptr, indices, _ = merged_csr(block, etypes)
        dst = torch.repeat_interleave(torch.arange(indptr.numel() - 1, device=indices.device), indptr.diff())
        return self.convs[group_name(key)]((h_src, h_dst), torch.stack([indices, dst]))


class GATv2Layer(GATLayer):
    conv_cls = GATv2Conv


class RGATLayer(GATLayer):
    """One attention module per edge type, summed; self-loops through a separate weight."""

    merge_etypes = False
    add_self_loops = False


def _attention_encoder(layer_cls: type, schema: GraphSchema, hidden: int, num_layers: int, dropout: float,
                       num_heads: int = 4, attn_dropout: float = 0.0, norm: str | None = None,
                       in_dim: int | None = None, out_dim: int | None = None) -> nn.Module:
    return stack(layer_cls, schema, hidden, num_layers, dropout, heads=num_heads, attn_dropout=attn_dropout,
                 norm=norm, in_dim=in_dim, out_dim=out_dim)


@register_encoder("gat")
def gat(schema: GraphSchema, hidden: int, num_layers: int, dropout: float = 0.0, num_heads: int = 4,
        attn_dropout: float = 0.0, norm: str | None = None, in_dim: int | None = None, out_dim: int | None = None,
        **_) -> nn.Module:
    return _attention_encoder(GATLayer, schema, hidden, num_layers, dropout, num_heads, attn_dropout, norm,
                              in_dim, out_dim)


@register_encoder("gatv2")
def gatv2(schema: GraphSchema, hidden: int, num_layers: int, dropout: float = 0.0, num_heads: int = 4,
          attn_dropout: float = 0.0, norm: str | None = None, in_dim: int | None = None, out_dim: int | None = None,
        **_) -> nn.Module:
    return _attention_encoder(GATv2Layer, schema, hidden, num_layers, dropout, num_heads, attn_dropout, norm,
                              in_dim, out_dim)


@register_encoder("rgat")
def rgat(schema: GraphSchema, hidden: int, num_layers: int, dropout: float = 0.0, num_heads: int = 4,
         attn_dropout: float = 0.0, norm: str | None = None, in_dim: int | None = None, out_dim: int | None = None,
        **_) -> nn.Module:
    return _attention_encoder(RGATLayer, schema, hidden, num_layers, dropout, num_heads, attn_dropout, norm,
                              in_dim, out_dim)
