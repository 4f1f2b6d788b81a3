"""graphkit.storage.csr.compress: grouping edges by one endpoint, checked against hand-made arrays."""

import numpy as np
import pytest

from graphkit.storage.csr import compress


def test_small_graph_exact_arrays():
    # edge e: (keys[e] -> others[e])
    keys = np.array([2, 0, 2, 1, 0])
    others = np.array([10, 11, 12, 13, 14])
    c = compress(keys, others, num_keys=3)
    np.testing.assert_array_equal(c.indptr, [0, 2, 3, 5])
    np.testing.assert_array_equal(c.eids, [1, 4, 3, 0, 2])
    np.testing.assert_array_equal(c.indices, [11, 14, 13, 10, 12])
    for a in (c.indptr, c.indices, c.eids):
        assert a.dtype == np.int64


def test_nodes_without_edges_get_empty_rows():
    # Nodes 0, 2, 3 and 5 have no edges; node 5 is after the last key that occurs.
    keys = np.array([4, 1, 4])
    others = np.array([7, 8, 9])
    c = compress(keys, others, num_keys=6)
    np.testing.assert_array_equal(c.indptr, [0, 0, 1, 1, 1, 3, 3])
    np.testing.assert_array_equal(c.eids, [1, 0, 2])
    np.testing.assert_array_equal(c.indices, [8, 7, 9])


def test_no_edges_at_all():
    c = compress(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), num_keys=4)
    np.testing.assert_array_equal(c.indptr, [0, 0, 0, 0, 0])
    assert c.indices.shape == (0,) and c.eids.shape == (0,)


def test_zero_keys_and_zero_edges():
    c = compress(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), num_keys=0)
    np.testing.assert_array_equal(c.indptr, [0])


def test_stable_edge_ids_increase_within_each_row():
    # Every edge has key 0: the group keeps the input (edge-ID) order.
    keys = np.zeros(6, dtype=np.int64)
    others = np.array([5, 3, 5, 1, 0, 3])
    c = compress(keys, others, num_keys=1)
    np.testing.assert_array_equal(c.indptr, [0, 6])
    np.testing.assert_array_equal(c.eids, [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(c.indices, others)


def test_int32_inputs_are_accepted():
    c = compress(np.array([1, 0], dtype=np.int32), np.array([0, 1], dtype=np.int32), num_keys=2)
    np.testing.assert_array_equal(c.indptr, [0, 1, 2])
    np.testing.assert_array_equal(c.eids, [1, 0])
    assert c.indices.dtype == np.int64 and c.eids.dtype == np.int64


@pytest.mark.parametrize("keys", [np.array([0, 3]), np.array([-1, 0])])
def test_out_of_range_keys_are_rejected(keys):
    with pytest.raises(ValueError, match="out of range"):
        compress(keys, np.array([0, 0]), num_keys=3)


def test_random_10k_edges_match_stable_argsort():
    rng = np.random.default_rng(7)
    n, e = 500, 10_000
    keys = rng.integers(0, n, e)
    others = rng.integers(0, 800, e)
    c = compress(keys, others, num_keys=n)

    order = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(c.eids, order)
    np.testing.assert_array_equal(c.indices, others[order])
    np.testing.assert_array_equal(c.indptr, np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=n))]))
    # Within each row the edge IDs strictly increase.
    for v in range(n):
        row = c.eids[c.indptr[v]:c.indptr[v + 1]]
        assert np.all(np.diff(row) > 0)
        assert np.all(keys[row] == v)
