"""Neighbour sampling on a partitioned graph: owners sample their nodes' in-edges.

``DistNeighborSampler(dist_graph, "10,10").sample_from_nodes({"item": ids}, seed=3)``
returns the same :class:`SampledSubgraph` as
:class:`graphkit.sampling.neighbor.NeighborSampler` on the whole graph: blocks
in global node IDs, local source positions, global edge IDs.

Every edge belongs to the partition owning its destination, so a node's whole
in-neighbourhood is in its owner's partition. Per layer, the dst nodes this
rank's partition owns are sampled from its local CSC with the same numba
kernel; the others are sent to a rank holding their partition, which samples
and answers with, per dst node, its sampled in-degree, source global IDs and
global edge IDs. That is one request/response round per layer
(:meth:`graphkit.distributed.exchange.Exchange.request`), made by every rank
for every layer of every batch, also when it asks for nothing (lockstep).

Request to a rank: ``[seed, K, fanout of each of the K edge types, T, count of
each of the T node types, dst IDs by node type]`` (int64); each dst node is sent
once, whatever the number of edge types into its type. Answer: per edge type
with a non-zero fanout, for the requested nodes of its dst type, ``[degrees,
sources, edge IDs]``.

Determinism: a dst node's draw depends on the batch seed, the layer, the edge
type and the node (its ID in the owner's partition), not on who asks or the
batch's other nodes. In-edges of each dst node are listed by increasing global
edge ID, so with fanout -1 blocks equal the single-process sampler's exactly;
with a finite fanout the draws are uniform without replacement but not the same
draws as on the whole graph (the kernel hashes local IDs).

Relabelling uses ``np.unique`` instead of the single-process sampler's
global-sized scratch arrays, so per-batch memory does not grow with the graph.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numba
import numpy as np
import torch

from graphkit.distributed.dist_graph import DistGraph, _unsupported
from graphkit.distributed.partition_book import split_by_rank
from graphkit.sampling import kernels
from graphkit.sampling.base import Block, EdgeType, NodeType, SampledSubgraph
from graphkit.sampling.fanout import FanoutSpec, parse_fanout
from graphkit.sampling.neighbor import assemble_block, mix_seed

_EMPTY_I64 = np.zeros(0, dtype=np.int64)
_EMPTY_U8 = np.zeros(0, dtype=np.uint8)


def relabel(dst_nodes: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local IDs for sampled sources: ``dst_nodes`` (distinct) keep positions 0..n-1, new nodes follow in
    order of first appearance. Returns (all local nodes as global IDs, local ID of each ``src``); the same
    result as :func:`graphkit.sampling.kernels.relabel`, in O(batch log batch) memory-free of the graph size."""
    both = np.concatenate([dst_nodes, src])
    if both.size == 0:
        return _EMPTY_I64.copy(), _EMPTY_I64.copy()
    uniq, first, inverse = np.unique(both, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return uniq[order], position[inverse][dst_nodes.size:]


class DistNeighborSampler:
    """:class:`graphkit.sampling.neighbor.NeighborSampler` on a :class:`DistGraph`.

    Args:
        graph: this rank's view of the partitioned graph.
        fanouts: per-layer fanouts, input layer first (:mod:`graphkit.sampling.fanout`).
        edge_types: edge types to message-pass along (default: all).
        reverse_types: accepted for compatibility; only exclusions use it.
        static_exclude: not supported on partitions (link prediction).
    """

    def __init__(self, graph: DistGraph, fanouts: FanoutSpec, edge_types: Optional[Sequence[EdgeType]] = None,
                 reverse_types: Optional[Mapping[EdgeType, EdgeType]] = None,
                 static_exclude: Optional[Mapping[EdgeType, np.ndarray]] = None) -> None:
        if static_exclude:
            _unsupported("excluding edges from message passing (link prediction)")
        self.graph = graph
        self.edge_types: list[EdgeType] = list(edge_types) if edge_types is not None else graph.edge_types
        self.fanouts = [] if (isinstance(fanouts, (list, tuple)) and len(fanouts) == 0) \
            else parse_fanout(fanouts, self.edge_types)
        self.num_layers = len(self.fanouts)
        self._csc = {e: tuple(np.asarray(a) for a in graph.part.csc(e)) for e in self.edge_types}
        self._eid_l2g = {e: graph.edge_local_to_global(e) for e in self.edge_types}

    # --- sampling ------------------------------------------------------------------
    def sample_from_nodes(self, seeds: Mapping[NodeType, np.ndarray | torch.Tensor], seed: int = 0,
                          exclude_eids: Optional[Mapping[EdgeType, np.ndarray]] = None) -> SampledSubgraph:
        """Blocks whose last layer outputs ``seeds`` (global IDs, distinct per type, order kept).

        A collective: every rank calls it for every batch (one exchange round per layer).
        """
        if exclude_eids:
            _unsupported("excluding a batch's target edges (edge tasks, link prediction)")
        dst = {t: np.ascontiguousarray(np.asarray(v), dtype=np.int64) for t, v in seeds.items()}
        blocks = []
        for layer in range(self.num_layers - 1, -1, -1):
            block = self._sample_layer(dst, self.fanouts[layer], mix_seed(seed, layer))
            blocks.append(block)
            dst = {t: v.numpy() for t, v in block.src_nodes.items()}
        blocks.reverse()
        return SampledSubgraph(blocks, {t: torch.from_numpy(np.ascontiguousarray(np.asarray(v), dtype=np.int64))
                                        for t, v in seeds.items()})

    def _sample_layer(self, dst: dict[NodeType, np.ndarray], fanout: dict[EdgeType, int],
                      layer_seed: np.uint64) -> Block:
        g = self.graph
        w, me = g.exchange.world_size, g.exchange.rank
        fan = np.array([fanout[e] for e in self.edge_types], dtype=np.int64)
        ntypes = g.node_types
        # Which dst nodes go to which rank (this rank's own are sampled locally: they are never sent).
        wanted = {e[2] for e, f in zip(self.edge_types, fan) if f != 0 and e[2] in dst and dst[e[2]].size}
        groups: dict[NodeType, list[np.ndarray]] = {}
        for t in wanted:
            ranks = g.book.server_ranks(t, dst[t])
            owned = g.book.part_of(t, dst[t]) == g.layout.part_id
            ranks[owned] = me
            groups[t] = split_by_rank(ranks, w)
        seed_word = int(np.array(layer_seed, dtype=np.uint64).view(np.int64))
        requests = []
        for r in range(w):
            counts = [groups[t][r].size if (t in groups and r != me) else 0 for t in ntypes]
            ids = [dst[t][groups[t][r]] for t in ntypes if t in groups and r != me]
            head = [seed_word, len(fan), *fan.tolist(), len(ntypes), *counts]
            requests.append(torch.from_numpy(np.concatenate([np.array(head, dtype=np.int64), *ids])))
        answers = g.exchange.request(requests, self._serve, "sample") if w > 1 else [torch.zeros(0, dtype=torch.int64)]

        sampled: dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        cursors = [0] * w
        for i, e in enumerate(self.edge_types):
            d = e[2]
            if fan[i] == 0 or d not in groups:
                continue
            parts = []  # (dst positions, degrees, sources, edge IDs) per serving rank
            for r in range(w):
                pos = groups[d][r]
                if r == me:
                    parts.append((pos, *self._sample_owned(i, int(fan[i]), dst[d][pos], layer_seed)))
                    continue
                a = answers[r].numpy()
                n, c = pos.size, cursors[r]
                deg = a[c:c + n]
                m = int(deg.sum())
                parts.append((pos, deg, a[c + n:c + n + m], a[c + n + m:c + n + 2 * m]))
                cursors[r] = c + n + 2 * m
            sampled[e] = _merge(dst[d].size, parts)
        return _block(dst, sampled)

    def _sample_owned(self, i: int, fanout: int, gids: np.ndarray, layer_seed: np.uint64
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """In-edges of owned nodes ``gids`` along edge type ``i``: (degrees, source global IDs, global edge IDs)."""
        e = self.edge_types[i]
        if gids.size == 0:
            return _EMPTY_I64, _EMPTY_I64, _EMPTY_I64
        local = self.graph.owned_local(e[2], gids)
        indptr, indices, eids = self._csc[e]
        kernel = kernels.sample_in_neighbors if numba.get_num_threads() > 1 else \
            getattr(kernels, "sample_in_neighbors_serial", kernels.sample_in_neighbors)
        ptr, src, eid = kernel(indptr, indices, eids, local, fanout, mix_seed(int(layer_seed), i), _EMPTY_U8)
        return np.diff(ptr), self.graph.local_to_global[e[0]][src], self._eid_l2g[e][eid]

    def _serve(self, asker: int, request: torch.Tensor) -> torch.Tensor:
        """Sample the in-edges asked for by rank ``asker`` (see the module docstring for the format)."""
        q = request.numpy()
        seed = np.array(q[0], dtype=np.int64).view(np.uint64)[()]
        k = int(q[1])
        fan = q[2:2 + k]
        if k != len(self.edge_types):
            raise ValueError(f"rank {asker} samples {k} edge types, this rank {len(self.edge_types)}")
        ntypes = self.graph.node_types
        t_count = int(q[2 + k])
        counts = q[3 + k:3 + k + t_count]
        start = 3 + k + t_count
        ids = {}
        for t, n in zip(ntypes, counts):
            ids[t] = q[start:start + n]
            start += n
        out: list[np.ndarray] = []
        for i, e in enumerate(self.edge_types):
            if fan[i] == 0 or ids[e[2]].size == 0:
                continue
            out.extend(self._sample_owned(i, int(fan[i]), ids[e[2]], seed))
        return torch.from_numpy(np.concatenate(out)) if out else torch.zeros(0, dtype=torch.int64)


def _merge(n: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One CSR over ``n`` dst positions from per-rank answers; each row's edges by increasing edge ID."""
    deg = np.zeros(n, dtype=np.int64)
    rows, srcs, eids = [], [], []
    for pos, d, s, e in parts:
        deg[pos] = d
        rows.append(np.repeat(pos, d))
        srcs.append(s)
        eids.append(e)
    row, src, eid = (np.concatenate(x) if x else _EMPTY_I64 for x in (rows, srcs, eids))
    order = np.lexsort((eid, row))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=ptr[1:])
    return ptr, src[order], eid[order]


def _block(dst: dict[NodeType, np.ndarray], sampled: dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]]
           ) -> Block:
    """Relabel sources (dst nodes first) into a :class:`Block`, exactly as the single-process sampler does."""
    return assemble_block(dst, sampled, lambda _t, d, src: relabel(d, src))
