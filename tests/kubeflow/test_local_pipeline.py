"""The training pipeline end to end through kfp's local runner (`graphkit pipeline run --local`), then the
inference pipeline on new tables with the saved transforms, ID maps and model. A tiny graph, 2 epochs."""

import json
import os

import pyarrow.parquet as pq
import pytest

from graphkit.cli.main import main
from graphkit.datasets.synthetic import CLASSES, ShopSizes, write_shop_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shop_tables):
    tables, _, train_yaml = shop_tables
    root = str(tmp_path_factory.mktemp("pipeline_root"))
    code = main(["pipeline", "run", "--local", "--pipeline-root", root, "--param", f"input_dir={tables}",
                 "--param", f"train_config={train_yaml}", "--param", "train_overrides=--num-epochs 2",
                 "--param", "graph_name=shop", "--param", "run_partition=true"])
    assert code == 0
    (run,) = os.listdir(root)
    return os.path.join(root, run)


def _executor_output(run, task):
    with open(os.path.join(run, task, "executor_output.json"), encoding="utf-8") as f:
        return json.load(f)


def test_every_stage_ran_and_predictions_are_keyed_by_raw_ids(trained):
    assert sorted(os.listdir(trained)) == ["idmap", "infer", "partition", "train", "transform"]
    pred = pq.read_table(os.path.join(trained, "infer", "predictions", "product", "part-00000.parquet"))
    assert pred.num_rows == 40 and pred.column("id")[0].as_py() == "p000000"
    assert set(pred.column("pred").to_pylist()) <= set(CLASSES)


def test_metrics_and_reports_reach_the_ui(trained):
    metrics = _executor_output(trained, "train")["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert {"val_accuracy", "test_accuracy", "best_epoch", "stage_seconds"} <= set(metrics)
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    with open(os.path.join(trained, "train", "model", "metrics.json")) as f:
        assert json.load(f)["test"]["accuracy"] == metrics["test_accuracy"]
    graph_metrics = _executor_output(trained, "idmap")["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert (graph_metrics["num_nodes"], graph_metrics["num_edges"]) == (105, 640)
    part = _executor_output(trained, "partition")["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert 0.0 <= part["edge_cut"] <= 1.0
    with open(os.path.join(trained, "train", "report")) as f:
        html = f.read()
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html and "test | accuracy" in html
    with open(os.path.join(trained, "infer", "report")) as f:
        assert "| predictions | `product` | 40 |" in f.read()


def test_inference_pipeline_applies_saved_transforms_to_new_tables(trained, tmp_path):
    from graphkit.kubeflow.local import run_local
    from graphkit.storage.graph import Graph

    new = str(tmp_path / "new")
    write_shop_dataset(new, ShopSizes(customers=30, products=25, categories=5, purchases=120), seed=7)
    res = run_local("infer", {"input_dir": new, "graph_uri": os.path.join(trained, "idmap", "graph"),
                              "model_uri": os.path.join(trained, "train", "model"), "graph_name": "shop-new"},
                    str(tmp_path / "root"))
    pred = pq.read_table(os.path.join(res.predictions, "product", "part-00000.parquet"))
    assert pred.num_rows == 25 and set(pred.column("pred").to_pylist()) <= set(CLASSES)
    (run,) = os.listdir(res.pipeline_root)
    g = Graph(os.path.join(res.pipeline_root, run, "idmap", "graph"))
    assert g.id_map("category").to_pylist() == Graph(os.path.join(trained, "idmap", "graph")).id_map(
        "category").to_pylist()
    label = g.meta.node_types["product"].labels["class"]
    assert label.classes == list(CLASSES) and label.mask_names[0] == "inference_mask_class"
    assert (g.node_label("product", "class") == -1).all()
