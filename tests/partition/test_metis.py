"""METIS: the homogenized input, multi-constraint balance, and a low cut on planted communities."""

from __future__ import annotations

import numpy as np

from graphkit.partition.constraints import balance_constraints
from graphkit.partition.homogenize import _symmetric_simple_csr, homogenize
from graphkit.partition.metis import kway_partition, metis_assign
from graphkit.partition.metrics import partition_metrics
from graphkit.partition.random import random_assign
from graphkit.storage.graph import Graph


def test_symmetric_simple_csr_drops_loops_and_duplicates() -> None:
    u = np.array([0, 1, 0, 2, 2, 3, 1], dtype=np.int64)
    v = np.array([1, 0, 1, 2, 3, 2, 2], dtype=np.int64)  # 0-1 three times, a self-loop on 2, 2-3 twice
    indptr, indices = _symmetric_simple_csr(u, v, 5)
    rows = [sorted(indices[indptr[i]:indptr[i + 1]].tolist()) for i in range(5)]
    assert rows == [[1], [0, 2], [1, 3], [2], []]


def test_homogenize_offsets_and_symmetry(shop_dir: str) -> None:
    g = Graph(shop_dir)
    h = homogenize(g)
    assert list(h.offsets) == g.node_types
    assert h.offsets["product"] == g.num_nodes("customer")
    assert h.num_nodes == sum(g.num_nodes(t) for t in g.node_types)
    rows = np.repeat(np.arange(h.num_nodes), np.diff(h.indptr))
    pairs = set(zip(rows.tolist(), h.indices.tolist()))
    assert len(pairs) == len(h.indices), "no duplicate neighbours"
    assert all((b, a) in pairs for a, b in pairs) and all(a != b for a, b in pairs)
    src, dst = g.edges(("product", "in", "category"))
    expect = {(int(s) + h.offsets["product"], int(d) + h.offsets["category"]) for s, d in zip(src, dst)}
    assert expect <= pairs


def test_constraints_name_types_and_splits(shop_dir: str) -> None:
    g = Graph(shop_dir)
    c = balance_constraints(g, homogenize(g))
    assert c.names[:5] == ["nodes:customer", "nodes:product", "product/train_mask", "product/val_mask",
                           "product/test_mask"]
    assert "nodes:category" in c.names and "customer,buys,product/train_mask" in c.names
    assert c.weights[:, c.names.index("edges:in-degree")].sum() == sum(g.num_edges(e) for e in g.edge_types)
    col = c.weights[:, c.names.index("customer,buys,product/train_mask")]
    assert col.sum() == g.meta.edge_type(("customer", "buys", "product")).labels["link_prediction"] \
        .split_counts["train"]
    assert c.weights[:, c.names.index("product/train_mask")].sum() == \
        g.meta.node_type("product").labels["class"].split_counts["train"]


def test_second_constraint_is_balanced() -> None:
    """pymetis.part_graph would read the weights as one column; our binding balances both."""
    n = 1000
    a = np.arange(n, dtype=np.int64)
    u, v = np.concatenate([a, (a + 1) % n]), np.concatenate([(a + 1) % n, a])  # a ring
    order = np.argsort(u, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(u, minlength=n))])
    weights = np.zeros((n, 2), dtype=np.int64)
    weights[:, 0] = 1
    weights[:200, 1] = 1  # 200 contiguous "train" nodes: a plain min-cut keeps them together
    part, cut = kway_partition(indptr, v[order], weights, 4, seed=0)
    assert np.bincount(part, minlength=4).max() <= 1.1 * n / 4
    assert np.bincount(part[:200], minlength=4).max() <= 1.2 * 200 / 4
    assert cut < 40


def test_metis_beats_random_and_balances_seeds(community_dir: str) -> None:
    g = Graph(community_dir)
    m = partition_metrics(g, metis_assign(g, 4, seed=0).node_part, 4)
    r = partition_metrics(g, random_assign(g, 4, seed=0).node_part, 4)
    assert m.edge_cut < 0.15 and r.edge_cut > 0.6
    for key in ("nodes:user", "nodes:item", "user/train_mask", "user/val_mask", "user/test_mask"):
        assert m.balance[key] <= 1.15, key
    assert m.balance["user,likes,item/train_mask"] <= 1.15
    assert max(v for k, v in m.balance.items() if k.startswith("edges:")) <= 1.15


def test_metis_is_deterministic(shop_dir: str) -> None:
    g = Graph(shop_dir)
    a, b = metis_assign(g, 3, seed=1), metis_assign(g, 3, seed=1)
    assert all(np.array_equal(a.node_part[t], b.node_part[t]) for t in g.node_types)
    assert all(a.node_part[t].dtype == np.int32 for t in g.node_types)
