"""LM+GNN co-training inside ``graphkit train`` (GraphStorm's BERT+GNN): config options, which
LM weights a step moves, frozen warm-up epochs, the LM learning rate, learning, and inference
from the saved model. The LM is a tiny random BERT; the graph is ``text_graph.py``."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from text_graph import BASE, NC, NUM_PAPERS, build_text_graph, lm_config, write_tiny_bert

from graphkit.errors import ConfigError, GraphkitError
from graphkit.inference.embeddings import node_embeddings
from graphkit.inference.run import run_inference
from graphkit.loading.features import TextFeatures
from graphkit.storage.graph import Graph
from graphkit.training.config import apply_overrides, load_train_config, parse_train_config
from graphkit.training.optimizers import build_optimizers
from graphkit.training.trainer import Trainer, setup

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def text_graph(tmp_path_factory) -> Graph:
    return build_text_graph(str(tmp_path_factory.mktemp("text") / "graph"))


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> str:
    return write_tiny_bert(str(tmp_path_factory.mktemp("bert") / "model"))


def _lm_params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.input.lm[0].lm.state_dict().items()}


# ---------------------------------------------------------------- config

def test_config_reads_graphstorm_lm_options():
    entry = {"lm_type": "bert", "model_name": "m", "gradient_checkpoint": True, "node_types": ["paper"]}
    cfg = parse_train_config({"gsf": {"basic": BASE, "lm": {"node_lm_configs": [entry], "lm_train_nodes": 10,
                                                            "lm_infer_batch_size": 64, "lm_tune_lr": 1e-5,
                                                            "freeze_lm_encoder_epochs": 2, "cache_lm_embed": True},
                                      **NC}})
    assert (cfg.lm_train_nodes, cfg.lm_infer_batch_size, cfg.lm_tune_lr) == (10, 64, 1e-5)
    assert (cfg.freeze_lm_encoder_epochs, cfg.cache_lm_embed, cfg.node_lm_configs) == (2, True, [entry])
    # GraphStorm's defaults: no LM trained unless lm_train_nodes says so
    plain = parse_train_config({"gsf": {"basic": BASE, **NC}})
    assert (plain.node_lm_configs, plain.lm_train_nodes, plain.lm_infer_batch_size, plain.lm_tune_lr,
            plain.freeze_lm_encoder_epochs, plain.cache_lm_embed) == (None, 0, 32, None, 0, False)
    # GraphStorm's older layout: a top-level lm_model with node_lm_models
    old = parse_train_config({"lm_model": {"node_lm_models": [entry]}, "gsf": {"basic": BASE, **NC}})
    assert old.node_lm_configs == [entry]
    # a command-line override of the whole list, as YAML
    apply_overrides(plain, {"node_lm_configs": "[{lm_type: bert, model_name: other, node_types: [paper]}]"})
    assert plain.node_lm_configs == [{"lm_type": "bert", "model_name": "other", "node_types": ["paper"]}]


@pytest.mark.parametrize("lm, match", [
    ({"lm_train_nodes": -2}, "lm_train_nodes must be >= -1"),
    ({"lm_infer_batch_size": 0}, "lm_infer_batch_size must be >= 1"),
    ({"freeze_lm_encoder_epochs": -1}, "freeze_lm_encoder_epochs must be >= 0"),
    ({"lm_tune_lr": 0.0}, "lm_tune_lr must be > 0"),
    ({"node_lm_configs": []}, "non-empty list"),
    ({"node_lm_configs": [{"lm_type": "bert", "model_name": "m", "node_type": ["paper"]}]},
     "unknown key 'node_type'.*Did you mean 'node_types'"),
    ({"node_lm_configs": [{"lm_type": "bert", "node_types": ["paper"]}]}, r"node_lm_configs\[0\].*missing model_name"),
    ({"node_lm_configs": [{"lm_type": "bert", "model_name": "m", "node_types": ["paper"], "pooling": "max"}]},
     "unknown pooling 'max'"),
    ({"node_lm_configs": [{"lm_type": "bert", "model_name": "m", "node_types": ["paper"], "lora_alpha": 16}]},
     r"node_lm_configs\[0\]\.lora_rank.*need lora_rank > 0"),
    ({"node_lm_configs": [{"lm_type": "bert", "model_name": "m", "node_types": ["paper"], "lora_rank": -1}]},
     "lora_rank must be >= 0"),
    ({"node_lm_configs": [{"lm_type": "bert", "model_name": "m", "node_types": ["paper"], "lora_rank": 4,
                           "lora_dropout": 1.5}]}, r"node_lm_configs\[0\]\.lora_dropout.*must be in \[0, 1\)"),
    ({"node_lm_configs": [{"lm_type": "bert", "model_name": "m", "node_types": ["paper"], "lora_rank": 4,
                           "lora_targets": "query"}]}, r"lora_targets.*expected list"),
    ({"node_lm_configs": [{"lm_type": "bert", "model_name": "m", "node_types": ["paper"], "precision": "fp16"}]},
     r"node_lm_configs\[0\]\.precision.*unknown precision 'fp16'"),
    ({"node_lm_configs": [{"lm_type": "bert", "model_name": "m", "node_types": ["paper"]},
                          {"lm_type": "bert", "model_name": "n", "node_types": ["paper"]}]},
     "one language model per node type"),
])
def test_bad_lm_options_are_clear_errors(lm, match):
    with pytest.raises(ConfigError, match=match):
        parse_train_config({"gsf": {"basic": BASE, "lm": lm, **NC}})


def test_unknown_node_type_and_node_type_without_tokens(text_graph, bert):
    with pytest.raises(ConfigError, match=r"node_lm_configs\[0\]\.node_types: node type 'papers' is not in the graph"
                                          r".*Did you mean 'paper'"):
        setup(text_graph, lm_config(bert, node_types=("papers",)))
    with pytest.raises(ConfigError, match="node type 'author' has no token features.*tokenize_hf"):
        setup(text_graph, lm_config(bert, node_types=("paper", "author")))
    with pytest.raises(GraphkitError, match=r"node_lm_configs\[0\]\.model_name: cannot load the model"):
        setup(text_graph, lm_config(bert + "-missing"))


# ---------------------------------------------------------------- what a step trains

def test_fetch_gives_tokens_and_float_features_of_text_types(text_graph, bert):
    store, _, model = setup(text_graph, lm_config(bert))
    assert store.text_types == ["paper"] and store.dim("paper") == 2 and store.dim("author") == 4
    x = store.fetch({"paper": torch.tensor([3, 0]), "author": torch.tensor([1])})
    assert isinstance(x["paper"], TextFeatures) and x["author"].shape == (1, 4)
    ids = np.asarray(text_graph.node_feature("paper", "input_ids"))
    np.testing.assert_array_equal(x["paper"].input_ids.numpy(), ids[[3, 0]])
    np.testing.assert_array_equal(x["paper"].dense.numpy(),
                                  np.asarray(text_graph.node_feature("paper", "feat"))[[3, 0]])
    # the projection of paper reads [LM output (16), feat (2)]
    assert model.input.proj["paper"].in_features == 16 + 2 and "paper" not in model.input.embeddings


def test_a_step_moves_only_the_word_embeddings_of_the_lm_train_nodes(text_graph, bert):
    cfg = lm_config(bert, lm_train_nodes=6, lm_tune_lr=0.01)
    torch.manual_seed(0)
    _, tasks, model = setup(text_graph, cfg)
    opt = build_optimizers(model, cfg)
    model.train()
    loader = tasks[0].train_batches(0)
    loader.set_epoch(0)
    mb = next(iter(loader))
    words = model.input.lm[0].lm.embeddings.word_embeddings.weight
    before = words.detach().clone()
    loss = tasks[0].loss(model, mb)
    loss.backward()
    opt["dense"].step()

    papers = mb.subgraph.input_nodes["paper"]
    trained = model.input.lm[0].last_trained["paper"]
    assert torch.equal(trained, papers[:6])  # the batch's first input nodes: its seeds
    assert torch.equal(trained, mb.seeds["paper"][:6])
    ids = np.asarray(text_graph.node_feature("paper", "input_ids"))
    trained_tokens = set(ids[trained.numpy()].ravel()) - {0}  # [PAD] never gets a gradient
    other_tokens = set(ids[papers[6:].numpy()].ravel()) - trained_tokens
    changed = set(torch.nonzero((words.detach() != before).any(1)).ravel().tolist())
    assert len(other_tokens) > 5  # tokens only forward-only nodes have: these rows must not move
    assert changed == trained_tokens


@pytest.mark.parametrize("checkpoint", [False, True])
def test_frozen_epochs_leave_the_lm_bit_identical_while_the_gnn_trains(text_graph, bert, checkpoint):
    opts = {"lm_train_nodes": -1, "freeze_lm_encoder_epochs": 1, "no_validation": True,
            "entry": {"gradient_checkpoint": checkpoint}}
    frozen = Trainer(text_graph, lm_config(bert, num_epochs=1, **opts))
    lm0, gnn0 = _lm_params(frozen.model), [p.detach().clone() for p in frozen.model.encoder.parameters()]
    frozen.fit()
    lm1 = _lm_params(frozen.model)
    assert all(torch.equal(lm0[k], lm1[k]) for k in lm0)
    assert not all(torch.equal(a, b) for a, b in zip(gnn0, frozen.model.encoder.parameters()))

    thawed = Trainer(text_graph, lm_config(bert, num_epochs=2, **opts))  # epoch 1 fine-tunes the LM
    thawed.fit()
    lm2 = _lm_params(thawed.model)
    moved = [k for k in lm0 if not torch.equal(lm0[k], lm2[k])]
    assert "embeddings.word_embeddings.weight" in moved and len(moved) > 10


def test_the_lm_has_its_own_learning_rate(text_graph, bert):
    cfg = lm_config(bert, lr=0.01, lm_tune_lr=2e-4)
    _, _, model = setup(text_graph, cfg)
    groups = build_optimizers(model, cfg)["dense"].param_groups
    assert [g["lr"] for g in groups] == [0.01, 2e-4]
    lm = {id(p) for p in model.input.lm[0].lm.parameters()}
    assert {id(p) for p in groups[1]["params"]} == lm and not lm & {id(p) for p in groups[0]["params"]}
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))
    default = build_optimizers(model, lm_config(bert, lr=0.01))["dense"].param_groups
    assert [g["lr"] for g in default] == [0.01, 0.01]  # lm_tune_lr defaults to lr (GraphStorm)


# ---------------------------------------------------------------- learning and inference

COTRAIN = {"num_epochs": 8, "lr": 0.01, "lm_tune_lr": 0.01, "lm_infer_batch_size": 16}
MEAN = {"pooling": "mean"}  # a random BERT's [CLS] carries little of the text; the mean of its tokens does


@pytest.fixture(scope="module")
def trained(text_graph, bert, tmp_path_factory):
    save = str(tmp_path_factory.mktemp("run") / "model")
    trainer = Trainer(text_graph, lm_config(bert, entry=MEAN, lm_train_nodes=-1, cache_lm_embed=True, **COTRAIN), save)
    return trainer, trainer.fit(), save


def _count_lm_rows(trainer: Trainer) -> list[int]:
    rows = [0]
    trainer.model.input.lm[0].lm.register_forward_hook(lambda m, args, kw, out: rows.__setitem__(
        0, rows[0] + kw["input_ids"].shape[0]), with_kwargs=True)
    return rows


def test_co_training_learns_the_text_task_a_static_lm_does_not(trained, text_graph, bert):
    _, m, _ = trained
    losses = [h["loss"] for h in m["history"]]
    assert losses[-1] < 0.1 * losses[0], losses
    assert m["test"]["accuracy"] >= 0.9, m  # 3 classes: chance is 1/3
    static = Trainer(text_graph, lm_config(bert, entry=MEAN, lm_train_nodes=0, **COTRAIN)).fit()
    assert static["test"]["accuracy"] <= m["test"]["accuracy"] - 0.2, static


def test_cache_runs_a_static_lm_once_per_node_with_the_same_results(text_graph, bert):
    runs = {}
    for cache in (False, True):
        trainer = Trainer(text_graph, lm_config(bert, entry=MEAN, lm_train_nodes=0, cache_lm_embed=cache,
                                                **{**COTRAIN, "num_epochs": 3}))
        rows = _count_lm_rows(trainer)
        runs[cache] = (trainer.fit(), rows[0])
    (plain, plain_rows), (cached, cached_rows) = runs[False], runs[True]
    assert cached_rows <= NUM_PAPERS < 6 * NUM_PAPERS < plain_rows, (cached_rows, plain_rows)
    np.testing.assert_allclose([h["loss"] for h in cached["history"]], [h["loss"] for h in plain["history"]],
                               rtol=1e-4)
    assert cached["test"] == plain["test"]


def test_inference_with_the_saved_model_uses_the_co_trained_lm(trained, text_graph, bert, tmp_path):
    import transformers

    trainer, _, save = trained
    ck = torch.load(os.path.join(save, "model.pt"), weights_only=True)
    key = "input.lm.0.lm.embeddings.word_embeddings.weight"
    last = torch.load(os.path.join(save, "checkpoints", "last.pt"), weights_only=True)["model"][key]
    assert torch.equal(last, trainer.model.state_dict()[key])
    loaded = transformers.AutoModel.from_pretrained(bert).embeddings.word_embeddings.weight
    assert not torch.allclose(ck["model"][key], loaded)  # the checkpoint holds the co-trained LM
    res = run_inference(text_graph, save, save_embed_path=str(tmp_path / "emb"),
                        save_prediction_path=str(tmp_path / "pred"))
    table = pq.read_table(res.embeddings["paper"]).to_pandas().sort_values("id")
    emb = np.stack(table["embedding"].to_numpy())
    assert emb.shape == (NUM_PAPERS, 16)
    # the same numbers as layer-wise inference with the best model re-created from its checkpoint
    best = Trainer(text_graph, trainer.cfg)
    best.model.load_state_dict(ck["model"])
    ref = node_embeddings(best.model, text_graph, best.store, 64)["paper"].numpy()
    np.testing.assert_allclose(emb, ref, atol=1e-5)


def test_lora_co_training_moves_only_the_adapters_and_inference_reloads_them(text_graph, bert, tmp_path):
    pytest.importorskip("peft")
    save = str(tmp_path / "model")
    cfg = lm_config(bert, entry={**MEAN, "lora_rank": 4, "lora_alpha": 8}, lm_train_nodes=-1, **COTRAIN)
    trainer = Trainer(text_graph, cfg, save)
    before = _lm_params(trainer.model)
    trainer.fit()
    after = _lm_params(trainer.model)
    assert after.keys() == before.keys() and any("lora_A" in k for k in after)
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    adapters = {k for k in before if "lora_" in k}
    assert {k for k in adapters if "lora_B" in k} <= moved  # B starts at zero: every adapter trained
    assert moved <= adapters, moved - adapters  # the LM's own weights stay as loaded
    # graphkit infer re-creates the adapters from the config and loads the trained ones
    res = run_inference(text_graph, save, save_embed_path=str(tmp_path / "emb"))
    table = pq.read_table(res.embeddings["paper"]).to_pandas().sort_values("id")
    best = Trainer(text_graph, trainer.cfg)
    best.model.load_state_dict(torch.load(os.path.join(save, "model.pt"), weights_only=True)["model"])
    ref = node_embeddings(best.model, text_graph, best.store, 64)["paper"].numpy()
    np.testing.assert_allclose(np.stack(table["embedding"].to_numpy()), ref, atol=1e-5)
    # the same checkpoint under a config without LoRA: a clear error before any output is written
    plain = f"[{{lm_type: bert, model_name: {bert}, node_types: [paper], pooling: mean}}]"
    with pytest.raises(GraphkitError, match="does not fit the model built from the config") as e:
        run_inference(text_graph, save, save_embed_path=str(tmp_path / "emb2"), overrides={"node_lm_configs": plain})
    assert "lora_rank" in str(e.value.hint) and not os.path.exists(tmp_path / "emb2")
    with pytest.raises(GraphkitError, match="does not fit"):  # --restore-model-path into a config without LoRA
        Trainer(text_graph, lm_config(bert, entry=MEAN, **COTRAIN)).restore(save, optimizer=False)


@pytest.mark.parametrize("name,train_nodes,frozen", [("citeseer_text_cotrain.yaml", 64, 1),
                                                      ("citeseer_text_cotrain_gcn.yaml", 256, 20)])
def test_the_shipped_citeseer_text_configs_run_with_their_lm_given_on_the_command_line(text_graph, bert, name,
                                                                                        train_nodes, frozen):
    path = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "configs", name)
    with open(path, encoding="utf-8") as f:
        assert f.readline().startswith("# graphkit train")
    lm = f"[{{lm_type: bert, model_name: {bert}, node_types: [paper], pooling: mean}}]"
    shipped = load_train_config(path, {"node_lm_configs": lm, "num_classes": "3"})
    assert shipped.lm_train_nodes == train_nodes and shipped.freeze_lm_encoder_epochs == frozen
    assert shipped.num_epochs > frozen  # the LM trains in the last epochs
    # the tiny graph's authors have features of another width than the papers' LM output: projected inputs
    cfg = load_train_config(path, {"node_lm_configs": lm, "num_epochs": "2", "num_classes": "3", "hidden_size": "16",
                                   "fanout": "4,4", "batch_size": "16", "freeze_lm_encoder_epochs": "1",
                                   "input_projection": "true"})
    assert cfg.node_lm_configs[0]["model_name"] == bert
    trainer = Trainer(text_graph, cfg)
    m = trainer.fit()
    assert len(m["history"]) == 2 and 0.0 <= m["test"]["accuracy"] <= 1.0
    assert trainer.model.input.lm[0].frozen is False  # epoch 1 fine-tuned the LM


@pytest.mark.parametrize("cache", [False, True])
def test_resume_continues_exactly_with_the_lm_and_its_frozen_epoch(text_graph, bert, tmp_path, cache):
    opts = {"lm_train_nodes": 5, "freeze_lm_encoder_epochs": 1, "cache_lm_embed": cache, "batch_size": 32}
    straight = Trainer(text_graph, lm_config(bert, num_epochs=3, **opts), str(tmp_path / "a"))
    m_straight = straight.fit()
    Trainer(text_graph, lm_config(bert, num_epochs=1, **opts), str(tmp_path / "b")).fit()  # the frozen epoch
    resumed = Trainer(text_graph, lm_config(bert, num_epochs=3, **opts), str(tmp_path / "b"))
    assert resumed.resume_if_possible() and resumed.run.epoch == 1
    m_resumed = resumed.fit()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert m_resumed["history"] == m_straight["history"]
