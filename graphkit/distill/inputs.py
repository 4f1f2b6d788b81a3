"""What a student reads for a batch of nodes: the node's own features (MLP) or its tokens (LM).

Nothing here touches edges: a student's input is a row of the node's own
arrays, so it works for a node with no neighbours, or a graph with no edges.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

from graphkit.distill.students import Inputs
from graphkit.errors import GraphkitError
from graphkit.loading.features import FeatureStore
from graphkit.schema.tokens import TOKEN_FEATURES
from graphkit.storage.graph import Graph


def mlp_features(graph: Graph, ntype: str, teacher_features: Mapping[str, Sequence[str]]) -> list[str]:
    """The float input features the teacher read for ``ntype`` (an MLP student reads the same ones)."""
    graph.meta.node_type(ntype)  # unknown type -> a clear error
    names = [n for n in teacher_features.get(ntype, []) if n not in TOKEN_FEATURES]  # tokens: an LM's input
    if not names:
        featured = ", ".join(t for t, v in teacher_features.items() if set(v) - set(TOKEN_FEATURES)) or "none"
        raise GraphkitError(f"node type '{ntype}' has no float input features in the teacher (node_feat_name); an "
                            "MLP student learns from a node's own features.", key="--ntype",
                            hint=f"Node types with features: {featured}. A type with text tokens can have an LM "
                                 "student (--student lm).")
    return names


def token_features(graph: Graph, ntype: str) -> list[str]:
    """``input_ids``, ``attention_mask`` (and ``token_type_ids`` when present) of ``ntype``."""
    known = graph.meta.node_type(ntype).features
    missing = [n for n in TOKEN_FEATURES[:2] if n not in known]
    if missing:
        typed = [t for t, m in graph.meta.node_types.items() if all(n in m.features for n in TOKEN_FEATURES[:2])]
        raise GraphkitError(f"node type '{ntype}' has no token features ({', '.join(missing)} missing); an LM "
                            "student reads a node's text tokens.", key="--ntype",
                            hint="Tokenise its text with the tokenize_hf transform when constructing the graph, or "
                                 f"use --student mlp. Node types with tokens: {', '.join(typed) or 'none'}.")
    return [n for n in TOKEN_FEATURES if n in known]


class StudentInputs:
    """Rows of one node type's student inputs (memory-mapped; only the requested rows are read).

    Args:
        graph: the graph holding the node arrays.
        kind: ``mlp`` (float features concatenated as in training) or ``lm`` (token arrays).
        ntype: the node type.
        features: the feature names (``TypeSpec.features``).
    """

    def __init__(self, graph: Graph, kind: str, ntype: str, features: Sequence[str]) -> None:
        self.kind, self.ntype, self.features = kind, ntype, list(features)
        self.num_nodes = graph.num_nodes(ntype)
        if kind == "mlp":
            self.store = FeatureStore(graph, {ntype: list(features)})
        else:
            known = graph.meta.node_type(ntype).features
            for n in features:
                if n not in known:
                    raise GraphkitError(f"node type '{ntype}' has no feature '{n}' that the student reads.",
                                        hint=f"Its features: {', '.join(known) or 'none'}.")
            self.tokens = {n: np.asarray(graph.node_feature(ntype, n)) for n in features}

    @property
    def dim(self) -> int:
        return self.store.dim(self.ntype) if self.kind == "mlp" else 0

    def fetch(self, ids: np.ndarray) -> Inputs:
        if self.kind == "mlp":
            return self.store.fetch({self.ntype: torch.from_numpy(np.asarray(ids, dtype=np.int64))})[self.ntype]
        return {n: torch.from_numpy(np.ascontiguousarray(np.take(a, ids, axis=0), dtype=np.int64))
                for n, a in self.tokens.items()}
