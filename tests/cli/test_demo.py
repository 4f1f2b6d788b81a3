"""``graphkit demo`` builds the generated shop graph; ``graphkit info`` summarises it."""

import os

import numpy as np
import pytest

from graphkit.cli.main import main
from graphkit.datasets.synthetic import CLASSES, ShopSizes
from graphkit.storage.graph import Graph

BUYS = ("customer", "buys", "product")
IN = ("product", "in", "category")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["--log-level", "warning", "demo", "--output-dir", str(out), "--num-epochs", "3"]) == 0
    return str(out)


def test_default_sizes():
    s = ShopSizes()
    assert (s.customers, s.products, s.categories, s.purchases) == (2000, 1000, 20, 20000)


def test_demo_writes_tables_and_graph(demo_dir):
    tables = os.path.join(demo_dir, "tables")
    assert sorted(os.listdir(tables)) == ["customers.parquet", "gconstruct.json", "in_category.jsonl",
                                          "products.csv", "purchases.parquet", "train_nc.yaml"]
    s = ShopSizes()
    g = Graph(os.path.join(demo_dir, "graph"))
    assert g.meta.graph_name == "shop"
    assert g.node_types == ["customer", "product", "category"]
    assert (g.num_nodes("customer"), g.num_nodes("product"), g.num_nodes("category")) == (
        s.customers, s.products, s.categories)
    assert g.edge_types == [BUYS, ("product", "buys-rev", "customer"), IN, ("category", "in-rev", "product")]
    assert g.num_edges(BUYS) == g.num_edges(("product", "buys-rev", "customer")) == s.purchases
    assert g.num_edges(IN) == g.num_edges(("category", "in-rev", "product")) == s.products
    # every product is in exactly one category
    indptr, _, _ = g.csr(IN)
    np.testing.assert_array_equal(np.diff(indptr), np.ones(s.products))
    assert g.id_map("customer")[:2].to_pylist() == ["c000000", "c000001"]


def test_demo_features_and_labels(demo_dir):
    s = ShopSizes()
    g = Graph(os.path.join(demo_dir, "graph"))
    assert g.node_feature("customer", "emb").shape == (s.customers, s.dim)
    assert g.node_feature("customer", "country").shape == (s.customers, 5)
    np.testing.assert_array_equal(g.node_feature("customer", "country").sum(1), np.ones(s.customers))
    age = g.node_feature("customer", "age")
    assert age.min() == 0.0 and age.max() == 1.0
    lab = g.meta.node_types["product"].labels["class"]
    assert lab.classes == list(CLASSES) and lab.num_classes == 5
    # 1000 labelled products at [0.6, 0.2, 0.2]
    assert lab.split_counts == {"train": 600, "val": 200, "test": 200}
    assert sum(lab.stats["info"].values()) == 600
    buys = g.meta.edge_type(BUYS).labels["link_prediction"]
    assert buys.split_counts == {"train": 16000, "val": 2000, "test": 2000}


def test_info_prints_the_summary(demo_dir, capsys):
    capsys.readouterr()
    assert main(["info", os.path.join(demo_dir, "graph")]) == 0
    out = capsys.readouterr().out
    assert "graph 'shop'" in out
    assert "3,020 nodes in 3 type(s), 42,000 edges in 4 type(s)" in out
    assert "node customer: 2,000 nodes" in out
    assert "node product: 1,000 nodes" in out
    assert "node category: 20 nodes" in out
    assert "edge customer,buys,product: 20,000 edges" in out
    assert "edge product,buys-rev,customer: 20,000 edges (reverse of customer,buys,product)" in out
    assert "label class: classification, 5 classes; train/val/test = 600/200/200" in out


def test_info_on_a_missing_graph_fails_cleanly(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    assert "not a graphkit graph directory" in capsys.readouterr().err


def test_demo_trains_and_writes_predictions_by_raw_id(demo_dir):
    import json

    import pyarrow.parquet as pq

    with open(os.path.join(demo_dir, "model", "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["task"] == "node_classification" and len(metrics["epoch_times_s"]) == 3
    assert metrics["test"]["accuracy"] > 0.5  # 5 classes: chance is 0.2
    pred = pq.read_table(os.path.join(demo_dir, "predictions", "product", "part-00000.parquet"))
    assert pred.num_rows == ShopSizes().products
    assert pred.column("id")[0].as_py() == "p000000"
    assert set(pred.column("pred").to_pylist()) <= set(CLASSES)
    emb = pq.read_table(os.path.join(demo_dir, "embeddings", "customer", "part-00000.parquet"))
    assert emb.num_rows == ShopSizes().customers and emb.column("id")[0].as_py() == "c000000"
