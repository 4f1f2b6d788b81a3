"""A planted-signal toy graph that a GNN can learn and node features alone cannot.

``user --rates--> item`` (+ ``rates-rev``), 200 users and 300 items in
``NUM_CLASSES`` communities; each user rates 8 items, 90% inside its own
community. A user's features hold its community (one-hot * 2 + noise); an
item's features are pure noise, so an item's community — every item and edge
label below — is only readable from its neighbours.

- item ``label``: its community (balanced, chance = 1 / NUM_CLASSES);
- item ``tags``: multi-label, the one-hot community plus "community != 0";
- item ``low``: binary, "community < 2" (40% positive);
- item ``score``: community + 0.1 noise (regression);
- edge ``cls``: the item's community; edge ``value``: item + user community + noise;
- edge feature ``w`` (2 floats), and 60/20/20 train/val/test masks on items and edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph
from graphkit.training.config import TrainConfig, parse_train_config

NUM_CLASSES = 5
NUM_USERS, NUM_ITEMS, PER_USER = 200, 300, 8
RATES = ("user", "rates", "item")


def _split(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    order = rng.permutation(n)
    masks = {k: np.zeros(n, np.int8) for k in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][order[: int(0.6 * n)]] = 1
    masks["val_mask"][order[int(0.6 * n): int(0.8 * n)]] = 1
    masks["test_mask"][order[int(0.8 * n):]] = 1
    return masks


def build_toy_graph(path: str, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    k = NUM_CLASSES
    c_user = rng.integers(0, k, NUM_USERS)
    c_item = rng.permutation(np.arange(NUM_ITEMS) % k)
    user_feat = np.concatenate([2.0 * np.eye(k)[c_user] + 0.5 * rng.normal(size=(NUM_USERS, k)),
                                rng.normal(size=(NUM_USERS, 2))], axis=1).astype(np.float32)
    item_feat = rng.normal(size=(NUM_ITEMS, 4)).astype(np.float32)
    by_class = [np.flatnonzero(c_item == j) for j in range(k)]
    src, dst = [], []
    for u in range(NUM_USERS):
        chosen: set[int] = set()
        while len(chosen) < PER_USER:
            chosen.add(int(rng.choice(by_class[c_user[u]]) if rng.random() < 0.9 else rng.integers(NUM_ITEMS)))
        src += [u] * PER_USER
        dst += sorted(chosen)
    src_a, dst_a = np.array(src), np.array(dst)
    n_edges = len(src_a)
    value = c_item[dst_a] + c_user[src_a] + 0.1 * rng.normal(size=n_edges)
    tags = np.concatenate([np.eye(k, dtype=np.int64)[c_item], (c_item != 0)[:, None].astype(np.int64)], axis=1)
    graph_from_arrays(
        path, {"user": NUM_USERS, "item": NUM_ITEMS}, {RATES: (src_a, dst_a)},
        node_features={"user": {"feat": user_feat}, "item": {"feat": item_feat}},
        node_labels={"item": {"label": c_item.astype(np.int64), "tags": tags, "low": (c_item < 2).astype(np.int64),
                              "score": (c_item + 0.1 * rng.normal(size=NUM_ITEMS)).astype(np.float32)}},
        node_masks={"item": _split(NUM_ITEMS, rng)},
        edge_features={RATES: {"w": rng.normal(size=(n_edges, 2)).astype(np.float32)}},
        edge_labels={RATES: {"cls": c_item[dst_a].astype(np.int64), "value": value.astype(np.float32)}},
        edge_masks={RATES: _split(n_edges, rng)},
        add_reverse_edges=True)
    return Graph(path)


BASE_OPTIONS: dict[str, Any] = {
    "node_feat_name": ["user:feat", "item:feat"], "model_encoder_type": "rgcn", "fanout": "5,5", "num_layers": 2,
    "hidden_size": 16, "lr": 0.02, "num_epochs": 6, "batch_size": 64, "eval_batch_size": 1024, "seed": 0,
}

NC = {"node_classification": {"target_ntype": "item", "label_field": "label", "num_classes": NUM_CLASSES}}
LP = {"link_prediction": {"train_etype": ["user,rates,item"], "num_negative_edges": 8, "num_negative_edges_eval": 10}}


def make_config(tasks: dict, **options: Any) -> TrainConfig:
    """A parsed GraphStorm YAML for the toy graph: ``BASE_OPTIONS`` with ``options`` on top, and ``tasks``."""
    return parse_train_config({"gsf": {"basic": {**BASE_OPTIONS, **options}, **tasks}})
