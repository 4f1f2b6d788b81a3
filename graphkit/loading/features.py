"""Gather node features (and labels) for the nodes of a mini-batch from memory-mapped arrays.

Float features of a node type are concatenated into one matrix per batch. Token features
(GraphStorm's fixed names ``input_ids``, ``attention_mask``, ``token_type_ids``, written by
the ``tokenize_hf`` construction transform) make a node type a *text* type: its batches are
:class:`TextFeatures` (the tokens, plus any float features as ``dense``), which a language
model in the input layer turns into vectors (LM+GNN co-training, docs/lm-cotraining.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import torch

from graphkit.errors import GraphkitError
from graphkit.schema.tokens import TOKEN_FEATURES
from graphkit.storage.graph import Graph


@dataclass
class TextFeatures:
    """The token rows of a batch of text nodes (int tensors ``[n, max_seq_length]``) and their
    float features (``dense``, ``[n, d]``, or None). Moves like a tensor: ``.to(device)``."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: Optional[torch.Tensor] = None
    dense: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "TextFeatures":
        def mv(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return TextFeatures(mv(self.input_ids), mv(self.attention_mask),  # type: ignore[arg-type]
                            mv(self.token_type_ids), mv(self.dense))

    def rows(self, index: torch.Tensor) -> "TextFeatures":
        """The rows ``index`` (positions in this batch)."""
        def take(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None else t[index]

        return TextFeatures(self.input_ids[index], self.attention_mask[index], take(self.token_type_ids),
                            take(self.dense))


NodeFeatures = Union[torch.Tensor, TextFeatures]


class FeatureStore:
    """Per node type, the named features concatenated into one float32 matrix row per node.

    Args:
        graph: the graph whose ``.npy`` features are read (memory-mapped; only
            the requested rows are touched).
        features: ``{node type: [feature names]}``; types not listed have no
            input features (a model gives them learnable embeddings).
        construct: featureless node types that get, instead, the mean of their
            featured in-neighbours' features (GraphStorm's ``construct_feat_ntype``).
        edge_features: ``{edge type: [feature names]}`` used in message passing
            (GraphStorm's ``edge_feat_name``); attached to blocks by ``attach_edge_features``.

    A type whose names include ``input_ids`` is a text type (``text_types``): ``fetch`` returns
    :class:`TextFeatures` for it, and ``dim`` counts its float features only.
    """

    def __init__(self, graph: Graph, features: Mapping[str, Sequence[str]],
                 construct: Sequence[str] = (), edge_features: Optional[Mapping[tuple, Sequence[str]]] = None) -> None:
        self.graph = graph
        self.features: dict[str, list[str]] = {}
        for ntype, names in features.items():
            known = graph.meta.node_type(ntype).features
            for n in names:
                if n not in known:
                    raise GraphkitError(f"node type '{ntype}' has no feature '{n}'.",
                                        hint=f"Its features: {', '.join(known) or 'none'}.")
            self.features[ntype] = list(names)
        self._tokens = {t: {n: np.asarray(graph.node_feature(t, n)) for n in names if n in TOKEN_FEATURES}
                        for t, names in self.features.items() if "input_ids" in names}
        for t, tokens in self._tokens.items():
            if "attention_mask" not in tokens:
                raise GraphkitError(f"node type '{t}' has token feature 'input_ids' but no 'attention_mask'.",
                                    key="node_feat_name", hint="Tokenise text with the tokenize_hf transform, "
                                    "which writes input_ids, attention_mask and token_type_ids.")
        self._arrays = {t: [np.asarray(graph.node_feature(t, n)) for n in names if t not in self._tokens
                            or n not in TOKEN_FEATURES] for t, names in self.features.items()}
        self._edge_arrays: dict[tuple, list[np.ndarray]] = {}
        for e, names in (edge_features or {}).items():
            known = graph.meta.edge_type(e).features
            for n in names:
                if n not in known:
                    raise GraphkitError(f"edge type {','.join(e)} has no feature '{n}'.", key="edge_feat_name",
                                        hint=f"Its features: {', '.join(known) or 'none'}.")
            self._edge_arrays[tuple(e)] = [np.asarray(graph.edge_feature(e, n)) for n in names]
        for t in construct:
            graph.meta.node_type(t)
            if t in self._arrays:
                raise GraphkitError(f"node type '{t}' already has features; construct_feat_ntype is for "
                                    "featureless types.", key="construct_feat_ntype")
            self._arrays[t] = [neighbour_mean(graph, t, self)]

    @property
    def text_types(self) -> list[str]:
        """Node types fetched as :class:`TextFeatures` (those with token features)."""
        return list(self._tokens)

    def seq_length(self, ntype: str) -> int:
        return int(self._tokens[ntype]["input_ids"].shape[1])

    def dim(self, ntype: str) -> int:
        """Width of the float features of ``ntype`` (a text type's tokens not included)."""
        return int(sum(int(np.prod(a.shape[1:])) for a in self._arrays.get(ntype, [])))

    def edge_dims(self) -> dict[tuple, int]:
        return {e: int(sum(int(np.prod(a.shape[1:])) for a in arrays)) for e, arrays in self._edge_arrays.items()}

    def attach_edge_features(self, block) -> None:  # a graphkit.sampling.base.Block
        """Set ``block.edge_feat[etype]`` (float32 rows of the sampled edges) for edge types with features."""
        for e, arrays in self._edge_arrays.items():
            if e in block.eids:
                idx = block.eids[e].numpy()
                parts = [np.take(a, idx, axis=0).reshape(idx.size, -1) for a in arrays]
                x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
                block.edge_feat[e] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    def fetch(self, nodes: Mapping[str, torch.Tensor]) -> dict[str, NodeFeatures]:
        """``{ntype: float32 [len(ids), dim]}`` for the types that have features; :class:`TextFeatures`
        for text types."""
        out: dict[str, NodeFeatures] = {}
        for t, ids in nodes.items():
            idx = ids.numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
            dense = self._dense(t, idx)
            if t in self._tokens:
                tok = {n: torch.from_numpy(np.take(a, idx, axis=0)) for n, a in self._tokens[t].items()}
                out[t] = TextFeatures(tok["input_ids"], tok["attention_mask"], tok.get("token_type_ids"), dense)
            elif dense is not None:
                out[t] = dense
        return out

    def fetch_dense(self, nodes: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Like ``fetch``, float features only (text types without float features are left out)."""
        out = {}
        for t, ids in nodes.items():
            x = self._dense(t, ids.numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids))
            if x is not None:
                out[t] = x
        return out

    def _dense(self, ntype: str, idx: np.ndarray) -> Optional[torch.Tensor]:
        arrays = self._arrays.get(ntype)
        if not arrays:
            return None
        parts = [np.take(a, idx, axis=0).reshape(idx.size, int(np.prod(a.shape[1:]))) for a in arrays]  # 0 rows too
        x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def neighbour_mean(graph: Graph, ntype: str, store: FeatureStore) -> np.ndarray:
    """Per node of ``ntype``: the mean input features of its in-neighbours, per featured source type
    (concatenated in edge-type order; zeros where a node has no such neighbour)."""
    import scipy.sparse as sp

    parts = []
    for e in graph.edge_types:
        s, _, d = e
        if d != ntype or s not in store.features or not store.dim(s):  # a text type's tokens do not count
            continue
        indptr, indices, _ = (np.asarray(a) for a in graph.csc(e))
        adj = sp.csr_matrix((np.ones(indices.size, np.float32), indices, indptr),
                            shape=(graph.num_nodes(d), graph.num_nodes(s)))
        x = store.fetch_dense({s: torch.arange(graph.num_nodes(s))})[s].numpy()
        deg = np.maximum(np.diff(indptr), 1).astype(np.float32)[:, None]
        parts.append(np.asarray(adj @ x) / deg)
    if not parts:
        raise GraphkitError(f"node type '{ntype}' has no featured in-neighbours to construct features from.",
                            key="construct_feat_ntype")
    return np.concatenate(parts, axis=1).astype(np.float32)


def fetch_rows(array: np.ndarray, ids: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Rows ``ids`` of a (memory-mapped) array as a tensor."""
    out = torch.from_numpy(np.take(np.asarray(array), ids.numpy(), axis=0))
    return out if dtype is None else out.to(dtype)
