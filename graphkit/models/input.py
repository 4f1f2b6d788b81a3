"""The input layer: per node type, features projected to the hidden size and/or learnable embeddings.

Node types without features get a learnable embedding per node; it is a
``sparse=True`` embedding so that a sparse optimizer moves only the rows a
mini-batch touched (GraphStorm's ``sparse_optimizer_lr``). With
``use_node_embeddings`` featured types get an embedding too, added to the
projected features.

Text node types (features fetched as :class:`~graphkit.loading.features.TextFeatures`) are
first encoded by their :class:`~graphkit.models.lm_input.LMNodeEncoder`; the pooled LM output,
concatenated with the type's float features if it has any, is then projected like any feature.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

import torch
from torch import nn

from graphkit.distributed.sparse_embedding import DistEmbeddings
from graphkit.loading.features import NodeFeatures, TextFeatures
from graphkit.models.lm_input import LMNodeEncoder
from graphkit.sampling.base import NodeType

# (num_nodes per type, width, init std) -> the tables; e.g. DistGraph.node_embeddings (sharded over ranks)
EmbeddingFactory = Callable[[Mapping[NodeType, int], int, float], nn.ModuleDict]


def node_embedding_tables(num_nodes: Mapping[NodeType, int], dim: int,
                          factory: Optional[EmbeddingFactory] = None) -> nn.ModuleDict:
    """Learnable embeddings ~ N(0, 1/dim), one table per node type: sparse ``nn.Embedding`` tables, or what
    ``factory`` makes — on a partitioned graph, :class:`DistEmbeddings` sharded over the ranks."""
    std = dim ** -0.5
    if factory is not None and num_nodes:
        return factory(num_nodes, dim, std)
    tables = nn.ModuleDict({t: nn.Embedding(n, dim, sparse=True) for t, n in num_nodes.items()})
    for e in tables.values():
        nn.init.normal_(e.weight, std=std)
    return tables


def lookup_embeddings(tables: nn.ModuleDict, nodes: Mapping[NodeType, torch.Tensor]) -> dict[NodeType, torch.Tensor]:
    """The rows of ``nodes`` in the tables of their types (sharded tables: one collective for all types)."""
    if isinstance(tables, DistEmbeddings):
        return tables(nodes)
    return {t: tables[t](ids) for t, ids in nodes.items() if t in tables}


class InputLayer(nn.Module):
    """Args:
        feature_dims: ``{node type: input feature width}`` for the types that have features; for a
            text type, its LM's output width plus the width of its float features.
        num_nodes: ``{node type: number of nodes}`` (sizes the embedding tables).
        hidden: output width.
        use_node_embeddings: also give featured node types learnable embeddings (default: False).
        dropout: dropout on the raw input features (before the projection) and on
            embeddings, as GCN/GAT apply it to their inputs (default: 0).
        project: project features to ``hidden`` (default: True). ``False`` passes
            the (dropped-out) raw features to the first GNN layer, as the GCN and
            GAT papers do; every node type then needs features.
        lm_encoders: language models of the text node types, one per ``node_lm_configs``
            entry (default: none).
        embedding_factory: makes the embedding tables (default: sparse ``nn.Embedding``;
            see :func:`node_embedding_tables`).
    """

    def __init__(self, feature_dims: Mapping[NodeType, int], num_nodes: Mapping[NodeType, int], hidden: int,
                 use_node_embeddings: bool = False, dropout: float = 0.0, project: bool = True,
                 lm_encoders: Sequence[LMNodeEncoder] = (),
                 embedding_factory: Optional[EmbeddingFactory] = None) -> None:
        super().__init__()
        self.hidden = hidden
        self.lm = nn.ModuleList(lm_encoders)
        for enc in self.lm:
            for t in enc.node_types:
                if feature_dims.get(t, 0) < enc.out_dim:
                    raise ValueError(f"feature_dims['{t}'] must include the LM's output width {enc.out_dim}")
        self.proj = nn.ModuleDict({t: nn.Linear(d, hidden) if project else nn.Identity()
                                   for t, d in feature_dims.items() if d > 0})
        emb_types = [t for t in num_nodes if t not in self.proj or use_node_embeddings]
        self.embeddings = node_embedding_tables({t: num_nodes[t] for t in emb_types}, hidden, embedding_factory)
        self.dropout = nn.Dropout(dropout)

    def sparse_parameters(self) -> list[nn.Parameter]:
        """The ``nn.Embedding`` tables' weights (sharded tables have none: they update themselves)."""
        return [e.weight for e in self.embeddings.values() if isinstance(e, nn.Embedding)]

    def lm_parameters(self) -> list[nn.Parameter]:
        """The language models' weights (their own learning rate, ``lm_tune_lr``)."""
        return [p for enc in self.lm for p in enc.lm.parameters()]

    def forward(self, nodes: Mapping[NodeType, torch.Tensor], x: Mapping[NodeType, NodeFeatures]
                ) -> dict[NodeType, torch.Tensor]:
        """``nodes``: global IDs per type; ``x``: their features (for the types that have them)."""
        x = self._encode_text(nodes, x) if len(self.lm) else x
        out = {}
        emb = lookup_embeddings(self.embeddings, nodes)
        for t, ids in nodes.items():
            h = self.proj[t](self.dropout(x[t])) if t in self.proj else None
            if t in emb:
                e = self.dropout(emb[t])
                h = e if h is None else h + e
            if h is None:
                raise KeyError(f"node type '{t}' has neither features nor embeddings")
            out[t] = h
        return out

    def _encode_text(self, nodes: Mapping[NodeType, torch.Tensor], x: Mapping[NodeType, NodeFeatures]
                     ) -> dict[NodeType, torch.Tensor]:
        """``x`` with every text type's :class:`TextFeatures` replaced by [LM embedding, float features]."""
        out = dict(x)
        for enc in self.lm:
            texts = {}
            for t in enc.node_types:
                if t in nodes:
                    v = x.get(t)
                    if not isinstance(v, TextFeatures):
                        raise TypeError(f"node type '{t}' has a language model but its features are not tokens")
                    texts[t] = v
            if not texts:
                continue
            for t, e in enc({t: nodes[t] for t in texts}, texts).items():
                dense = texts[t].dense
                out[t] = e if dense is None else torch.cat([e, dense.to(e.device)], dim=1)
        return out  # type: ignore[return-value]
