"""graphkit's GPU code paths, checked with numbers: training (node classification, link prediction),
full-graph inference, lm-embed, lm-finetune, LM+GNN co-training and distillation on a GPU.

The device tests run where CUDA is available, or on the device named by ``GRAPHKIT_TEST_DEVICE``
(``GRAPHKIT_TEST_DEVICE=cpu`` runs them on the CPU: how they are checked on a machine without a GPU,
where every device-vs-CPU comparison is then CPU against CPU). Elsewhere they skip.

Where a stage has no device option it runs where graphkit puts it, and the tests say so:
``graphkit infer`` (:func:`~graphkit.inference.run.run_inference`) always runs on the CPU, and
``graphkit distill`` trains its student on ``cuda`` whenever CUDA is available. Training takes its device
from the :class:`~graphkit.distributed.context.DistContext` (the CLI builds it from the YAML's ``device``).

Only graphkit core, torch, numpy, pyarrow, transformers and pytest are imported: the GPU machine may
lack the extras (kfp, moto, boto3, pymetis, polars, duckdb, pandas). The graph and model builders are the
ones of the CPU tests (``tests/training``, ``tests/lm``, ``tests/distill``).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
for _sub in ("training", "lm", "distill"):  # the builders of the CPU tests, imported by module name
    if os.path.join(_HERE, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(_HERE, _sub))

from distill_graph import MLP_FLAGS, build_distill_graph, run_distill, teacher_config
from toy_graph import LP, NC, NUM_CLASSES, build_toy_graph, make_config

from graphkit.cli.main import main
from graphkit.distributed.context import DistContext
from graphkit.errors import GraphkitError
from graphkit.inference.embeddings import node_embeddings
from graphkit.inference.run import load_model, run_inference
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.graph import Graph
from graphkit.training.config import TrainConfig
from graphkit.training.trainer import Trainer, setup

DEVICE = os.environ.get("GRAPHKIT_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else None)
# every device test carries this mark; the no-GPU error test does not (it is for machines without CUDA)
needs_device = pytest.mark.skipif(DEVICE is None, reason="no GPU")
ON_GPU = DEVICE is not None and DEVICE.startswith("cuda")
CHANCE_NC = 1.0 / NUM_CLASSES


def _ctx() -> DistContext:
    """A one-process job computing on DEVICE (what `graphkit train` builds from `device:`)."""
    return DistContext(device=DEVICE)


def _tensors(obj):
    """Every tensor in a nested checkpoint structure."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def _losses(metrics: dict) -> list[float]:
    return [h["loss"] for h in metrics["history"]]


def _mrr_chance(num_candidates: int) -> float:
    return sum(1.0 / r for r in range(1, num_candidates + 1)) / num_candidates


def _test_mask(graph: Graph, ntype: str) -> np.ndarray:
    return np.asarray(graph.node_mask(ntype, "test_mask")).astype(bool)


def _acc_tolerance(n_test: int) -> float:
    """Accuracy of the same weights on another device: identical on the CPU, one near-tie may flip on a GPU."""
    return 1.5 / n_test if ON_GPU else 1e-12


# ================================================================ training on the toy graph

@pytest.fixture(scope="module")
def toy_graph(tmp_path_factory) -> Graph:
    return build_toy_graph(str(tmp_path_factory.mktemp("toy") / "graph"))


@pytest.fixture(scope="module")
def nc_run(toy_graph, tmp_path_factory):
    """Node classification trained on DEVICE; full-neighbourhood evaluation, so that `graphkit infer`
    (full-graph, on the CPU) must reproduce its test accuracy."""
    save = str(tmp_path_factory.mktemp("nc") / "model")
    trainer = Trainer(toy_graph, make_config(NC, use_mini_batch_infer=False), save, _ctx())
    return trainer, trainer.fit(), save


@needs_device
def test_node_classification_learns_on_the_device(nc_run):
    trainer, m, _ = nc_run
    assert trainer.device.type == torch.device(DEVICE).type
    assert all(p.device.type == trainer.device.type for p in trainer.model.parameters())
    losses = _losses(m)
    assert losses[-1] < 0.3 * losses[0], losses
    acc = m["test"]["accuracy"]
    assert acc > CHANCE_NC + 0.5, f"test accuracy {acc:.3f}, chance {CHANCE_NC:.2f}"  # the CPU test's bar


