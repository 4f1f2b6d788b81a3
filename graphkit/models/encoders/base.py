"""The GNN encoder interface and the shared shape of a heterogeneous layer.

An encoder is a stack of layers; layer ``i`` maps the representations of
``blocks[i].src_nodes`` to those of its dst nodes (the first ``num_dst`` src
nodes of each type). Heterogeneous graphs are handled per *relation group*:
relational encoders (RGCN, RGAT, HGT) keep one group per edge type, while
homogeneous-style encoders (GCN, GAT, SAGE...) merge all edge types between
the same pair of node types into one adjacency — so a single-type graph with
``cites`` and ``cites-rev`` is an ordinary undirected graph to them.

A layer: ``out[d] = sum over groups into d of conv_g(block, h_src, h_dst)``,
then ``+ W_self h_dst`` (self-loop), bias, normalisation, activation, dropout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from graphkit.sampling.base import Block, EdgeType, NodeType

GroupKey = tuple[str, str, str]  # an edge type, or (src type, "*", dst type) for merged groups


@dataclass(frozen=True)
class GraphSchema:
    """What an encoder needs to know about the graph to create its weights."""

    node_types: tuple[NodeType, ...]
    edge_types: tuple[EdgeType, ...]

    def groups(self, merge: bool) -> dict[GroupKey, tuple[EdgeType, ...]]:
        if not merge:
            return {e: (e,) for e in self.edge_types}
        out: dict[GroupKey, list[EdgeType]] = {}
        for e in self.edge_types:
            out.setdefault((e[0], "*", e[2]), []).append(e)
        return {k: tuple(v) for k, v in out.items()}


def group_name(key: GroupKey) -> str:
    """A ModuleDict-safe name for a relation group."""
    return "__".join(key).replace(".", "_")


class HeteroLayer(nn.Module):
    """Base for one message-passing layer; subclasses create ``self.convs`` and implement ``message``."""

    merge_etypes: bool = True  # homogeneous-style by default

    def __init__(self, schema: GraphSchema, in_dim: int, out_dim: int, activation: Optional[Callable] = None,
                 dropout: float = 0.0, self_loop: bool = True, norm: Optional[str] = None, bias: bool = True) -> None:
        super().__init__()
        self.schema = schema
        self.in_dim, self.out_dim = in_dim, out_dim
        self.groups = schema.groups(self.merge_etypes)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)
        self.self_loop = nn.ModuleDict({t: nn.Linear(in_dim, out_dim, bias=False) for t in schema.node_types}) \
            if self_loop else None
        self.bias = nn.ParameterDict({t: nn.Parameter(torch.zeros(out_dim)) for t in schema.node_types}) \
            if bias else None
        if norm not in (None, "batch", "layer"):
            raise ValueError(f"unknown norm '{norm}' (choose batch, layer or none)")
        norm_cls = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}.get(norm or "")
        self.norms = nn.ModuleDict({t: norm_cls(out_dim) for t in schema.node_types}) if norm_cls else None

    def message(self, key: GroupKey, etypes: Sequence[EdgeType], block: Block, h_src: torch.Tensor,
                h_dst: torch.Tensor) -> torch.Tensor:
        """Aggregated messages of one relation group into its dst nodes, ``[num_dst, out_dim]``."""
        raise NotImplementedError

    def forward(self, block: Block, h: dict[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        out: dict[NodeType, torch.Tensor] = {}
        for key, etypes in self.groups.items():
            present = [e for e in etypes if e in block.indptr]
            s, d = key[0], key[2]
            if not present or block.num_dst.get(d, 0) == 0:
                continue
            # A source type with no nodes in this batch still runs its group (e.g. a GAT bias),
            # so a node's output never depends on which other nodes share its batch.
            h_src = h[s] if s in h else h[d].new_zeros(0, h[d].shape[1])
            msg = self.message(key, present, block, h_src, h[d][: block.num_dst[d]])
            out[d] = msg if d not in out else out[d] + msg
        for t, n in block.num_dst.items():
            if n == 0 or t not in h:
                continue
            h_dst = h[t][:n]
            x = out.get(t)
            if self.self_loop is not None:
                loop = self.self_loop[t](h_dst)
                x = loop if x is None else x + loop
            if x is None:
                x = h_dst.new_zeros(n, self.out_dim)
            if self.bias is not None:
                x = x + self.bias[t]
            if self.norms is not None:
                x = self.norms[t](x)
            if self.activation is not None:
                x = self.activation(x)
            out[t] = self.dropout(x)
        return out


class GNNEncoder(nn.Module):
    """A stack of layers over blocks; ``num_layers == 0`` is the no-GNN case (identity)."""

    def __init__(self, layers: Sequence[nn.Module], out_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.out_dim = out_dim

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def forward(self, blocks: Sequence[Block], h: dict[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        if len(blocks) != len(self.layers):
            raise ValueError(f"encoder has {len(self.layers)} layers but got {len(blocks)} blocks")
        for layer, block in zip(self.layers, blocks):
            h = layer(block, h)
        return h

    def layer_forward(self, i: int, block: Block, h: dict[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        """Run only layer ``i`` (layer-wise full-graph inference)."""
        return self.layers[i](block, h)


ENCODERS: dict[str, Callable[..., GNNEncoder]] = {}


def register_encoder(name: str) -> Callable:
    def deco(fn: Callable[..., GNNEncoder]) -> Callable[..., GNNEncoder]:
        ENCODERS[name] = fn
        return fn

    return deco


def stack(layer_cls: Callable[..., nn.Module], schema: GraphSchema, hidden: int, num_layers: int, dropout: float,
          out_dim: Optional[int] = None, last_activation: bool = False, in_dim: Optional[int] = None,
          **kwargs) -> GNNEncoder:
    """``num_layers`` layers of ``layer_cls``: ReLU between layers, none after the last (GraphStorm).

    ``in_dim`` is the first layer's input width when it reads raw features
    (``input_projection: false``); otherwise every layer reads ``hidden``.
    """
    out_dim = out_dim or hidden
    layers = []
    for i in range(num_layers):
        last = i == num_layers - 1
        layers.append(layer_cls(schema, (in_dim or hidden) if i == 0 else hidden, out_dim if last else hidden,
                                activation=None if (last and not last_activation) else torch.relu,
                                dropout=0.0 if last else dropout, **kwargs))
    return GNNEncoder(layers, out_dim)
