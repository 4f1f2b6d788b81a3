"""`graphkit transform --reuse-transforms GRAPH`: new tables get the trained graph's fitted transforms."""

import json
import os

import numpy as np
import pytest

from graphkit.cli.main import main
from graphkit.datasets.synthetic import CLASSES, ShopSizes, write_shop_dataset
from graphkit.storage.graph import Graph

SMALL = ShopSizes(customers=50, products=30, categories=4, purchases=200)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("reuse")
    conf = write_shop_dataset(str(root / "train_tables"), SMALL, seed=0)
    assert main(["--log-level", "warning", "construct", "--conf-file", conf, "--output-dir", str(root / "graph"),
                 "--add-reverse-edges"]) == 0
    return root


def test_new_tables_use_the_fitted_transforms_and_id_maps(trained):
    new_conf = write_shop_dataset(str(trained / "new_tables"), ShopSizes(customers=20, products=12, categories=4,
                                                                           purchases=60), seed=5)
    graph = str(trained / "graph")
    assert main(["--log-level", "warning", "transform", "--conf-file", new_conf, "--output-dir",
                 str(trained / "t"), "--reuse-transforms", graph]) == 0
    assert main(["--log-level", "warning", "idmap", "--input-dir", str(trained / "t"), "--output-dir",
                 str(trained / "new_graph"), "--add-reverse-edges"]) == 0
    old, new = Graph(graph), Graph(str(trained / "new_graph"))
    with open(os.path.join(graph, "transforms.json")) as f:
        fitted = {r["feature_name"]: r for r in json.load(f)["features"]["nodes"]["customer"]}
    with open(os.path.join(str(trained / "new_graph"), "transforms.json")) as f:
        applied = {r["feature_name"]: r for r in json.load(f)["features"]["nodes"]["customer"]}
    # the same fitted state (min/max of age, the imputer's median, the country vocabulary), not refitted
    for name in ("age", "country"):
        assert applied[name]["state"] == fitted[name]["state"] and applied[name]["imputer"] == fitted[name]["imputer"]
    assert new.node_feature("customer", "country").shape == (20, old.node_feature("customer", "country").shape[1])
    # an edge-only node type keeps the trained graph's IDs; labels carry metadata but no values
    assert new.id_map("category").to_pylist() == old.id_map("category").to_pylist()
    label = new.meta.node_types["product"].labels["class"]
    assert label.classes == list(CLASSES) and label.num_classes == 5
    assert (np.asarray(new.node_label("product", "class")) == -1).all()
    assert new.meta.construction["reused_transforms_from"] == os.path.abspath(graph)


def test_a_feature_the_graph_never_fitted_is_an_error(trained, tmp_path, capsys):
    conf = write_shop_dataset(str(tmp_path / "t"), SMALL)
    with open(conf) as f:
        cfg = json.load(f)
    cfg["nodes"][0]["features"].append({"feature_col": "age", "feature_name": "age2"})
    with open(conf, "w") as f:
        json.dump(cfg, f)
    assert main(["transform", "--conf-file", conf, "--output-dir", str(tmp_path / "o"),
                 "--reuse-transforms", str(trained / "graph")]) == 2
    assert "no fitted feature 'age2'" in capsys.readouterr().err
