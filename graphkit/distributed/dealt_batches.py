"""Evaluation batches dealt to the ranks like cards: global batch ``i`` goes to rank ``i % world_size``.

Training shares *seeds* between ranks (each rank a contiguous slice, its own
sampling seeds). For evaluation that would make a prediction depend on the
world size: a sampled neighbourhood (``eval_fanout``) or a set of sampled
negatives (link prediction) is drawn per batch, from the batch's seed and
its members. Dealing whole batches keeps every batch — its members, its
sampling seed — exactly what the one-process run evaluates, so the
predictions are the same numbers, and the gathered union, put back in batch
order, gives the one-process metric to the last bit.

Every rank runs the same number of batches, ``ceil(batches / world_size)``
(collectives inside sampling or the model need lockstep): a rank that has
one batch fewer evaluates a copy of the last global batch at the end.
:attr:`DealtBatches.num_real` says how many of its batches count; the copies'
outputs are dropped before the gather.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator, Optional

from graphkit.loading.pipeline import MiniBatch, _Pipeline


class DealtBatches(_Pipeline):
    """Rank ``rank``'s batches of ``source`` (a seed source with no stages yet), then its stages.

    ``DealtBatches(NodeSeeds(...), rank, world).sample(...).fetch(...)``: the
    batches keep ``source``'s indices and sampling seeds.
    """

    def __init__(self, source: _Pipeline, rank: int = 0, world_size: int = 1) -> None:
        super().__init__()
        if source.stages:
            raise ValueError("DealtBatches deals a seed source: add .sample()/.fetch() after dealing")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        self.source, self.rank, self.world_size = source, rank, world_size

    @property
    def num_batches(self) -> int:
        """Batches of the whole (one-process) evaluation."""
        return len(self.source)

    @property
    def num_real(self) -> int:
        """This rank's own batches; the rest of its ``len(self)`` are padding."""
        return len(range(self.rank, self.num_batches, self.world_size))

    def __len__(self) -> int:
        return -(-self.num_batches // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.source.set_epoch(epoch)

    def _items(self) -> Iterator[MiniBatch]:
        last: Optional[MiniBatch] = None
        for mb in self.source._items():
            if mb.index % self.world_size == self.rank:
                yield mb
            elif mb.index == self.num_batches - 1:
                last = _copy(mb)  # before any stage fills it in
        for _ in range(len(self) - self.num_real):
            assert last is not None  # a rank is short of a batch only if another rank holds the last one
            yield _copy(last)


def _copy(mb: MiniBatch) -> MiniBatch:
    return replace(mb, seeds=dict(mb.seeds), x={}, full_blocks=[])
