"""Edge features in message passing (RGCN, ``edge_feat_name``): learnable, and identical in layer-wise inference."""

import numpy as np
import pytest
import torch

from graphkit.inference.embeddings import node_embeddings
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph
from graphkit.training.config import parse_train_config
from graphkit.training.trainer import Trainer

E = ("user", "rates", "item")


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Graph:
    """Items are labelled by the sign of the mean feature of their incoming ratings; node features are noise."""
    rng = np.random.default_rng(0)
    n_user, n_item, per_item = 100, 400, 6
    dst = np.repeat(np.arange(n_item), per_item)
    src = rng.integers(0, n_user, dst.size)
    label = rng.integers(0, 2, n_item)
    w = (rng.normal(size=dst.size) + np.where(label[dst] == 1, 1.0, -1.0)).astype(np.float32)[:, None]
    order = rng.permutation(n_item)
    masks = {m: np.zeros(n_item, np.int8) for m in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][order[:240]], masks["val_mask"][order[240:320]], masks["test_mask"][order[320:]] = 1, 1, 1
    path = str(tmp_path_factory.mktemp("ef") / "g")
    graph_from_arrays(path, {"user": n_user, "item": n_item}, {E: (src, dst)},
                      node_features={"user": {"x": rng.normal(size=(n_user, 4)).astype(np.float32)},
                                     "item": {"x": rng.normal(size=(n_item, 4)).astype(np.float32)}},
                      node_labels={"item": {"label": label.astype(np.int64)}}, node_masks={"item": masks},
                      edge_features={E: {"w": w}}, add_reverse_edges=True)
    return Graph(path)


def _cfg(**extra):
    basic = {"node_feat_name": ["user:x", "item:x"], "model_encoder_type": "rgcn", "fanout": "-1,-1",
             "num_layers": 2, "hidden_size": 16, "lr": 0.02, "num_epochs": 15, "batch_size": 64,
             "use_mini_batch_infer": False, **extra}
    return parse_train_config({"gsf": {"basic": basic, "node_classification": {"target_ntype": "item",
                                                                                "label_field": "label"}}})


@pytest.mark.parametrize("op", ["concat", "add"])
def test_edge_features_carry_the_signal(graph, op):
    with_feat = Trainer(graph, _cfg(edge_feat_name=["user,rates,item:w"], edge_feat_mp_op=op), None).fit()
    assert with_feat["test"]["accuracy"] > 0.85, "chance is 0.5; the label is only in the edge features"


def test_without_edge_features_it_is_chance(graph):
    without = Trainer(graph, _cfg(), None).fit()
    assert without["test"]["accuracy"] < 0.7


def test_layerwise_inference_matches_minibatch_with_edge_features(graph):
    trainer = Trainer(graph, _cfg(edge_feat_name=["user,rates,item:w"], num_epochs=1), None)
    model, store = trainer.model.eval(), trainer.store
    full = node_embeddings(model, graph, store, batch_size=97)
    sub = NeighborSampler(graph, "-1,-1").sample_from_nodes({"item": np.arange(50)})
    for b in sub.blocks:
        store.attach_edge_features(b)
    with torch.no_grad():
        h = model.embed(sub, store.fetch(sub.input_nodes))["item"]
    assert torch.allclose(h, full["item"][:50], atol=1e-5)
