"""Every task kind learns the planted signal of the toy graph (see conftest.py), through the Trainer.

Each test states its chance level; the toy graph's item features are noise, so
beating chance needs message passing (checked with the MLP encoder). The
parametrized smokes cover every decoder, link scorer, loss and negative
sampler: two epochs, finite losses, the second epoch's below the first.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from toy_graph import LP, NC, NUM_CLASSES, RATES, make_config

from graphkit.errors import ConfigError
from graphkit.models.decoders import BilinearEdgeDecoder, MLPEdgeDecoder, MLPEFeatEdgeDecoder
from graphkit.models.decoders.link import DistMult, DotProduct, RotatE, TransE
from graphkit.training.trainer import Trainer

CHANCE_NC = 1.0 / NUM_CLASSES  # balanced communities


def _fit(graph, cfg) -> tuple[Trainer, dict]:
    trainer = Trainer(graph, cfg)
    return trainer, trainer.fit()


def _losses(metrics: dict) -> list[float]:
    return [h["loss"] for h in metrics["history"]]


def _mrr_chance(num_candidates: int) -> float:
    """E[1/rank] for a positive ranked uniformly among ``num_candidates`` scores."""
    return sum(1.0 / r for r in range(1, num_candidates + 1)) / num_candidates


def _std(graph, owner, label: str, node: bool) -> float:
    if node:
        y = np.asarray(graph.node_label(owner, label))
        m = np.asarray(graph.node_mask(owner, "test_mask")).astype(bool)
    else:
        meta = graph.meta.edge_type(owner)
        y = np.asarray(graph.load(meta.labels[label].array))
        m = np.asarray(graph.edge_mask(owner, "test_mask")).astype(bool)
    return float(y[m].std())


# ---------------------------------------------------------------- learning the planted signal

def test_node_classification_learns_what_features_alone_cannot(toy_graph):
    _, gnn = _fit(toy_graph, make_config(NC))
    losses = _losses(gnn)
    assert losses[-1] < 0.3 * losses[0], losses
    acc = gnn["test"]["accuracy"]
    assert acc > CHANCE_NC + 0.5, f"test accuracy {acc:.3f}, chance {CHANCE_NC:.2f}"
    _, mlp = _fit(toy_graph, make_config(NC, model_encoder_type="mlp", num_layers=1))
    assert mlp["test"]["accuracy"] < CHANCE_NC + 0.15, "item features are noise: no graph, no signal"


def test_multilabel_node_classification(toy_graph):
    task = {"node_classification": {"target_ntype": "item", "label_field": "tags", "multilabel": True,
                                    "num_classes": NUM_CLASSES + 1}}
    _, m = _fit(toy_graph, make_config(task))
    losses = _losses(m)
    assert losses[-1] < 0.5 * losses[0], losses
    # exact-match accuracy; the label sets are the NUM_CLASSES equally likely communities
    acc = m["test"]["accuracy"]
    assert acc > CHANCE_NC + 0.5, f"exact-match accuracy {acc:.3f}, chance {CHANCE_NC:.2f}"


def test_node_regression(toy_graph):
    task = {"node_regression": {"target_ntype": "item", "label_field": "score"}}
    _, m = _fit(toy_graph, make_config(task, num_epochs=15))
    losses = _losses(m)
    assert losses[-1] < 0.2 * losses[0], losses
    chance = _std(toy_graph, "item", "score", node=True)  # RMSE of predicting the mean
    assert m["metric"] == "rmse"
    assert m["test"]["rmse"] < 0.5 * chance, f"test RMSE {m['test']['rmse']:.3f}, chance (std) {chance:.3f}"


def test_edge_classification(toy_graph):
    task = {"edge_classification": {"target_etype": "user,rates,item", "label_field": "cls",
                                    "num_classes": NUM_CLASSES}}
    trainer, m = _fit(toy_graph, make_config(task, batch_size=128))
    assert isinstance(trainer.model.decoders[trainer.tasks[0].name], BilinearEdgeDecoder)  # GraphStorm's default
    losses = _losses(m)
    assert losses[-1] < 0.5 * losses[0], losses
    acc = m["test"]["accuracy"]
    assert acc > CHANCE_NC + 0.5, f"test accuracy {acc:.3f}, chance {CHANCE_NC:.2f}"


def test_edge_regression(toy_graph):
    task = {"edge_regression": {"target_etype": "user,rates,item", "label_field": "value"}}
    _, m = _fit(toy_graph, make_config(task, batch_size=128, num_epochs=10))
    losses = _losses(m)
    assert losses[-1] < 0.3 * losses[0], losses
    chance = _std(toy_graph, RATES, "value", node=False)
    assert m["test"]["rmse"] < 0.5 * chance, f"test RMSE {m['test']['rmse']:.3f}, chance (std) {chance:.3f}"


def test_link_prediction(toy_graph):
    _, m = _fit(toy_graph, make_config(LP, batch_size=128))
    losses = _losses(m)
    assert losses[-1] < 0.8 * losses[0], losses
    chance = _mrr_chance(1 + 2 * 10)  # 10 corrupted sources + 10 corrupted destinations per edge
    mrr = m["test"]["mrr"]
    assert mrr > 1.8 * chance, f"test MRR {mrr:.3f}, chance {chance:.3f}"


def test_multi_task_node_classification_and_link_prediction(toy_graph):
    tasks = {"multi_task": [
        {"node_classification": {**NC["node_classification"], "task_weight": 1.0}},
        {"link_prediction": {**LP["link_prediction"], "task_weight": 0.5}},
    ]}
    trainer, m = _fit(toy_graph, make_config(tasks, batch_size=128))
    nc, lp = (t.name for t in trainer.tasks)
    assert [t.weight for t in trainer.tasks] == [1.0, 0.5]
    assert m["task"] == "multi_task" and m["tasks"] == [nc, lp]
    assert set(m["test"]) == {nc, lp}
    assert _losses(m)[-1] < 0.5 * _losses(m)[0]
    assert m["test"][nc]["accuracy"] > CHANCE_NC + 0.5, f"chance {CHANCE_NC:.2f}"
    chance = _mrr_chance(21)
    assert m["test"][lp]["mrr"] > 1.8 * chance, f"test MRR {m['test'][lp]['mrr']:.3f}, chance {chance:.3f}"


# ---------------------------------------------------------------- smokes: every decoder, scorer, loss, sampler

def _smoke(graph, cfg) -> Trainer:
    trainer, m = _fit(graph, cfg)
    losses = _losses(m)
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), losses
    assert losses[1] < losses[0], losses
    return trainer


SMOKE = {"num_epochs": 2, "no_validation": True, "batch_size": 128}


@pytest.mark.parametrize("decoder, extra, cls", [
    ("DenseBiDecoder", {}, BilinearEdgeDecoder),
    ("MLPDecoder", {}, MLPEdgeDecoder),
    ("MLPEFeatEdgeDecoder", {"decoder_edge_feat": "w"}, MLPEFeatEdgeDecoder),
])
@pytest.mark.parametrize("kind, label", [("edge_classification", "cls"), ("edge_regression", "value")])
def test_edge_decoders(toy_graph, decoder, extra, cls, kind, label):
    task = {kind: {"target_etype": "user,rates,item", "label_field": label, "decoder_type": decoder, **extra}}
    trainer = _smoke(toy_graph, make_config(task, **SMOKE))
    dec = trainer.model.decoders[trainer.tasks[0].name]
    assert isinstance(dec, cls) and dec.regression == (kind == "edge_regression")


@pytest.mark.parametrize("scorer, cls", [("dot_product", DotProduct), ("distmult", DistMult), ("rotate", RotatE),
                                         ("transe_l1", TransE), ("transe_l2", TransE)])
def test_link_scorers(toy_graph, scorer, cls):
    task = {"link_prediction": {**LP["link_prediction"], "lp_decoder_type": scorer}}
    trainer = _smoke(toy_graph, make_config(task, **SMOKE))
    assert isinstance(trainer.model.decoders[trainer.tasks[0].name], cls)


@pytest.mark.parametrize("loss", ["cross_entropy", "contrastive", "bpr", "logsigmoid"])
def test_link_prediction_losses(toy_graph, loss):
    task = {"link_prediction": {**LP["link_prediction"], "lp_loss_func": loss, "lp_embed_normalizer": "l2_norm"}}
    _smoke(toy_graph, make_config(task, **SMOKE))


@pytest.mark.parametrize("sampler", ["uniform", "joint", "inbatch_joint"])
def test_negative_samplers(toy_graph, sampler):
    task = {"link_prediction": {**LP["link_prediction"], "train_negative_sampler": sampler}}
    _smoke(toy_graph, make_config(task, **SMOKE))


@pytest.mark.parametrize("loss, label, extra", [
    ("cross_entropy", "label", {"num_classes": NUM_CLASSES}),
    ("focal", "low", {}),  # binary
    ("focal", "tags", {"multilabel": True, "num_classes": NUM_CLASSES + 1}),
], ids=["cross_entropy", "focal-binary", "focal-multilabel"])
def test_classification_losses(toy_graph, loss, label, extra):
    task = {"node_classification": {"target_ntype": "item", "label_field": label, "class_loss_func": loss, **extra}}
    _smoke(toy_graph, make_config(task, **SMOKE))


def test_focal_loss_on_many_classes_is_a_config_error(toy_graph):
    task = {"node_classification": {**NC["node_classification"], "class_loss_func": "focal"}}
    with pytest.raises(ConfigError, match="binary or multi-label"):
        Trainer(toy_graph, make_config(task, **SMOKE))
