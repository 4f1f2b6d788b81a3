"""The training loop: what a run leaves on disk, exact resume, top-k checkpoints, early stopping,
gradient clipping, the sparse embedding optimizer, and ``graphkit train`` / ``graphkit infer``."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from toy_graph import LP, NC, RATES, make_config

from graphkit.construct.construct import construct_graph
from graphkit.datasets.synthetic import CLASSES, ShopSizes, write_shop_dataset, write_shop_train_config
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph
from graphkit.training.trainer import Trainer

REQUIRED = {"task": str, "metric": str, "best_epoch": int, "val": dict, "test": dict, "epoch_times_s": list,
            "eval_times_s": list, "total_time_s": float, "peak_rss_mb": float, "seed": int}
EXTRA = {"tasks": list, "history": list}  # the task names and the per-epoch losses and metrics


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


# ---------------------------------------------------------------- what a run writes

@pytest.fixture(scope="module")
def run_dir(toy_graph, tmp_path_factory) -> str:
    save = str(tmp_path_factory.mktemp("run") / "model")
    Trainer(toy_graph, make_config(NC, num_epochs=3, seed=7), save).fit()
    return save


def test_metrics_json_has_exactly_the_documented_fields(run_dir):
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
        m = json.load(f)
    assert set(m) == set(REQUIRED) | set(EXTRA)
    for key, typ in {**REQUIRED, **EXTRA}.items():
        assert isinstance(m[key], typ), (key, type(m[key]))
    assert m["task"] == "node_classification" and m["metric"] == "accuracy" and m["seed"] == 7
    assert 0 <= m["best_epoch"] < 3
    assert set(m["val"]) == set(m["test"]) == {"accuracy"} and 0.0 <= m["test"]["accuracy"] <= 1.0
    assert len(m["epoch_times_s"]) == len(m["eval_times_s"]) == len(m["history"]) == 3
    assert all(isinstance(t, float) and t > 0 for t in m["epoch_times_s"] + m["eval_times_s"])
    assert m["total_time_s"] >= sum(m["epoch_times_s"]) + sum(m["eval_times_s"])
    assert m["peak_rss_mb"] > 10
    best = m["history"][m["best_epoch"]]
    assert best["val"][m["tasks"][0]] == m["val"] and best["test"][m["tasks"][0]] == m["test"]
    assert m["val"]["accuracy"] == max(h["val"][m["tasks"][0]]["accuracy"] for h in m["history"])


def test_curves_tensorboard_and_checkpoints_are_written(run_dir):
    assert os.path.getsize(os.path.join(run_dir, "training_curves.png")) > 1000
    with open(os.path.join(run_dir, "training_curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    events = glob.glob(os.path.join(run_dir, "tensorboard", "events.out.tfevents.*"))
    assert len(events) == 1 and os.path.getsize(events[0]) > 0
    files = [os.path.join(run_dir, "model.pt")] + sorted(glob.glob(os.path.join(run_dir, "checkpoints", "*.pt")))
    assert [os.path.basename(f) for f in files[1:]][-1] == "last.pt"
    for path in files:
        ck = torch.load(path, map_location="cpu", weights_only=True)  # no pickled objects
        assert {"model", "optimizers", "config", "epoch", "state", "torch_rng"} <= set(ck)
        assert ck["config"]["tasks"][0]["kind"] == "node_classification"
    last = torch.load(files[-1], weights_only=True)
    assert last["epoch"] == 2 and last["state"]["epoch"] == 3 and "dense" in last["optimizers"]


# ---------------------------------------------------------------- resume, top-k, early stopping

def test_resume_continues_exactly(toy_graph, tmp_path):
    opts = {"seed": 3, "dropout": 0.3, "input_dropout": 0.1, "batch_size": 32}  # dropout: the RNG state matters
    straight = Trainer(toy_graph, make_config(NC, num_epochs=4, **opts), str(tmp_path / "a"))
    m_straight = straight.fit()

    first = Trainer(toy_graph, make_config(NC, num_epochs=2, **opts), str(tmp_path / "b"))
    first.fit()
    resumed = Trainer(toy_graph, make_config(NC, num_epochs=4, **opts), str(tmp_path / "b"))
    assert resumed.resume_if_possible() and resumed.run.epoch == 2
    m_resumed = resumed.fit()

    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert m_resumed["history"] == m_straight["history"]
    assert (m_resumed["best_epoch"], m_resumed["val"], m_resumed["test"]) == (
        m_straight["best_epoch"], m_straight["val"], m_straight["test"])
    assert len(m_resumed["epoch_times_s"]) == 4
    for k, o in straight.optimizers.items():  # Adam moments too
        sa, sb = o.state_dict()["state"], resumed.optimizers[k].state_dict()["state"]
        assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)


def test_resume_without_checkpoint_starts_fresh(toy_graph, tmp_path):
    assert not Trainer(toy_graph, make_config(NC), str(tmp_path / "none")).resume_if_possible()
    assert not Trainer(toy_graph, make_config(NC), None).resume_if_possible()


def test_topk_model_to_save_keeps_the_k_best_epochs(toy_graph, tmp_path):
    save = str(tmp_path / "m")
    m = Trainer(toy_graph, make_config(NC, num_epochs=5, topk_model_to_save=2, lr=0.005), save).fit()
    val = [h["val"][m["tasks"][0]]["accuracy"] for h in m["history"]]
    best_two = sorted(range(5), key=lambda e: -val[e])[:2]  # ties: the earlier epoch
    kept = sorted(os.listdir(os.path.join(save, "checkpoints")))
    assert kept == sorted([f"epoch-{e}.pt" for e in best_two] + ["last.pt"])
    assert m["best_epoch"] == best_two[0]
    assert torch.load(os.path.join(save, "model.pt"), weights_only=True)["epoch"] == best_two[0]


def test_early_stopping_stops_when_validation_stalls(toy_graph):
    # lr 0: the validation metric is flat, so the run stops once burn-in + rounds epochs have been seen
    cfg = make_config(NC, num_epochs=20, lr=0.0, use_early_stop=True, early_stop_burnin_rounds=1,
                      early_stop_rounds=2)
    m = Trainer(toy_graph, cfg).fit()
    assert len(m["history"]) == len(m["epoch_times_s"]) == 4
    no_stop = make_config(NC, num_epochs=5, lr=0.0)
    assert len(Trainer(toy_graph, no_stop).fit()["history"]) == 5


# ---------------------------------------------------------------- optimisation details

def _max_change(toy_graph, **opts) -> float:
    trainer = Trainer(toy_graph, make_config(NC, num_epochs=1, no_validation=True, **opts))
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.fit()
    return max(float((p.detach() - before[n]).abs().max()) for n, p in trainer.model.named_parameters())


def test_gradient_clipping_acts_before_the_optimizer_step(toy_graph):
    """Adam is scale-invariant, except below its eps (1e-8): clipped to a norm of 1e-10, every
    element of an update is at most lr * 1e-10 / 1e-8 = lr / 100. Three steps, lr 1: changes stay
    under 0.03; unclipped (or clipped after the step) they are about lr per step."""
    assert _max_change(toy_graph, lr=1.0) > 0.5
    assert _max_change(toy_graph, lr=1.0, max_grad_norm=1e-10) < 0.031


def test_sparse_optimizer_moves_only_embedding_rows_seen_in_a_batch(toy_graph):
    # users get learnable embeddings (no features); with use_node_embeddings items get one too
    cfg = make_config(NC, num_epochs=1, no_validation=True, node_feat_name=["item:feat"], use_node_embeddings=True,
                      num_layers=1, fanout="1")
    trainer = Trainer(toy_graph, cfg)
    emb = trainer.model.input.embeddings
    assert set(emb) == {"user", "item"} and "sparse" in trainer.optimizers
    before = {t: e.weight.detach().clone() for t, e in emb.items()}
    seen: dict[str, set] = {"user": set(), "item": set()}
    loader = trainer.tasks[0].train_batches(trainer.seed)
    loader.set_epoch(0)
    for mb in loader:  # the batches fit() will draw
        for t, ids in mb.subgraph.input_nodes.items():
            seen[t] |= set(ids.tolist())
    trainer.fit()
    for t, e in emb.items():
        changed = set(torch.nonzero((e.weight.detach() != before[t]).any(1)).flatten().tolist())
        assert changed == seen[t], t
        assert 0 < len(changed) < toy_graph.num_nodes(t)  # some rows were never in a batch


# ---------------------------------------------------------------- the CLI

@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[str, str]:
    base = tmp_path_factory.mktemp("shop")
    sizes = ShopSizes(customers=200, products=150, categories=10, purchases=1500, dim=4)
    conf = write_shop_dataset(str(base / "tables"), sizes, seed=0)
    construct_graph(conf, str(base / "graph"), "shop", add_reverse_edges=True, seed=0)
    return str(base / "graph"), write_shop_train_config(str(base / "train_nc.yaml"))


def test_cli_train_with_overrides_then_infer_predicts_by_raw_id(shop, tmp_path):
    from graphkit.cli.main import main

    graph_dir, yaml_path = shop
    model = str(tmp_path / "model")
    assert main(["--log-level", "warning", "train", "--part-config", graph_dir, "--cf", yaml_path,
                 "--save-model-path", model, "--num-epochs", "2", "--lr", "0.01", "--hidden-size", "16"]) == 0
    with open(os.path.join(model, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    assert len(metrics["epoch_times_s"]) == 2
    ck = torch.load(os.path.join(model, "model.pt"), weights_only=True)
    assert ck["config"]["options"]["lr"] == 0.01 and ck["config"]["options"]["hidden_size"] == 16
    assert ck["epoch"] == metrics["best_epoch"]

    preds = str(tmp_path / "pred")
    assert main(["--log-level", "warning", "infer", "--part-config", graph_dir, "--restore-model-path", model,
                 "--save-prediction-path", preds, "--save-embed-path", str(tmp_path / "emb")]) == 0
    table = pq.read_table(os.path.join(preds, "product", "part-00000.parquet"))
    graph = Graph(graph_dir)
    assert table.column("id").to_pylist() == graph.id_map("product").to_pylist()  # raw IDs, in node-ID order
    assert table.column("id")[0].as_py().startswith("p")
    assert set(table.column("pred").to_pylist()) <= set(CLASSES)
    emb = pq.read_table(os.path.join(str(tmp_path / "emb"), "customer", "part-00000.parquet"))
    assert emb.num_rows == graph.num_nodes("customer") and emb.column("id")[0].as_py().startswith("c")

    # full-graph inference reproduces the evaluation of the saved (best) epoch (use_mini_batch_infer: false)
    label = graph.meta.node_type("product").labels["class"]
    truth = np.array(label.classes, dtype=object)[np.asarray(graph.node_label("product", "class"))]
    test = np.asarray(graph.node_mask("product", label.mask_names[2])).astype(bool)
    pred = np.array(table.column("pred").to_pylist(), dtype=object)
    assert float((pred[test] == truth[test]).mean()) == pytest.approx(metrics["test"]["accuracy"], abs=1e-12)


def test_edge_predictions_use_the_decoder_edge_features(toy_graph, tmp_path):
    from graphkit.inference.run import run_inference

    task = {"edge_classification": {"target_etype": "user,rates,item", "label_field": "cls", "num_classes": 5,
                                    "decoder_edge_feat": "w"}}
    save = str(tmp_path / "m")
    m = Trainer(toy_graph, make_config(task, num_epochs=2, batch_size=128, use_mini_batch_infer=False), save).fit()
    res = run_inference(toy_graph, save, save_prediction_path=str(tmp_path / "pred"))
    table = pq.read_table(os.path.join(res.predictions[m["tasks"][0]], "part-00000.parquet"))
    src, dst = (np.asarray(a) for a in toy_graph.edges(RATES))
    assert table.column("src_id").to_pylist() == src.tolist() and table.column("dst_id").to_pylist() == dst.tolist()
    label = toy_graph.meta.edge_type(RATES).labels["cls"]
    truth = np.asarray(toy_graph.load(label.array))
    test = np.asarray(toy_graph.edge_mask(RATES, "test_mask")).astype(bool)
    pred = np.asarray(table.column("pred"))
    assert float((pred[test] == truth[test]).mean()) == pytest.approx(m["test"]["accuracy"], abs=1e-12)


def test_constructed_features_are_neighbour_means(tmp_path):
    import numpy as np

    from graphkit.loading.features import FeatureStore
    from graphkit.storage.build import graph_from_arrays
    from graphkit.storage.graph import Graph

    e = ("a", "to", "b")
    x = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]], np.float32)
    graph_from_arrays(str(tmp_path / "g"), {"a": 3, "b": 2}, {e: (np.array([0, 1, 2]), np.array([0, 0, 1]))},
                      node_features={"a": {"x": x}})
    store = FeatureStore(Graph(str(tmp_path / "g")), {"a": ["x"]}, construct=["b"])
    assert store.dim("b") == 2
    got = store.fetch({"b": torch.tensor([0, 1])})["b"]
    assert torch.allclose(got, torch.tensor([[2.0, 1.0], [5.0, 4.0]]))


def test_unimplemented_graphstorm_options_warn_and_invented_ones_are_rejected(caplog):
    from graphkit.errors import ConfigError
    from graphkit.training.config import parse_train_config

    task = {"node_classification": {"target_ntype": "item"}}
    with caplog.at_level("WARNING"):
        parse_train_config({"gsf": {"hyperparam": {"alpha_l2norm": 0.1}, **task}})
    assert "alpha_l2norm" in caplog.text and "no effect" in caplog.text
    with pytest.raises(ConfigError, match="unknown option 'sampler'"):
        parse_train_config({"gsf": {"gnn": {"sampler": "saint_node"}, **task}})


def test_control_variate_rejects_link_prediction(toy_graph):
    from graphkit.errors import ConfigError

    cfg = make_config({"link_prediction": {"train_etype": ["user,rates,item"]}}, model_encoder_type="sage",
                      control_variate=True)
    with pytest.raises(ConfigError, match="node tasks only"):
        Trainer(toy_graph, cfg, None)


def test_lp_eval_etype_is_read(toy_graph):
    from graphkit.errors import ConfigError

    lp = {"train_etype": ["user,rates,item"], "num_negative_edges": 4, "num_negative_edges_eval": 5}
    ok = Trainer(toy_graph, make_config({"link_prediction": {**lp, "eval_etype": ["user,rates,item"]}},
                                        num_epochs=1), None)
    assert ok.tasks[0].eval_etypes == [RATES]
    with pytest.raises(ConfigError, match="not in the graph"):
        Trainer(toy_graph, make_config({"link_prediction": {**lp, "eval_etype": ["user,likes,item"]}}), None)


def test_a_task_without_validation_rows_keeps_the_last_epoch_as_the_model(tmp_path, caplog):
    """Link prediction on a graph whose edges carry no masks: every edge trains, none validates. There is no
    model selection then, so the last epoch is the model (before: no model.pt was written at all)."""
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 40, 300), rng.integers(0, 60, 300)
    graph_from_arrays(str(tmp_path / "g"), {"user": 40, "item": 60}, {RATES: (src, dst)},
                      node_features={"user": {"feat": rng.normal(size=(40, 7)).astype(np.float32)},
                                     "item": {"feat": rng.normal(size=(60, 4)).astype(np.float32)}},
                      add_reverse_edges=True)
    save = str(tmp_path / "model")
    with caplog.at_level("WARNING", logger="graphkit.training.trainer"):
        m = Trainer(Graph(str(tmp_path / "g")), make_config(LP, num_epochs=2), save).fit()
    assert m["best_epoch"] == 1 and len(m["history"]) == 2
    assert os.path.exists(os.path.join(save, "model.pt"))
    assert torch.load(os.path.join(save, "model.pt"), weights_only=False)["epoch"] == 1
    assert sum("has no validation split" in r.message for r in caplog.records) == 1
