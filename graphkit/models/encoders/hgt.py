"""HGT (Hu et al., WWW 2020) through PyTorch Geometric's ``HGTConv``, on blocks.

``HGTConv`` works on one node set per type; a block's dst nodes are the first
src nodes of each type, so the layer runs on the src nodes and keeps the
first ``num_dst`` rows. Messages only flow into dst nodes, so the other rows
are never read by later layers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import HGTConv

from graphkit.models.encoders.base import GNNEncoder, GraphSchema, register_encoder
from graphkit.sampling.base import Block, NodeType


class HGTLayer(nn.Module):
    def __init__(self, schema: GraphSchema, in_dim: int, out_dim: int, heads: int = 4, activation=None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = HGTConv(in_dim, out_dim, (list(schema.node_types), list(schema.edge_types)), heads=heads)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)

    def forward(self, block: Block, h: dict[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
        # Every sampled edge type, even without edges in this batch, and an empty input for source
        # types without nodes: HGTConv's output for a node must not depend on the rest of the batch.
        x = next(iter(h.values()))
        h = {t: h[t] if t in h else x.new_zeros(0, x.shape[1]) for t in dict.fromkeys([*h, *block.src_nodes])}
        edges = {e: block.edge_index(e) for e in block.indptr}
        out = self.conv(h, edges) if edges else {}
        res = {}
        for t, n in block.num_dst.items():
            if n == 0 or t not in h:
                continue
            x = out.get(t)
            x = h[t][:n] if x is None else x[:n]
            if self.activation is not None:
                x = self.activation(x)
            res[t] = self.dropout(x)
        return res


@register_encoder("hgt")
def hgt(schema: GraphSchema, hidden: int, num_layers: int, dropout: float = 0.0, num_heads: int = 4, **_) -> nn.Module:
    layers = [HGTLayer(schema, hidden, hidden, heads=num_heads,
                       activation=None if i == num_layers - 1 else torch.relu,
                       dropout=0.0 if i == num_layers - 1 else dropout) for i in range(num_layers)]
    return GNNEncoder(layers, hidden)
