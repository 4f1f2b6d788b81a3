"""Equal batch counts on every rank: training passes wrap around, evaluation pads with dropped copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphkit.distributed.equal_batches import EqualBatches, EqualEvalBatches
from graphkit.errors import GraphkitError
from graphkit.loading.pipeline import MiniBatch, NodeSeeds


def _tag(mb: MiniBatch) -> MiniBatch:
    mb.x = {"stage": torch.ones(1)}
    return mb


def test_training_pass_wraps_around_with_a_fresh_shuffle() -> None:
    seeds = np.arange(10, 20)
    loader = EqualBatches(NodeSeeds({"item": seeds}, 4, shuffle=True, seed=1).map(_tag), num_batches=5)
    loader.set_epoch(2)
    batches = list(loader)
    assert len(loader) == 5 and [mb.index for mb in batches] == [0, 1, 2, 3, 4]
    assert all("stage" in mb.x for mb in batches)  # the source's stages run on every batch
    first = np.concatenate([mb.seeds["item"].numpy() for mb in batches[:3]])
    assert sorted(first) == list(seeds)  # one full pass of the rank's own seeds first
    again = np.concatenate([mb.seeds["item"].numpy() for mb in batches[3:]])
    assert set(again) <= set(seeds) and again.size == 8
    assert not np.array_equal(again, first[:8])  # the extra pass is shuffled afresh
    assert [mb.seed for mb in batches] == [mb.seed for mb in loader]  # reproducible
    assert loader.source.epoch == 2


def test_a_rank_without_training_seeds_says_so() -> None:
    with pytest.raises(GraphkitError, match="no training seeds"):
        EqualBatches(NodeSeeds({"item": np.zeros(0, np.int64)}, 4), num_batches=2)


def test_evaluation_pads_with_copies_that_do_not_count() -> None:
    source = NodeSeeds({"item": np.arange(7)}, 3)
    loader = EqualEvalBatches(source, num_batches=5)
    batches = list(loader.map(_tag))
    assert (len(loader), loader.num_batches, loader.num_real) == (5, 5, 3)
    assert [mb.seeds["item"].tolist() for mb in batches] == [[0, 1, 2], [3, 4, 5], [6], [6], [6]]
    empty = list(EqualEvalBatches(NodeSeeds({"item": np.zeros(0, np.int64)}, 3), num_batches=2))
    assert [mb.seeds["item"].numel() for mb in empty] == [0, 0]


def test_forked_sampler_workers_are_refused() -> None:
    loader = EqualBatches(NodeSeeds({"item": np.arange(4)}, 2), num_batches=2)
    with pytest.raises(GraphkitError, match="num_workers"):
        loader.prefetch(2, workers=2)
    assert loader.prefetch(2).depth == 2
