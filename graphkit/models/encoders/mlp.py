"""The no-GNN encoder: an MLP on each node's own input representation (no message passing)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from graphkit.models.encoders.base import GraphSchema, register_encoder
from graphkit.sampling.base import Block, NodeType


class MLPEncoder(nn.Module):
    """``num_layers`` x (Linear -> ReLU -> dropout) per node type, shared across types; blocks are ignored."""

    num_layers = 0  # samples no neighbours

    def __init__(self, hidden: int, depth: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
        self.mlp = nn.Sequential(*layers)
        self.out_dim = hidden

    def forward(self, blocks: Sequence[Block], h: dict[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        return {t: self.mlp(x) for t, x in h.items()}


@register_encoder("mlp")
def mlp(schema: GraphSchema, hidden: int, num_layers: int = 1, dropout: float = 0.0, **_) -> nn.Module:
    return MLPEncoder(hidden, num_layers, dropout)
