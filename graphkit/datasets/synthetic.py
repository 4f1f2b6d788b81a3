"""A small generated shop graph: tables + gconstruct config, with a planted signal.

customers --buys--> products --in--> categories. IDs are strings, files mix
Parquet, CSV and JSON lines, and the features exercise the common transforms
(missing values with an imputer, one-hot, multi-hot, rank-gauss, min-max,
list features). A product's class is its category's group, and customers
mostly buy within one group, so neighbourhoods predict classes and links.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CLASSES = ("books", "garden", "music", "sports", "toys")
COUNTRIES = ("de", "fr", "jp", "uk", "us")


@dataclass(frozen=True)
class ShopSizes:
    customers: int = 2000
    products: int = 1000
    categories: int = 20
    purchases: int = 20000
    dim: int = 8


def _list_column(x: np.ndarray) -> pa.Array:
    offsets = pa.array(np.arange(0, x.size + 1, x.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(x.reshape(-1).astype(np.float32)))


def write_shop_dataset(out_dir: str, sizes: ShopSizes = ShopSizes(), seed: int = 0) -> str:
    """Write the tables and ``gconstruct.json`` under ``out_dir``; returns the config path."""
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    k = len(CLASSES)
    cat_group = np.arange(sizes.categories) % k
    centroids = rng.normal(size=(k, sizes.dim))

    prod_cat = rng.integers(0, sizes.categories, sizes.products)
    prod_cls = cat_group[prod_cat]
    noisy = rng.random(sizes.products) < 0.15  # some products break the category rule
    prod_cls = np.where(noisy, rng.integers(0, k, sizes.products), prod_cls)
    cust_pref = rng.integers(0, k, sizes.customers)

    cust_ids = np.array([f"c{i:06d}" for i in range(sizes.customers)])
    prod_ids = np.array([f"p{i:06d}" for i in range(sizes.products)])
    cat_ids = np.array([f"cat-{i:03d}" for i in range(sizes.categories)])

    # customers.parquet: age with missing values, country, a list-valued embedding
    age = rng.normal(40, 12, sizes.customers).round()
    age[rng.random(sizes.customers) < 0.05] = np.nan
    emb = 0.8 * centroids[cust_pref] + rng.normal(size=(sizes.customers, sizes.dim))
    pq.write_table(pa.table({
        "customer_id": cust_ids,
        "age": pa.array(age, mask=np.isnan(age)),
        "country": np.array(COUNTRIES)[rng.integers(0, len(COUNTRIES), sizes.customers)],
        "embedding": _list_column(emb),
    }), os.path.join(out_dir, "customers.parquet"))

    # products.csv: price, multi-valued tags, class label (text)
    price = np.exp(rng.normal(3 + 0.3 * prod_cls, 0.5)).round(2)
    tag_pool = np.array([f"t{i}" for i in range(3 * k)])
    tags = ["|".join(sorted(set(tag_pool[[3 * c + rng.integers(0, 3), rng.integers(0, 3 * k)]])))
            for c in prod_cls]
    pacsv.write_csv(pa.table({
        "product_id": prod_ids, "price": price, "tags": tags,
        "class": np.array(CLASSES)[prod_cls],
    }), os.path.join(out_dir, "products.csv"))

    # purchases.parquet: customer -> product, mostly within the customer's preferred class
    m = int(sizes.purchases * 1.3)
    c = rng.integers(0, sizes.customers, m)
    inside = rng.random(m) < 0.8
    p = rng.integers(0, sizes.products, m)
    by_cls = [np.flatnonzero(prod_cls == j) for j in range(k)]
    for j in range(k):
        sel = inside & (cust_pref[c] == j)
        p[sel] = by_cls[j][rng.integers(0, len(by_cls[j]), sel.sum())]
    _, first = np.unique(c.astype(np.int64) * sizes.products + p, return_index=True)
    first = rng.permutation(first)[: sizes.purchases]
    c, p = c[first], p[first]
    pq.write_table(pa.table({
        "customer": cust_ids[c], "product": prod_ids[p],
        "quantity": rng.integers(1, 6, len(c)).astype(np.float64),
    }), os.path.join(out_dir, "purchases.parquet"))

    # in_category.jsonl: product -> category (categories exist only as edge endpoints)
    with open(os.path.join(out_dir, "in_category.jsonl"), "w", encoding="utf-8") as f:
        for pid, cid in zip(prod_ids, cat_ids[prod_cat]):
            f.write(json.dumps({"product": str(pid), "category": str(cid)}) + "\n")

    config = {
        "version": "gconstruct-v0.1",
        "nodes": [
            {"node_type": "customer", "node_id_col": "customer_id", "format": {"name": "parquet"},
             "files": ["customers.parquet"],
             "features": [
                 {"feature_col": "age", "feature_name": "age", "imputer": "median",
                  "transform": {"name": "max_min_norm"}},
                 {"feature_col": "country", "transform": {"name": "to_categorical"}},
                 {"feature_col": "embedding", "feature_name": "emb"},
             ]},
            {"node_type": "product", "node_id_col": "product_id", "format": {"name": "csv", "separator": ","},
             "files": ["products.csv"],
             "features": [
                 {"feature_col": "price", "transform": {"name": "rank_gauss"}},
                 {"feature_col": "tags", "transform": {"name": "to_categorical", "separator": "|"}},
             ],
             "labels": [{"label_col": "class", "task_type": "classification", "split_pct": [0.6, 0.2, 0.2],
                         "label_stats_type": "frequency_cnt"}]},
        ],
        "edges": [
            {"relation": ["customer", "buys", "product"], "source_id_col": "customer", "dest_id_col": "product",
             "format": {"name": "parquet"}, "files": ["purchases.parquet"],
             "features": [{"feature_col": "quantity", "transform": {"name": "max_min_norm"}}],
             "labels": [{"task_type": "link_prediction", "split_pct": [0.8, 0.1, 0.1]}]},
            {"relation": ["product", "in", "category"], "source_id_col": "product", "dest_id_col": "category",
             "format": {"name": "json"}, "files": ["in_category.jsonl"]},
        ],
    }
    path = os.path.join(out_dir, "gconstruct.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    return path


SHOP_NC_YAML = """\
# graphkit train --part-config out/demo/graph --cf out/demo/tables/train_nc.yaml
# Product classification on the generated shop graph (graphkit demo).
version: 1.0
gsf:
  basic:
    node_feat_name: ["customer:age,country,emb", "product:price,tags"]
  gnn:
    model_encoder_type: rgcn
    fanout: "10,10"
    num_layers: 2
    hidden_size: 64
    use_mini_batch_infer: false
  hyperparam:
    dropout: 0.2
    lr: 0.01
    num_epochs: 15
    batch_size: 256
    eval_batch_size: 2048
  rgcn:
    use_self_loop: true
    sparse_optimizer_lr: 0.05
  node_classification:
    target_ntype: product
    label_field: class
    eval_metric: [accuracy, f1_score]
"""


def write_shop_train_config(path: str) -> str:
    """The demo's training YAML (node classification of products); returns its path."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(SHOP_NC_YAML)
    return path