@needs_device
def test_device_checkpoint_loads_on_the_cpu_and_reproduces_the_test_accuracy(nc_run, toy_graph):
    _, m, save = nc_run
    # checkpoints hold CPU tensors: a bare torch.load works on a machine without a GPU
    ck = torch.load(os.path.join(save, "model.pt"), weights_only=True)
    assert ck["epoch"] == m["best_epoch"]
    assert all(t.device.type == "cpu" for t in _tensors(ck))
    assert all(v.dtype == torch.float32 for v in ck["model"].values() if v.is_floating_point())
    cfg = TrainConfig.from_json(ck["config"])
    _, _, model = setup(toy_graph, cfg)  # a fresh CPU model takes every saved weight
    missing, unexpected = model.load_state_dict(ck["model"], strict=True)
    assert not missing and not unexpected
    # the CPU evaluation of the saved weights is the device's evaluation of the best epoch
    cpu = Trainer(toy_graph, cfg, None, DistContext(device="cpu"))
    cpu.restore(save, optimizer=True)
    assert all(p.device.type == "cpu" for p in cpu.model.parameters())
    _, test = cpu.evaluate()
    n_test = int(_test_mask(toy_graph, "item").sum())
    assert test[m["tasks"][0]]["accuracy"] == pytest.approx(m["test"]["accuracy"], abs=_acc_tolerance(n_test))


@needs_device
def test_a_device_run_resumes_on_the_cpu(nc_run, toy_graph, tmp_path):
    _, m, save = nc_run
    copy_dir = str(tmp_path / "model")
    shutil.copytree(save, copy_dir)
    more = Trainer(toy_graph, make_config(NC, use_mini_batch_infer=False, num_epochs=7), copy_dir,
                   DistContext(device="cpu"))
    assert more.resume_if_possible() and more.run.epoch == 6
    for o in more.optimizers.values():  # Adam moments saved on the device now live with the CPU weights
        for st in o.state.values():
            assert all(v.device.type == "cpu" for v in st.values() if isinstance(v, torch.Tensor) and v.dim())
    m7 = more.fit()
    assert m7["history"][:6] == m["history"]
    assert len(m7["history"]) == 7 and np.isfinite(m7["history"][6]["loss"])
    assert m7["history"][6]["loss"] < 0.3 * m["history"][0]["loss"]  # it goes on from the trained weights


@needs_device
def test_link_prediction_learns_on_the_device(toy_graph):
    trainer = Trainer(toy_graph, make_config(LP, batch_size=128), None, _ctx())
    m = trainer.fit()
    losses = _losses(m)
    assert losses[-1] < 0.8 * losses[0], losses
    chance = _mrr_chance(1 + 2 * 10)  # 10 corrupted sources + 10 corrupted destinations per edge
    mrr = m["test"]["mrr"]
    assert mrr > 1.8 * chance, f"test MRR {mrr:.3f}, chance {chance:.3f}"  # the CPU test's bar


# ================================================================ full-graph inference

@needs_device
def test_gnn_on_the_device_matches_layerwise_inference_on_the_cpu(nc_run, toy_graph):
    """`graphkit infer` has no device option (it runs on the CPU). The same weights on DEVICE, over full
    in-neighbourhoods (what full-graph evaluation computes), give the CPU's layer-wise embeddings."""
    _, _, save = nc_run
    _, store, _, model = load_model(toy_graph, save)
    ref = node_embeddings(model, toy_graph, store, 1024)
    dev_model = copy.deepcopy(model).to(DEVICE).eval()
    sampler = NeighborSampler(toy_graph, [-1] * model.num_layers)
    for t in ("item", "user"):
        ids = np.arange(toy_graph.num_nodes(t), dtype=np.int64)
        sub = sampler.sample_from_nodes({t: ids})
        x = store.fetch(sub.input_nodes)
        for block in sub.blocks:
            store.attach_edge_features(block)
        with torch.no_grad():
            h = dev_model.embed(sub.to(DEVICE), {k: v.to(DEVICE) for k, v in x.items()})[t]
        assert h.device.type == torch.device(DEVICE).type and h.dtype == torch.float32
        assert ref[t].shape == h.shape and float(ref[t].abs().max()) > 0.1
        np.testing.assert_allclose(h.cpu().numpy(), ref[t].numpy(), atol=1e-4, rtol=1e-4)


