"""Node features of a partitioned graph: local rows read in place, the rest fetched from their owners.

:class:`DistFeatureStore` has :class:`graphkit.loading.features.FeatureStore`'s
interface (``fetch``, ``dim``, ``edge_dims``, ``attach_edge_features``) over
global node IDs. A partition stores the feature rows of its owned *and* halo
nodes (the sources of its nodes' in-edges), so the rows of a batch's
one-hop neighbourhood are mostly local; the others (typically the second hop)
are asked from a rank holding their partition, in one request/response round
per batch covering every node type (IDs out, float32 rows back). Like the
sampler it is a collective: every rank fetches once per batch.

Not on partitions: edge features in message passing, ``construct_feat_ntype``
(a whole-graph neighbour mean) and LM token features; each raises.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import torch

from graphkit.distributed.dist_graph import DistGraph, _unsupported
from graphkit.distributed.partition_book import split_by_rank
from graphkit.errors import GraphkitError
from graphkit.loading.features import FeatureStore
from graphkit.schema.tokens import TOKEN_FEATURES


class DistFeatureStore:
    """Per node type, the named float features concatenated into one float32 row per node, by global ID.

    Args:
        graph: this rank's view of the partitioned graph.
        features: ``{node type: [feature names]}``.
        construct, edge_features: must be empty (not supported on partitions).
    """

    def __init__(self, graph: DistGraph, features: Mapping[str, Sequence[str]], construct: Sequence[str] = (),
                 edge_features: Optional[Mapping[tuple, Sequence[str]]] = None) -> None:
        if construct:
            _unsupported("construct_feat_ntype")
        if edge_features:
            _unsupported("edge features in message passing (edge_feat_name)")
        for t, names in features.items():
            if any(n in TOKEN_FEATURES for n in names):
                _unsupported(f"token features of node type '{t}' (LM inputs)")
            known = graph.meta.node_type(t).features
            for n in names:
                if n not in known:
                    raise GraphkitError(f"node type '{t}' has no feature '{n}'.",
                                        hint=f"Its features: {', '.join(known) or 'none'}.")
        self.graph = graph
        self.features = {t: list(v) for t, v in features.items()}
        self._local = FeatureStore(graph.part, self.features)  # rows by local ID (owned + halo)
        self._types = [t for t in graph.node_types if self.dim(t) > 0]  # the fixed order of every exchange

    @property
    def text_types(self) -> list[str]:
        return []

    def dim(self, ntype: str) -> int:
        return self._local.dim(ntype)

    def edge_dims(self) -> dict[tuple, int]:
        return {}

    def attach_edge_features(self, block) -> None:  # no edge features on partitions
        return None

    def fetch(self, nodes: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{ntype: float32 [len(ids), dim]}`` for the featured types among ``nodes`` (global IDs).

        A collective: every rank calls it once per batch, whatever types its batch has.
        """
        g = self.graph
        w = g.exchange.world_size
        ids = {t: np.asarray(nodes[t].numpy() if isinstance(nodes[t], torch.Tensor) else nodes[t], dtype=np.int64)
               for t in self._types if t in nodes}
        out: dict[str, torch.Tensor] = {}
        remote: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}
        for t, gid in ids.items():
            local = g.to_local(t, gid)
            x = torch.empty(gid.size, self.dim(t), dtype=torch.float32)
            here = local >= 0
            if here.any():
                x[torch.from_numpy(np.flatnonzero(here))] = self._local.fetch({t: torch.from_numpy(local[here])})[t]
            away = np.flatnonzero(~here)
            ranks = g.book.server_ranks(t, gid[away])
            remote[t] = (away, split_by_rank(ranks, w))
            out[t] = x
        if w > 1:
            requests = []
            for r in range(w):
                counts = [remote[t][1][r].size if t in remote else 0 for t in self._types]
                parts = [gid[remote[t][0][remote[t][1][r]]] for t, gid in ids.items()]
                requests.append(torch.from_numpy(np.concatenate([np.array(counts, dtype=np.int64), *parts])))
            answers = g.exchange.request(requests, self._serve, "features")
            for r in range(w):
                start = 0
                for t in self._types:
                    if t not in remote:
                        continue
                    pos = remote[t][0][remote[t][1][r]]
                    n = pos.size * self.dim(t)
                    out[t][torch.from_numpy(pos)] = answers[r][start:start + n].reshape(pos.size, self.dim(t))
                    start += n
        elif any(away.size for away, _ in remote.values()):
            raise GraphkitError("a one-process job was asked for features of nodes outside its partition.")
        return out

    def _serve(self, asker: int, request: torch.Tensor) -> torch.Tensor:
        """Feature rows of owned nodes asked for by ``asker``: ``[counts per type, IDs]`` -> flat float32 rows."""
        q = request.numpy()
        k = len(self._types)
        counts, start, rows = q[:k], k, []
        for t, n in zip(self._types, counts):
            gid = q[start:start + n]
            start += n
            if n:
                local = self.graph.owned_local(t, gid)
                rows.append(self._local.fetch({t: torch.from_numpy(local)})[t].reshape(-1))
        return torch.cat(rows) if rows else torch.zeros(0, dtype=torch.float32)
