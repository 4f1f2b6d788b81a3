r"""A user-defined GNN encoder and node decoder, trained and served by graphkit's own trainer and inference.

    python examples/custom_encoder.py --output-dir out/custom_encoder

Generates the demo shop graph (``graphkit demo``'s tables), classifies its
products with ``model_encoder_type: mean_gin`` and ``decoder_type:
prototype`` — both defined and registered below — then writes embeddings and
predictions keyed by the original IDs. See ``docs/custom-models.md``.

``MeanGIN`` is a GIN-style layer (Xu et al., ICLR 2019) with a mean aggregator
summed over the edge types into a node type, and an MLP per node type:

.. math::
    \mathbf{h}_v' = \mathrm{MLP}_{t(v)}\Big((1 + \epsilon)\, \mathbf{h}_v
        + \sum_{r} \operatorname{mean}_{u \in N_r(v)} \mathbf{h}_u\Big)
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from graphkit.models.aggregate import spmm
from graphkit.models.decoders import register_node_decoder
from graphkit.models.encoders import GraphSchema, register_encoder
from graphkit.sampling.base import Block, NodeType


class MeanGINLayer(nn.Module):
    """One layer: ``MLP_t((1 + eps_t) h_v + sum_r mean_{u in N_r(v)} h_u)`` for every dst type ``t``."""

    def __init__(self, node_types: Sequence[NodeType], in_dim: int, out_dim: int, activation: bool,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.eps = nn.ParameterDict({t: nn.Parameter(torch.zeros(1)) for t in node_types})
        self.mlp = nn.ModuleDict({t: nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, out_dim))
                                  for t in node_types})
        self.activation = activation
        self.dropout = nn.Dropout(dropout)

    def forward(self, block: Block, h: dict[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        # The dst nodes of type t are the first block.num_dst[t] rows of h[t].
        agg: dict[NodeType, torch.Tensor] = {}
        for etype in block.edge_types:
            src, _, dst = etype
            n = block.num_dst.get(dst, 0)
            if n == 0 or src not in h:
                continue  # no source rows: the mean of nothing is 0 anyway
            m = spmm(block.indptr[etype], block.indices[etype], h[src], n, reduce="mean")
            agg[dst] = m if dst not in agg else agg[dst] + m
        out = {}
        for t, n in block.num_dst.items():
            if n == 0 or t not in h:
                continue
            x = (1 + self.eps[t]) * h[t][:n]
            if t in agg:
                x = x + agg[t]
            x = self.mlp[t](x)
            out[t] = self.dropout(F.relu(x)) if self.activation else x
        return out


class MeanGIN(nn.Module):
    """The encoder contract: ``num_layers``, ``out_dim``, ``forward(blocks, h)`` and, for
    layer-wise inference, ``layer_forward(i, block, h)``."""

    def __init__(self, node_types: Sequence[NodeType], hidden: int, num_layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.layers = nn.ModuleList([MeanGINLayer(node_types, hidden, hidden, activation=i < num_layers - 1,
                                                  dropout=dropout) for i in range(num_layers)])
        self.num_layers = num_layers
        self.out_dim = hidden

    def forward(self, blocks: Sequence[Block], h: dict[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        if len(blocks) != self.num_layers:
            raise ValueError(f"MeanGIN has {self.num_layers} layers but got {len(blocks)} blocks (check the fanout)")
        for i, block in enumerate(blocks):
            h = self.layer_forward(i, block, h)
        return h

    def layer_forward(self, i: int, block: Block, h: dict[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        return self.layers[i](block, h)


@register_encoder("mean_gin")
def mean_gin(schema: GraphSchema, hidden: int, num_layers: int, dropout: float = 0.0, **_) -> nn.Module:
    """``model_encoder_type: mean_gin``; other options of the YAML (num_heads, ...) arrive in ``**_``."""
    return MeanGIN(schema.node_types, hidden, num_layers, dropout)


@register_node_decoder("prototype")
class PrototypeDecoder(nn.Module):
    r"""Scaled cosine similarity to one learnable prototype per class:
    :math:`y_{ic} = s \cdot \cos(\mathbf{h}_i, \mathbf{p}_c)`."""

    def __init__(self, in_dim: int, out_dim: int, scale: float = 10.0) -> None:
        super().__init__()
        self.prototypes = nn.Parameter(torch.randn(out_dim, in_dim) * in_dim ** -0.5)
        self.scale = scale

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(h, dim=-1) @ F.normalize(self.prototypes, dim=-1).T


def main(argv: Optional[Sequence[str]] = None) -> dict:
    from graphkit.construct.construct import construct_graph
    from graphkit.datasets.synthetic import ShopSizes, write_shop_dataset, write_shop_train_config
    from graphkit.inference.run import run_inference
    from graphkit.storage.graph import Graph
    from graphkit.training.config import load_train_config
    from graphkit.training.trainer import Trainer

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", default="out/custom_encoder")
    p.add_argument("--num-epochs", type=int, default=10)
    p.add_argument("--small", action="store_true", help="A 10x smaller shop graph (a quick check).")
    args = p.parse_args(argv)

    out = args.output_dir
    sizes = ShopSizes(customers=200, products=100, categories=10, purchases=2000) if args.small else ShopSizes()
    conf = write_shop_dataset(os.path.join(out, "tables"), sizes)
    graph = Graph(os.path.join(out, "graph"), construct_graph(conf, os.path.join(out, "graph"), "shop",
                                                              add_reverse_edges=True))
    # The demo's YAML, with the custom encoder and decoder picked by name like built-in ones.
    cfg = load_train_config(write_shop_train_config(os.path.join(out, "tables", "train_nc.yaml")),
                            {"model_encoder_type": "mean_gin", "decoder_type": "prototype",
                             "num_epochs": args.num_epochs})
    model_dir = os.path.join(out, "model")
    metrics = Trainer(graph, cfg, model_dir).fit()
    print(f"test {json.dumps(metrics['test'])} at best epoch {metrics['best_epoch']}; model in {model_dir}")
    # Layer-wise inference through MeanGIN.layer_forward; predictions by raw product ID.
    res = run_inference(graph, model_dir, os.path.join(out, "embeddings"), os.path.join(out, "predictions"))
    print(f"predictions: {res.predictions[cfg.tasks[0].name]}; embeddings: {os.path.join(out, 'embeddings')}")
    return metrics


if __name__ == "__main__":
    main()