@needs_device
def test_infer_on_the_cpu_reproduces_the_device_evaluation(nc_run, toy_graph, tmp_path):
    _, m, save = nc_run
    res = run_inference(toy_graph, save, save_embed_path=str(tmp_path / "emb"),
                        save_prediction_path=str(tmp_path / "pred"))
    pred = np.asarray(pq.read_table(os.path.join(res.predictions[m["tasks"][0]], "part-00000.parquet"))
                      .column("pred"))
    truth = np.asarray(toy_graph.node_label("item", "label"))
    test = _test_mask(toy_graph, "item")
    acc = float((pred[test] == truth[test]).mean())
    assert acc == pytest.approx(m["test"]["accuracy"], abs=_acc_tolerance(int(test.sum())))
    emb = pq.read_table(os.path.join(res.embeddings["item"], "part-00000.parquet"))
    vec = np.stack(emb.column("embedding").to_numpy(zero_copy_only=False))
    assert vec.shape == (toy_graph.num_nodes("item"), 16) and np.isfinite(vec).all()


@needs_device
def test_infer_on_the_device_equals_infer_on_the_cpu(nc_run, toy_graph, tmp_path):
    """`graphkit infer --device`: the GNN's layers run on the device, the outputs are the CPU run's."""
    _, m, save = nc_run
    runs = {}
    for dev in ("cpu", DEVICE):
        out = tmp_path / dev.replace(":", "_")
        res = run_inference(toy_graph, save, save_embed_path=str(out / "emb"), save_prediction_path=str(out / "pred"),
                            device=dev)
        emb = pq.read_table(os.path.join(res.embeddings["item"], "part-00000.parquet"))
        pred = pq.read_table(os.path.join(res.predictions[m["tasks"][0]], "part-00000.parquet"))
        runs[dev] = (np.stack(emb.column("embedding").to_numpy(zero_copy_only=False)),
                     np.asarray(pred.column("pred")))
    np.testing.assert_allclose(runs[DEVICE][0], runs["cpu"][0], atol=1e-4, rtol=1e-4)
    assert (runs[DEVICE][1] != runs["cpu"][1]).sum() <= (0 if not ON_GPU else 1)
    # the CLI option, and the model is back on the CPU after inference (decoders run there)
    out = tmp_path / "cli"
    assert main(["infer", "--part-config", toy_graph.root, "--restore-model-path", save,
                 "--save-embed-path", str(out), "--device", DEVICE]) == 0
    cli = pq.read_table(os.path.join(out, "item", "part-00000.parquet"))
    np.testing.assert_allclose(np.stack(cli.column("embedding").to_numpy(zero_copy_only=False)), runs["cpu"][0],
                               atol=1e-4, rtol=1e-4)


# ================================================================ lm-embed

@pytest.fixture(scope="module")
def lm_bert(tmp_path_factory) -> str:
    pytest.importorskip("transformers")
    from lm_fixtures import make_tiny_bert

    return make_tiny_bert(str(tmp_path_factory.mktemp("tiny_bert")))


@pytest.fixture(scope="module")
def lm_graph(tmp_path_factory, lm_bert) -> str:
    """The tiny text graph of tests/lm (24 papers, two topics, citations within a topic)."""
    from lm_fixtures import construct, write_text_tables

    root = tmp_path_factory.mktemp("text_graph")
    return construct(write_text_tables(str(root / "tables"), lm_bert), str(root / "graph"))


def _lm_embed(graph_dir: str, bert: str, out: str, device: str, precision: str) -> np.ndarray:
    from graphkit.lm.embed_stage import LMEmbedConfig, lm_embed

    res = lm_embed(LMEmbedConfig(graph_dir, bert, output_dir=out, cache_dir=None, batch_size=8, device=device,
                                 precision=precision))
    g = Graph(res.graph_dir)
    src = g.meta.construction["node_feature_sources"]["lm_emb"]
    expected = "fp32" if device == "cpu" else precision
    assert src["precision"] == expected, src
    emb = np.asarray(g.node_feature("paper", "lm_emb"))
    assert emb.dtype == np.float32 and emb.shape == (24, 32) and np.isfinite(emb).all()
    return emb


@pytest.fixture(scope="module")
def lm_cpu_emb(lm_graph, lm_bert, tmp_path_factory) -> np.ndarray:
    return _lm_embed(lm_graph, lm_bert, str(tmp_path_factory.mktemp("emb") / "cpu"), "cpu", "fp32")


@needs_device
def test_lm_embed_fp32_on_the_device_equals_the_cpu(lm_graph, lm_bert, lm_cpu_emb, tmp_path):
    emb = _lm_embed(lm_graph, lm_bert, str(tmp_path / "dev"), DEVICE, "fp32")
    assert float(np.abs(lm_cpu_emb).max()) > 0.1
    np.testing.assert_allclose(emb, lm_cpu_emb, atol=1e-4, rtol=1e-4)


