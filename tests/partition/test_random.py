"""Random partitioning: exact per-type balance, determined by the seed."""

from __future__ import annotations

import numpy as np
import pytest

from graphkit.partition.random import random_assign, random_parts
from graphkit.storage.graph import Graph


@pytest.mark.parametrize("n", [0, 1, 5, 97, 1000])
@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_sizes_differ_by_at_most_one(n: int, k: int) -> None:
    part = random_parts(n, k, np.random.default_rng(0))
    assert part.dtype == np.int32 and len(part) == n
    sizes = np.bincount(part, minlength=k)
    assert len(sizes) == k and sizes.sum() == n
    assert sizes.max() - sizes.min() <= 1


def test_every_type_balanced_and_seeded(shop_dir: str) -> None:
    g = Graph(shop_dir)
    a = random_assign(g, 4, seed=5)
    for t in g.node_types:
        sizes = np.bincount(a.node_part[t], minlength=4)
        assert sizes.max() - sizes.min() <= 1
    b = random_assign(g, 4, seed=5)
    c = random_assign(g, 4, seed=6)
    assert all(np.array_equal(a.node_part[t], b.node_part[t]) for t in g.node_types)
    assert not np.array_equal(a.node_part["customer"], c.node_part["customer"])
