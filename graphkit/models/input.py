"""The input layer: per node type, features projected to the hidden size and/or learnable embeddings.

Node types without features get a learnable embedding per node; it is a
``sparse=True`` embedding so that a sparse optimizer moves only the rows a
mini-batch touched (GraphStorm's ``sparse_optimizer_lr``). With
``use_node_embeddings`` featured types get an embedding too, added to the
projected features.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from graphkit.sampling.base import NodeType


class InputLayer(nn.Module):
    """Args:
        feature_dims: ``{node type: input feature width}`` for the types that have features.
        num_nodes: ``{node type: number of nodes}`` (sizes the embedding tables).
        hidden: output width.
        use_node_embeddings: also give featured node types learnable embeddings (default: False).
        dropout: dropout on the raw input features (before the projection) and on
            embeddings, as GCN/GAT apply it to their inputs (default: 0).
        project: project features to ``hidden`` (default: True). ``False`` passes
            the (dropped-out) raw features to the first GNN layer, as the GCN and
            GAT papers do; every node type then needs features.
    """

    def __init__(self, feature_dims: Mapping[NodeType, int], num_nodes: Mapping[NodeType, int], hidden: int,
                 use_node_embeddings: bool = False, dropout: float = 0.0, project: bool = True) -> None:
        super().__init__()
        self.hidden = hidden
        self.proj = nn.ModuleDict({t: nn.Linear(d, hidden) if project else nn.Identity()
                                   for t, d in feature_dims.items() if d > 0})
        emb_types = [t for t in num_nodes if t not in self.proj or use_node_embeddings]
        self.embeddings = nn.ModuleDict({t: nn.Embedding(num_nodes[t], hidden, sparse=True) for t in emb_types})
        for e in self.embeddings.values():
            nn.init.normal_(e.weight, std=hidden ** -0.5)
        self.dropout = nn.Dropout(dropout)

    def sparse_parameters(self) -> list[nn.Parameter]:
        return [e.weight for e in self.embeddings.values()]

    def forward(self, nodes: Mapping[NodeType, torch.Tensor], x: Mapping[NodeType, torch.Tensor]
                ) -> dict[NodeType, torch.Tensor]:
        """``nodes``: global IDs per type; ``x``: their features (for the types that have them)."""
        out = {}
        for t, ids in nodes.items():
            h = self.proj[t](self.dropout(x[t])) if t in self.proj else None
            if t in self.embeddings:
                e = self.dropout(self.embeddings[t](ids))
                h = e if h is None else h + e
            if h is None:
                raise KeyError(f"node type '{t}' has neither features nor embeddings")
            out[t] = h
        return out