@needs_device
@pytest.mark.skipif(not ON_GPU, reason="GPU precisions; bf16 on the CPU is tests/lm/test_precision.py")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_lm_embed_reduced_precision_is_close_and_stored_as_float32(lm_graph, lm_bert, lm_cpu_emb, tmp_path,
                                                                  precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    emb = _lm_embed(lm_graph, lm_bert, str(tmp_path / precision), DEVICE, precision)
    assert not np.array_equal(emb, lm_cpu_emb)  # autocast was on: 16-bit products differ from fp32 somewhere
    rel = np.linalg.norm(emb - lm_cpu_emb) / np.linalg.norm(lm_cpu_emb)
    assert rel < 2e-2, rel
    cos = (emb * lm_cpu_emb).sum(1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(lm_cpu_emb, axis=1))
    assert cos.min() > 0.999, cos.min()


# ================================================================ lm-finetune

def _topic_gap(graph_dir: str, model_dir: str) -> float:
    """Mean cosine similarity of same-topic papers minus that of different-topic papers (on the CPU)."""
    from graphkit.lm.chunked import embed_rows
    from graphkit.lm.encoder import TextEncoder
    from graphkit.lm.tokens import node_tokens

    e = embed_rows(TextEncoder.load(model_dir, "mean", device="cpu"), node_tokens(Graph(graph_dir), "paper"), 8)[0]
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    y = np.arange(len(e)) % 2  # the topic of paper i (lm_fixtures.paper_texts)
    same = (y[:, None] == y[None]) & ~np.eye(len(e), dtype=bool)
    return float(sim[same].mean() - sim[y[:, None] != y[None]].mean())


def _check_finetuned_folder_on_cpu(out: str, m: dict, source: str) -> None:
    from graphkit.lm.fingerprint import model_fingerprint
    from graphkit.lm.loading import load_model as load_lm

    model = load_lm(out)
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    # the fingerprint taken of the weights on the device is the one of the folder loaded on the CPU
    assert model_fingerprint(model) == m["model_fingerprint"] != m["source_model_fingerprint"]
    assert model_fingerprint(load_lm(source)) == m["source_model_fingerprint"]


def _expected_precision(precision: str) -> str:
    from graphkit.lm.device import resolve_precision

    return resolve_precision(precision, torch.device(DEVICE))


@needs_device
def test_graph_aware_finetune_on_the_device(lm_graph, lm_bert, tmp_path):
    out = str(tmp_path / "ft")
    assert main(["lm-finetune", "--graph-dir", lm_graph, "--lm-model", lm_bert, "--output-dir", out,
                 "--epochs", "6", "--batch-size", "12", "--lr", "3e-3", "--warmup-ratio", "0", "--num-negatives",
                 "4", "--device", DEVICE]) == 0  # precision auto: bf16 (or fp16) autocast on a GPU
    with open(os.path.join(out, "finetune_metrics.json"), encoding="utf-8") as f:
        m = json.load(f)
    assert torch.device(m["device"]).type == torch.device(DEVICE).type
    assert m["precision"] == _expected_precision("auto")
    losses = [e["train_loss"] for e in m["epochs"]]
    assert len(losses) == 6 and all(np.isfinite(losses)) and losses[-1] < 0.85 * losses[0], losses
    assert m["steps"] == 18 and 0 < m["test"]["mrr"] <= 1
    assert _topic_gap(lm_graph, out) > _topic_gap(lm_graph, lm_bert) + 0.03
    _check_finetuned_folder_on_cpu(out, m, lm_bert)


@needs_device
def test_supervised_finetune_on_the_device(lm_graph, lm_bert, tmp_path):
    from graphkit.lm.finetune.run import FinetuneConfig, finetune_lm

    out = str(tmp_path / "ft")
    # fp16: the path with a gradient scaler on a GPU (fp32 on the CPU)
    cfg = FinetuneConfig(lm_graph, lm_bert, out, mode="supervised", epochs=6, batch_size=4, lr=3e-3,
                         warmup_ratio=0.0, device=DEVICE, precision="fp16")
    m = finetune_lm(cfg).metrics
    assert torch.device(m["device"]).type == torch.device(DEVICE).type
    assert m["precision"] == _expected_precision("fp16")
    losses = [e["train_loss"] for e in m["epochs"]]
    assert all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses
    val = [e["val"]["accuracy"] for e in m["epochs"]]
    assert m["best_epoch"] == 1 + int(np.argmax(val))
    assert m["val"]["accuracy"] == pytest.approx(max(val))  # the kept weights are the best epoch's
    _check_finetuned_folder_on_cpu(out, m, lm_bert)


# ================================================================ LM+GNN co-training

@pytest.fixture(scope="module")
def cot_graph(tmp_path_factory) -> Graph:
    from text_graph import build_text_graph

    return build_text_graph(str(tmp_path_factory.mktemp("cotrain") / "graph"))


@pytest.fixture(scope="module")
def cot_bert(tmp_path_factory) -> str:
    pytest.importorskip("transformers")
    from text_graph import write_tiny_bert

    return write_tiny_bert(str(tmp_path_factory.mktemp("cot_bert") / "model"))


def _lm_state_cpu(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.input.lm[0].lm.state_dict().items()}


COTRAIN = {"num_epochs": 8, "lr": 0.01, "lm_tune_lr": 0.01, "lm_infer_batch_size": 16}
MEAN = {"pooling": "mean"}


@needs_device
def test_co_training_on_the_device_learns_and_reloads_for_cpu_inference(cot_graph, cot_bert, tmp_path):
    import transformers
    from text_graph import NUM_PAPERS, lm_config

    save = str(tmp_path / "model")
    trainer = Trainer(cot_graph, lm_config(cot_bert, entry=MEAN, lm_train_nodes=-1, cache_lm_embed=True,
                                           use_mini_batch_infer=False, **COTRAIN), save, _ctx())
    source = {k: v.detach().cpu().clone() for k, v in transformers.AutoModel.from_pretrained(cot_bert)
              .state_dict().items()}
    m = trainer.fit()
    lm = trainer.model.input.lm[0].lm
    assert next(lm.parameters()).device.type == torch.device(DEVICE).type
    losses = _losses(m)
    assert losses[-1] < 0.1 * losses[0], losses
    assert m["test"]["accuracy"] >= 0.9, m  # 3 classes; the CPU test's bar
    after = _lm_state_cpu(trainer.model)
    moved = [k for k in source if k in after and not torch.equal(source[k], after[k])]
    assert "embeddings.word_embeddings.weight" in moved and len(moved) > 10

    # the saved model on the CPU: the co-trained LM is in it, and inference uses it
    key = "input.lm.0.lm.embeddings.word_embeddings.weight"
    last = torch.load(os.path.join(save, "checkpoints", "last.pt"), map_location="cpu", weights_only=True)
    assert torch.equal(last["model"][key], after["embeddings.word_embeddings.weight"])
    res = run_inference(cot_graph, save, save_embed_path=str(tmp_path / "emb"),
                        save_prediction_path=str(tmp_path / "pred"))
    emb = np.stack(pq.read_table(os.path.join(res.embeddings["paper"], "part-00000.parquet"))
                   .column("embedding").to_numpy(zero_copy_only=False))
    assert emb.shape == (NUM_PAPERS, 16) and np.isfinite(emb).all()
    pred = np.asarray(pq.read_table(os.path.join(res.predictions[m["tasks"][0]], "part-00000.parquet"))
                      .column("pred"))
    truth = np.asarray(cot_graph.node_label("paper", "label"))
    test = _test_mask(cot_graph, "paper")
    acc = float((pred[test] == truth[test]).mean())
    assert acc >= 0.9, acc
    # full-graph evaluation on the device and full-graph inference on the CPU: the same weights, the same
    # answer; on a GPU the LM ran under bfloat16 autocast (fp32 on the CPU), so allow two flipped papers
    tol = 2.5 / int(test.sum()) if ON_GPU else 1e-12
    assert acc == pytest.approx(m["test"]["accuracy"], abs=tol)


@needs_device
def test_frozen_lm_epochs_on_the_device_leave_the_lm_bit_identical(cot_graph, cot_bert):
    from text_graph import lm_config

    opts = {"lm_train_nodes": -1, "freeze_lm_encoder_epochs": 1, "no_validation": True}
    frozen = Trainer(cot_graph, lm_config(cot_bert, num_epochs=1, **opts), None, _ctx())
    lm0 = _lm_state_cpu(frozen.model)
    gnn0 = [p.detach().cpu().clone() for p in frozen.model.encoder.parameters()]
    frozen.fit()
    lm1 = _lm_state_cpu(frozen.model)
    assert all(torch.equal(lm0[k], lm1[k]) for k in lm0)
    assert not all(torch.equal(a, b.detach().cpu()) for a, b in zip(gnn0, frozen.model.encoder.parameters()))

    thawed = Trainer(cot_graph, lm_config(cot_bert, num_epochs=2, **opts), None, _ctx())  # epoch 1 tunes the LM
    thawed.fit()
    lm2 = _lm_state_cpu(thawed.model)
    moved = [k for k in lm0 if not torch.equal(lm0[k], lm2[k])]
    assert "embeddings.word_embeddings.weight" in moved and len(moved) > 10


# ================================================================ distillation

@needs_device
def test_distillation_with_a_device_teacher(tmp_path, monkeypatch):
    """`graphkit distill` has no device option: it trains the student on cuda whenever CUDA is available
    (and reads the teacher on the CPU). The teacher here is trained on DEVICE."""
    import graphkit.distill.train as distill_train
    from graphkit.distill.losses import relative_mse
    from graphkit.distill.predict import student_embeddings
    from graphkit.distill.students import load_student

    graph = build_distill_graph(str(tmp_path / "graph"))
    teacher = str(tmp_path / "teacher")
    Trainer(graph, teacher_config(), teacher, _ctx()).fit()

    used: list[str] = []
    real_fit = distill_train.fit_student

    def spy(net, decoder, data, opts, **kw):
        used.append(opts.device)
        return real_fit(net, decoder, data, opts, **kw)

    monkeypatch.setattr(distill_train, "fit_student", spy)
    out = run_distill(graph, teacher, str(tmp_path / "mlp"), *MLP_FLAGS)
    assert used == ["cuda" if torch.cuda.is_available() else "cpu"]

    with open(os.path.join(out, "distill_metrics.json"), encoding="utf-8") as f:
        m = json.load(f)
    paper = m["types"]["paper"]
    before, after = paper["initial_val"]["relative_mse"], paper["val"]["relative_mse"]
    assert before > 0.9 and after < 0.45 and after < before / 2.5, (before, after)  # the CPU test's bars
    assert paper["test"]["relative_mse"] < 0.45
    assert m["teacher_test"]["accuracy"] >= 0.95
    assert m["test"]["accuracy"] >= 0.85 and m["test_agreement_with_teacher"] >= 0.85

    # the student folder holds CPU tensors (no map_location needed) and reproduces its number on the CPU
    state = torch.load(os.path.join(out, "model.pt"), weights_only=True)
    assert all(t.device.type == "cpu" for t in _tensors(state))
    _, store, _, model = load_model(graph, teacher)
    target = node_embeddings(model, graph, store, 1024)["paper"]
    student = student_embeddings(load_student(out), graph, "paper")
    test = np.flatnonzero(_test_mask(graph, "paper"))
    assert relative_mse(student[test], target[test]) == pytest.approx(paper["test"]["relative_mse"], rel=1e-3)


# ================================================================ asking for a GPU where there is none

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error(toy_graph, tmp_path, capsys):
    from graphkit.lm.encoder import TextEncoder

    # `device: cuda` in the training YAML
    opts = {"node_feat_name": ["user:feat", "item:feat"], "hidden_size": 8, "num_epochs": 1, "device": "cuda"}
    yaml_path = tmp_path / "train.yaml"
    yaml_path.write_text(json.dumps({"gsf": {"basic": opts, **NC}}), encoding="utf-8")  # JSON is YAML
    model = str(tmp_path / "model")
    assert main(["train", "--part-config", toy_graph.root, "--cf", str(yaml_path), "--save-model-path", model]) == 2
    err = capsys.readouterr().err
    assert "graphkit train: error:" in err and "CUDA is not available" in err
    assert not os.path.exists(model)
    # the library: Trainer without a context starts one on the config's device
    with pytest.raises(GraphkitError, match="CUDA is not available"):
        Trainer(toy_graph, make_config(NC, device="cuda"))
    # --device cuda on the command line, the same
    assert main(["train", "--part-config", toy_graph.root, "--cf", str(yaml_path), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    # the LM stages: lm-finetune fails before reading any model, lm-embed's encoder before loading one
    assert main(["lm-finetune", "--graph-dir", toy_graph.root, "--lm-model", str(tmp_path / "no-model"),
                 "--output-dir", str(tmp_path / "ft"), "--device", "cuda"]) == 2
    assert "no GPU is visible to PyTorch" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "ft")
    with pytest.raises(GraphkitError, match="no GPU is visible to PyTorch"):
        TextEncoder.load(str(tmp_path / "no-model"), device="cuda")
