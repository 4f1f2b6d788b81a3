"""The custom-model API: the example's encoder and decoder, registered by name, go through the
normal Trainer, layer-wise inference and ``run_inference`` (docs/custom-models.md)."""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from graphkit.errors import ConfigError
from graphkit.inference.embeddings import node_embeddings
from graphkit.inference.run import run_inference
from graphkit.models.decoders import NODE_DECODERS, NodeDecoder, make_node_decoder
from graphkit.models.encoders import ENCODERS
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph
from graphkit.training.config import parse_train_config
from graphkit.training.trainer import Trainer

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
K = 4  # communities = classes; chance accuracy 1 / K

if EXAMPLES not in sys.path:  # as `PYTHONPATH=examples graphkit infer --import custom_encoder` would
    sys.path.insert(0, EXAMPLES)
example = importlib.import_module("custom_encoder")  # registers mean_gin and prototype


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Graph:
    """Users carry their community in their features, items only noise: item labels need the graph."""
    rng = np.random.default_rng(0)
    users, items = 120, 160
    c_user, c_item = rng.integers(0, K, users), rng.permutation(np.arange(items) % K)
    by_class = [np.flatnonzero(c_item == j) for j in range(K)]
    src = np.repeat(np.arange(users), 6)
    dst = np.array([rng.choice(by_class[c_user[u]]) if rng.random() < 0.9 else rng.integers(items) for u in src])
    split = rng.permutation(items)
    masks = {m: np.isin(np.arange(items), part).astype(np.int8)
             for m, part in zip(("train_mask", "val_mask", "test_mask"), np.split(split, [96, 128]))}
    path = str(tmp_path_factory.mktemp("custom") / "g")
    graph_from_arrays(path, {"user": users, "item": items}, {("user", "rates", "item"): (src, dst)},
                      node_features={"user": {"feat": (2 * np.eye(K)[c_user] + 0.5 * rng.normal(size=(users, K)))
                                              .astype(np.float32)},
                                     "item": {"feat": rng.normal(size=(items, 3)).astype(np.float32)}},
                      node_labels={"item": {"label": c_item.astype(np.int64)}}, node_masks={"item": masks},
                      add_reverse_edges=True)
    return Graph(path)


def _config(**options):
    basic = {"node_feat_name": ["user:feat", "item:feat"], "model_encoder_type": "mean_gin", "fanout": "5,5",
             "num_layers": 2, "hidden_size": 16, "lr": 0.02, "num_epochs": 8, "batch_size": 32, "seed": 0,
             "use_mini_batch_infer": False, **options}
    return parse_train_config({"gsf": {"basic": basic, "node_classification": {
        "target_ntype": "item", "label_field": "label", "num_classes": K, "decoder_type": "prototype"}}})


@pytest.fixture(scope="module")
def trained(graph, tmp_path_factory):
    save = str(tmp_path_factory.mktemp("model"))
    trainer = Trainer(graph, _config(), save)
    return trainer, trainer.fit(), save


def test_registration_by_name():
    assert ENCODERS["mean_gin"] is example.mean_gin
    assert NODE_DECODERS["prototype"] is example.PrototypeDecoder
    assert isinstance(make_node_decoder(None, 8, 3), NodeDecoder)  # the default: linear
    assert make_node_decoder("mlp", 8, 3).hidden == 8


def test_custom_encoder_and_decoder_train_through_the_trainer(trained):
    trainer, metrics, _ = trained
    assert isinstance(trainer.model.encoder, example.MeanGIN)
    assert isinstance(trainer.model.decoders[trainer.tasks[0].name], example.PrototypeDecoder)
    losses = [h["loss"] for h in metrics["history"]]
    assert losses[-1] < 0.5 * losses[0], losses
    assert metrics["test"]["accuracy"] > 1 / K + 0.4, f"chance is {1 / K}"


def test_layerwise_inference_equals_minibatch_and_the_forward_only_fallback(graph, trained):
    trainer, _, _ = trained
    model = trainer.model.eval()
    emb = node_embeddings(model, graph, trainer.store, batch_size=50)  # MeanGIN.layer_forward, layer by layer
    assert {t: tuple(v.shape) for t, v in emb.items()} == {"user": (120, 16), "item": (160, 16)}
    ids = np.array([5, 0, 159, 77])
    sub = NeighborSampler(graph, [-1, -1]).sample_from_nodes({"item": ids})
    with torch.no_grad():
        mb = model.embed(sub, trainer.store.fetch(sub.input_nodes))["item"]
    assert torch.allclose(mb, emb["item"][ids], atol=1e-5)

    class ForwardOnly(nn.Module):  # an encoder without layer_forward: whole-encoder inference per chunk
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner, self.num_layers, self.out_dim = inner, inner.num_layers, inner.out_dim

        def forward(self, blocks, h):
            return self.inner(blocks, h)

    encoder = model.encoder
    model.encoder = ForwardOnly(encoder)
    try:
        fallback = node_embeddings(model, graph, trainer.store, batch_size=50)
    finally:
        model.encoder = encoder
    assert all(torch.allclose(fallback[t], emb[t], atol=1e-5) for t in emb)


def test_run_inference_rebuilds_the_custom_model_from_its_checkpoint(graph, trained, tmp_path):
    _, metrics, save = trained
    res = run_inference(graph, save, save_prediction_path=str(tmp_path / "pred"))
    table = pq.read_table(os.path.join(res.predictions["node_classification:item"], "part-00000.parquet"))
    pred = np.asarray(table.column("pred").to_pylist())
    test = np.asarray(graph.node_mask("item", "test_mask")).astype(bool)
    truth = np.asarray(graph.node_label("item", "label"))
    # full-neighbour evaluation (use_mini_batch_infer: false) = layer-wise inference of the best epoch
    assert float((pred[test] == truth[test]).mean()) == pytest.approx(metrics["test"]["accuracy"], abs=1e-12)


def test_unregistered_names_are_config_errors(graph):
    with pytest.raises(ConfigError, match="model_encoder_type") as e:
        Trainer(graph, _config(model_encoder_type="mean_gn"))
    assert "mean_gin" in str(e.value) and "custom-models.md" in str(e.value)
    cfg = _config()
    cfg.tasks[0].options["decoder_type"] = "prototypes"
    with pytest.raises(ConfigError, match="node decoder"):
        Trainer(graph, cfg)


def test_cli_imports_the_module_that_registers_the_model(graph, trained, tmp_path):
    from graphkit.cli.main import main

    _, _, save = trained
    out = str(tmp_path / "emb")
    args = ["--log-level", "warning", "infer", "--part-config", graph.root, "--restore-model-path", save,
            "--save-embed-path", out]
    assert main(args) == 0  # already imported here; a fresh process needs --import
    assert main(args + ["--import", "custom_encoder"]) == 0
    emb = pq.read_table(os.path.join(out, "item", "part-00000.parquet"))
    assert emb.num_rows == 160 and len(emb.column("embedding")[0]) == 16
    assert main(args + ["--import", "no_such_module_xyz"]) == 2

