"""Which rank holds which partition, and which rank to ask about a node.

Two layouts of ``P`` partitions over a job of ``W`` ranks on ``M`` machines
(``L = W / M`` ranks per machine; torchrun numbers ranks machine by machine):

- ``P == W``: rank ``r`` holds partition ``r``;
- ``P == M`` (and ``L > 1``): the ``L`` ranks of machine ``m`` share partition
  ``m``, opened once in shared memory, and split its seeds among themselves.

So partition ``p`` is held by the ``R = W / P`` ranks ``p*R .. p*R+R-1``. Read-only
data (structure, features) can be served by any of them: a rank asks the one
with its own index within its partition (:meth:`PartitionBook.server_ranks`),
which spreads requests evenly. Learnable rows need exactly one keeper:
node ``g`` of partition ``p`` is kept by rank ``p*R + g % R``
(:meth:`PartitionBook.keeper_ranks`).

Memory: the book memory-maps ``node_part/<ntype>.npy`` (int32 per node of the
*whole* graph): 4 bytes per node on every rank, touched as nodes are looked up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from graphkit.distributed.context import DistContext
from graphkit.errors import GraphkitError
from graphkit.partition.meta import PartitionSetMeta


@dataclass(frozen=True)
class RankLayout:
    """How the ``num_parts`` partitions map onto the ranks of a job."""

    num_parts: int
    world_size: int
    ranks_per_part: int  # R
    part_id: int  # this rank's partition
    part_rank: int  # this rank's index among the R ranks of its partition

    @staticmethod
    def of(num_parts: int, ctx: DistContext) -> "RankLayout":
        w, local = ctx.world_size, max(ctx.local_world_size, 1)
        if num_parts == w:
            return RankLayout(num_parts, w, 1, ctx.rank, 0)
        if local > 1 and w % local == 0 and num_parts == w // local:
            return RankLayout(num_parts, w, local, ctx.node_rank, ctx.local_rank)
        raise GraphkitError(
            f"{num_parts} partition(s) cannot be trained by {w} rank(s) on {max(w // local, 1)} machine(s).",
            hint="Use one rank per partition (num_parts == world size), or one partition per machine "
                 "(num_parts == number of machines; the ranks of a machine share it). For one machine and "
                 "any number of ranks, train on the unpartitioned graph directory instead.")

    def ranks_of(self, part: int) -> range:
        r = self.ranks_per_part
        return range(part * r, part * r + r)


class PartitionBook:
    """The owning partition of every node, and the rank to ask about it."""

    def __init__(self, root: str, meta: PartitionSetMeta, layout: RankLayout) -> None:
        self.layout = layout
        self._part = {t: np.load(os.path.join(root, a.path), mmap_mode="r") for t, a in meta.node_part.items()}

    def num_nodes(self, ntype: str) -> int:
        return int(self._part[ntype].shape[0])

    def part_of(self, ntype: str, gids: np.ndarray) -> np.ndarray:
        """The partition owning each node (int64)."""
        if gids.size == 0:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self._part[ntype][gids], dtype=np.int64)

    def server_ranks(self, ntype: str, gids: np.ndarray) -> np.ndarray:
        """A rank holding each node's partition, for read-only requests (spread by this rank's index)."""
        lay = self.layout
        return self.part_of(ntype, gids) * lay.ranks_per_part + lay.part_rank

    def keeper_ranks(self, ntype: str, gids: np.ndarray) -> np.ndarray:
        """The one rank keeping each node's learnable rows."""
        r = self.layout.ranks_per_part
        return self.part_of(ntype, gids) * r + (gids % r if r > 1 else 0)


def split_by_rank(ranks: np.ndarray, world_size: int) -> list[np.ndarray]:
    """Positions grouped by destination rank: ``out[r]`` are the indices ``i`` with ``ranks[i] == r``, in order."""
    order = np.argsort(ranks, kind="stable")
    bounds = np.searchsorted(ranks[order], np.arange(world_size + 1))
    return [order[bounds[r]:bounds[r + 1]] for r in range(world_size)]
