"""Tiny graphs to partition, built through graph construction.

- ``shop``: the demo shop graph at a small size (3 node types, 2 edge types with
  reverse types, node and edge labels with train/val/test masks, features).
- ``communities``: 4 planted communities of users and items; almost every edge
  stays inside its community, so a good partitioning cuts few edges.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graphkit.construct.construct import construct_graph
from graphkit.datasets.synthetic import ShopSizes, write_shop_dataset

NUM_COMMUNITIES = 4
USERS_PER_COMMUNITY = 150
ITEMS_PER_COMMUNITY = 60


@pytest.fixture(scope="session")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("shop")
    sizes = ShopSizes(customers=150, products=80, categories=6, purchases=900, dim=4)
    conf = write_shop_dataset(str(base / "tables"), sizes=sizes, seed=1)
    out = str(base / "graph")
    construct_graph(conf, out, "shop", add_reverse_edges=True, seed=1)
    return out


def write_community_tables(d: str, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    k, nu, ni = NUM_COMMUNITIES, USERS_PER_COMMUNITY, ITEMS_PER_COMMUNITY
    user_c = np.repeat(np.arange(k), nu)
    item_c = np.repeat(np.arange(k), ni)
    rng.shuffle(user_c)  # communities are not contiguous ID ranges
    rng.shuffle(item_c)
    users_of = [np.flatnonzero(user_c == c) for c in range(k)]
    items_of = [np.flatnonzero(item_c == c) for c in range(k)]

    def inside(src_c: np.ndarray, pools: list[np.ndarray], n_total: int, p_out: float) -> np.ndarray:
        dst = np.array([pools[c][rng.integers(len(pools[c]))] for c in src_c])
        out = rng.random(len(src_c)) < p_out
        dst[out] = rng.integers(0, n_total, out.sum())
        return dst

    fu = np.repeat(np.arange(k * nu), 6)
    fv = inside(user_c[fu], users_of, k * nu, 0.02)
    lu = np.repeat(np.arange(k * nu), 4)
    li = inside(user_c[lu], items_of, k * ni, 0.02)
    os.makedirs(d, exist_ok=True)
    pq.write_table(pa.table({"uid": [f"u{i}" for i in range(k * nu)],
                             "x": rng.normal(size=k * nu).astype(np.float32),
                             "community": user_c.astype(np.int64)}), os.path.join(d, "users.parquet"))
    pq.write_table(pa.table({"iid": [f"i{i}" for i in range(k * ni)],
                             "w": rng.normal(size=k * ni).astype(np.float32)}), os.path.join(d, "items.parquet"))
    pq.write_table(pa.table({"s": [f"u{i}" for i in fu], "d": [f"u{i}" for i in fv]}),
                   os.path.join(d, "follows.parquet"))
    pq.write_table(pa.table({"s": [f"u{i}" for i in lu], "d": [f"i{i}" for i in li],
                             "r": rng.random(len(lu))}), os.path.join(d, "likes.parquet"))
    config = {
        "version": "gconstruct-v0.1",
        "nodes": [
            {"node_type": "user", "node_id_col": "uid", "format": {"name": "parquet"}, "files": ["users.parquet"],
             "features": [{"feature_col": "x"}],
             "labels": [{"label_col": "community", "task_type": "classification", "split_pct": [0.5, 0.25, 0.25]}]},
            {"node_type": "item", "node_id_col": "iid", "format": {"name": "parquet"}, "files": ["items.parquet"],
             "features": [{"feature_col": "w"}]},
        ],
        "edges": [
            {"relation": ["user", "follows", "user"], "source_id_col": "s", "dest_id_col": "d",
             "format": {"name": "parquet"}, "files": ["follows.parquet"]},
            {"relation": ["user", "likes", "item"], "source_id_col": "s", "dest_id_col": "d",
             "format": {"name": "parquet"}, "files": ["likes.parquet"],
             "features": [{"feature_col": "r"}],
             "labels": [{"task_type": "link_prediction", "split_pct": [0.8, 0.1, 0.1]}]},
        ],
    }
    path = os.path.join(d, "gconstruct.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return path


@pytest.fixture(scope="session")
def community_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("communities")
    conf = write_community_tables(str(base / "tables"))
    out = str(base / "graph")
    construct_graph(conf, out, "communities", add_reverse_edges=True, seed=0)
    return out
