"""A graph model: input layer -> GNN encoder -> one decoder per task.

The model only computes; building optimizers, reading data and saving
checkpoints live in :mod:`graphkit.training`.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from graphkit.models.input import InputLayer
from graphkit.sampling.base import NodeType, SampledSubgraph


class GraphModel(nn.Module):
    def __init__(self, input_layer: InputLayer, encoder: nn.Module, decoders: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.input = input_layer
        self.encoder = encoder
        self.decoders = nn.ModuleDict(dict(decoders))

    @property
    def num_layers(self) -> int:
        return int(getattr(self.encoder, "num_layers", 0))

    def embed(self, subgraph: SampledSubgraph, x: Mapping[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        """Representations of the subgraph's seed nodes (in seed order)."""
        h = self.input(subgraph.input_nodes, x)
        return self.encoder(subgraph.blocks, h)

    def dense_parameters(self) -> list[nn.Parameter]:
        sparse = {id(p) for p in self.input.sparse_parameters()}
        return [p for p in self.parameters() if id(p) not in sparse]
