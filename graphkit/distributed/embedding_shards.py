"""Which rank keeps which rows of a node-embedding table, and their initial values.

A learnable table of ``N`` rows is split over the ranks so that every row has
exactly one keeper (the only rank that stores and updates it):

- :class:`PartitionShards` on a partitioned graph: a node's row is kept by its
  partition's rank (node ``g`` of partition ``p`` by rank ``p*R + g % R`` when
  ``R`` ranks share a partition), so the rows of a rank's own seeds and
  neighbours are mostly local;
- :class:`RangeShards` when every rank has the whole graph: rank ``r`` keeps
  the contiguous rows ``[r*ceil(N/W), (r+1)*ceil(N/W))``.

Either way a shard is a sorted array of the global IDs it keeps, and a row's
position in the shard is a binary search.

Initial values do not depend on the sharding: row ``g`` is drawn from
``N(0, std^2)`` by a counter-based generator keyed by (seed, node type, ``g``)
(:func:`initial_rows`), so a table starts the same with 1 rank or 64.
"""

from __future__ import annotations

import zlib

import numba
import numpy as np

from graphkit.distributed.dist_graph import DistGraph
from graphkit.sampling.neighbor import mix_seed

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


class Shards:
    """The rows one rank keeps (``ids``: sorted global IDs) and where every row is kept."""

    ids: np.ndarray

    def keepers(self, gids: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def rows(self, gids: np.ndarray) -> np.ndarray:
        """Positions of ``gids`` (all kept here) in this rank's shard."""
        pos = np.searchsorted(self.ids, gids)
        if gids.size and (pos.max() >= self.ids.size or not np.array_equal(self.ids[pos], gids)):
            raise ValueError("rows asked of a rank that does not keep them")
        return pos


class RangeShards(Shards):
    """Contiguous ranges of rows, one per rank (every rank has the whole graph)."""

    def __init__(self, num_nodes: int, rank: int, world_size: int) -> None:
        self.per = max(-(-num_nodes // world_size), 1)
        self.ids = np.arange(min(rank * self.per, num_nodes), min((rank + 1) * self.per, num_nodes), dtype=np.int64)

    def keepers(self, gids: np.ndarray) -> np.ndarray:
        return gids // self.per


class PartitionShards(Shards):
    """Rows kept by the rank holding the node's partition."""

    def __init__(self, graph: DistGraph, ntype: str) -> None:
        self.graph, self.ntype = graph, ntype
        owned = graph.local_to_global[ntype][:graph.num_owned[ntype]]
        r = graph.layout.ranks_per_part
        self.ids = np.array(owned if r == 1 else owned[owned % r == graph.layout.part_rank], dtype=np.int64)

    def keepers(self, gids: np.ndarray) -> np.ndarray:
        return self.graph.book.keeper_ranks(self.ntype, gids)


def table_seed(seed: int, ntype: str) -> np.uint64:
    """The initialisation seed of ``ntype``'s table in a run seeded with ``seed``."""
    return mix_seed(seed, zlib.crc32(ntype.encode()))


@numba.njit(inline="always", cache=True)
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _normal_rows(ids: np.ndarray, dim: int, seed: np.uint64) -> np.ndarray:
    out = np.empty((ids.shape[0], dim), dtype=np.float32)
    scale = 1.0 / 9007199254740992.0  # 2^-53
    for i in range(ids.shape[0]):
        state = _mix(seed ^ _mix(np.uint64(ids[i]) + _GOLDEN))
        for j in range(0, dim, 2):
            z1 = _mix(state + np.uint64(j + 1) * _GOLDEN)
            z2 = _mix(state + np.uint64(j + 2) * _GOLDEN)
            u1 = (np.float64(z1 >> np.uint64(11)) + 1.0) * scale  # (0, 1]
            u2 = np.float64(z2 >> np.uint64(11)) * scale  # [0, 1)
            r = np.sqrt(-2.0 * np.log(u1))
            out[i, j] = r * np.cos(2.0 * np.pi * u2)
            if j + 1 < dim:
                out[i, j + 1] = r * np.sin(2.0 * np.pi * u2)
    return out


def initial_rows(ids: np.ndarray, dim: int, seed: np.uint64, std: float) -> np.ndarray:
    """float32 ``[len(ids), dim]``: row ``g`` ~ N(0, std^2), a function of (seed, g) only (Box-Muller)."""
    rows = _normal_rows(np.ascontiguousarray(ids, dtype=np.int64), dim, np.uint64(seed))
    rows *= np.float32(std)
    return rows
