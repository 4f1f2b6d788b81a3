"""Gather node features (and labels) for the nodes of a mini-batch from memory-mapped arrays."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import torch

from graphkit.errors import GraphkitError
from graphkit.storage.graph import Graph


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
        self._arrays = {t: [np.asarray(graph.node_feature(t, n)) for n in names] for t, names in self.features.items()}
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

    def dim(self, ntype: str) -> int:
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

    def fetch(self, nodes: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{ntype: float32 [len(ids), dim]}`` for the types that have features."""
        out = {}
        for t, ids in nodes.items():
            arrays = self._arrays.get(t)
            if not arrays:
                continue
            idx = ids.numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
            parts = [np.take(a, idx, axis=0).reshape(idx.size, int(np.prod(a.shape[1:]))) for a in arrays]  # 0 rows too
            x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            out[t] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return out


def neighbour_mean(graph: Graph, ntype: str, store: FeatureStore) -> np.ndarray:
    """Per node of ``ntype``: the mean input features of its in-neighbours, per featured source type
    (concatenated in edge-type order; zeros where a node has no such neighbour)."""
    import scipy.sparse as sp

    parts = []
    for e in graph.edge_types:
        s, _, d = e
        if d != ntype or s not in store.features:
            continue
        indptr, indices, _ = (np.asarray(a) for a in graph.csc(e))
        adj = sp.csr_matrix((np.ones(indices.size, np.float32), indices, indptr),
                            shape=(graph.num_nodes(d), graph.num_nodes(s)))
        x = store.fetch({s: torch.arange(graph.num_nodes(s))})[s].numpy()
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
