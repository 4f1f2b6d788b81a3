"""The same number of batches on every rank when each rank batches its own seeds (partitioned training).

On a partitioned graph a rank's seeds are its partition's, and partitions hold
different numbers of training, validation and test nodes. Samplers, feature
fetches and embedding lookups are collectives, so every rank must run the same
number of batches; these wrappers pad a rank's batches up to the largest count
over the ranks (one ``all_reduce(MAX)`` when a loader is made):

- :class:`EqualBatches` (training): after its own batches, a rank goes on with
  a fresh shuffle of its seeds (as a short task's loader wraps around in the
  trainer), so a few of its seeds are trained on twice in that epoch — the same
  trade as the even seed shares of unpartitioned training.
- :class:`EqualEvalBatches` (evaluation): after its own batches, a rank repeats
  its last batch; :attr:`~EqualEvalBatches.num_real` tells the evaluation to
  drop those outputs, so every node is scored exactly once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterator, Optional

import numpy as np
import torch

from graphkit.distributed.dealt_batches import DealtBatches
from graphkit.errors import GraphkitError
from graphkit.loading.pipeline import MiniBatch, _Pipeline

_WRAP_EPOCH = 10_000  # the trainer's offset for a loader's extra passes in an epoch


class EqualBatches(_Pipeline):
    """``source``'s batches (a built training pipeline), then further passes until ``num_batches``."""

    def __init__(self, source: _Pipeline, num_batches: int, on_pass: Optional[Callable[[], None]] = None) -> None:
        super().__init__()
        self.on_pass = on_pass  # called when a pass starts (traffic accounting)
        if len(source) == 0 and num_batches > 0:
            raise GraphkitError("this rank's partition has no training seeds while others have some.",
                                hint="Re-partition so that every partition holds training nodes (METIS balances "
                                     "the train masks), or use fewer partitions.")
        self.source, self.num_batches = source, num_batches
        self.stages = source.stages

    def __len__(self) -> int:
        return self.num_batches

    def prefetch(self, depth: int = 2, workers: int = 0) -> "_Pipeline":
        if workers > 0:
            raise GraphkitError("num_workers > 0 is not supported on a partitioned graph: forked sampler "
                                "processes cannot use the process group that fetches from other partitions.",
                                key="num_workers", hint="Use num_workers: 0 (the sampler thread still prefetches).")
        return super().prefetch(depth, workers)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.source.set_epoch(epoch)

    def _items(self) -> Iterator[MiniBatch]:
        index, wrap = 0, 0
        if self.on_pass is not None:
            self.on_pass()
        try:
            while index < self.num_batches:
                self.source.set_epoch(self.epoch + wrap * _WRAP_EPOCH)
                for mb in self.source._items():
                    if index == self.num_batches:
                        break
                    yield replace(mb, index=index)
                    index += 1
                wrap += 1
        finally:
            self.source.set_epoch(self.epoch)


class EqualEvalBatches(DealtBatches):
    """All of ``source``'s batches (an unbatched seed source: stages are added after), then copies of its
    last batch up to ``num_batches``; only the first :attr:`num_real` count."""

    def __init__(self, source: _Pipeline, num_batches: int) -> None:
        _Pipeline.__init__(self)
        if source.stages:
            raise ValueError("EqualEvalBatches pads a seed source: add .sample()/.fetch() after it")
        self.source, self._num = source, num_batches
        self.rank, self.world_size = 0, 1

    @property
    def num_batches(self) -> int:
        """Batches every rank runs (the most any rank has)."""
        return self._num

    @property
    def num_real(self) -> int:
        return len(self.source)

    def __len__(self) -> int:
        return self._num

    def _items(self) -> Iterator[MiniBatch]:
        last = None
        for mb in self.source._items():
            last = mb
            yield mb
        for _ in range(self._num - self.num_real):
            yield _empty_like(self.source) if last is None else replace(last, seeds=dict(last.seeds), x={},
                                                                         full_blocks=[])


def _empty_like(source: _Pipeline) -> MiniBatch:
    """A batch with no seeds, for a rank that has none of a split's nodes."""
    types = getattr(source, "seeds", None)
    if not isinstance(types, dict):
        raise GraphkitError("a rank has no evaluation batches of an edge split on a partitioned graph.")
    return MiniBatch(index=0, seed=0, seeds={t: torch.from_numpy(np.zeros(0, dtype=np.int64)) for t in types})
