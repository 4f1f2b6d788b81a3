"""Multi-process training: ``torchrun --nproc-per-node=2 graphkit train`` learns like one process, only rank 0
writes, and the ranks' replicas never diverge (DDP for dense weights, gathered sparse gradients for
node embeddings)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from ranks import run_ranks

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "training"))
from toy_graph import BASE_OPTIONS, NC, build_toy_graph, make_config

from graphkit.cli.main import main
from graphkit.kubeflow.launcher import torchrun_command
from graphkit.storage.shared import shared_path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[str, str]:
    """(graph folder, training YAML) of the toy graph: node classification, 4 epochs."""
    base = tmp_path_factory.mktemp("dist-train")
    graph = build_toy_graph(str(base / "graph"))
    conf = str(base / "nc.yaml")
    with open(conf, "w", encoding="utf-8") as f:
        yaml.safe_dump({"gsf": {"basic": {**BASE_OPTIONS, "num_epochs": 4, "dropout": 0.1}, **NC}}, f)
    return graph.root, conf


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}


def test_torchrun_two_processes_train_like_one(toy, tmp_path):
    graph_dir, conf = toy
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    assert main(["--log-level", "warning", "train", "--part-config", graph_dir, "--cf", conf,
                 "--save-model-path", one, "--device", "cpu"]) == 0
    cmd = torchrun_command(["train", "--part-config", graph_dir, "--cf", conf, "--save-model-path", two], 2)
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=240, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(os.path.join(one, "metrics.json"), encoding="utf-8") as f:
        m1 = json.load(f)
    with open(os.path.join(two, "metrics.json"), encoding="utf-8") as f:
        m2 = json.load(f)
    # the same quality within noise (each rank trains on half the seeds, with its own samples and dropout)
    assert m1["test"]["accuracy"] > 0.9 and abs(m2["test"]["accuracy"] - m1["test"]["accuracy"]) <= 0.05, (m1, m2)
    assert len(m2["history"]) == 4 and m2["history"][-1]["loss"] < 0.7 * m2["history"][0]["loss"]
    # rank 0 alone wrote the results: one TensorBoard log, no temporary files; its stdout alone has the summary
    assert len(glob.glob(os.path.join(two, "tensorboard", "events.out.tfevents.*"))) == 1
    assert sorted(os.listdir(os.path.join(two, "checkpoints"))) == [f"epoch-{m2['best_epoch']}.pt", "last.pt"]
    assert res.stdout.count('"task": "node_classification"') == 1
    # both ranks logged, the graph went to shared memory and was removed at the end
    assert "[rank 1/2]" in res.stderr and "placed in shared memory" in res.stderr
    assert not os.path.exists(shared_path(graph_dir))


def _train_two_ranks(graph_dir: str) -> dict:
    """One rank: a sparse-gradient sync with known numbers, then training with learnable user embeddings."""
    from graphkit.distributed.context import current
    from graphkit.distributed.sparse_sync import sync_sparse_gradients
    from graphkit.storage.graph import Graph
    from graphkit.training.trainer import Trainer

    ctx = current()
    emb = torch.nn.Embedding(6, 2, sparse=True)
    ids = torch.tensor([0, 1, 1]) if ctx.rank == 0 else torch.tensor([1, 5])
    (emb(ids) * (ctx.rank + 1)).sum().backward()
    sync_sparse_gradients([emb.weight], ctx)
    synced = emb.weight.grad.to_dense()

    # users have no features here: they get a sparse embedding table, trained outside DDP
    cfg = make_config(NC, node_feat_name=["item:feat"], num_epochs=2, dropout=0.3, batch_size=32)
    trainer = Trainer(Graph(graph_dir), cfg)
    before = trainer.model.input.embeddings["user"].weight.detach().clone()
    metrics = trainer.fit()
    return {"synced": synced.numpy(), "before": before.numpy(), "metrics": metrics,  # numpy: sent by value
            "state": {k: v.detach().numpy().copy() for k, v in trainer.model.state_dict().items()}}


def test_ranks_keep_identical_replicas_dense_and_sparse(toy):
    graph_dir, _ = toy
    r0, r1 = run_ranks(_train_two_ranks, 2, graph_dir, timeout=180)
    # rank 0's rows: 0 once, 1 twice (x1); rank 1's: 1 and 5 (x2). Mean over ranks: 0.5, 2, 1 per element
    want = np.array([[0.5, 0.5], [2.0, 2.0], [0, 0], [0, 0], [0, 0], [1.0, 1.0]], np.float32)
    np.testing.assert_array_equal(r0["synced"], want)
    np.testing.assert_array_equal(r1["synced"], want)
    assert r0["state"].keys() == r1["state"].keys()
    for k in r0["state"]:
        np.testing.assert_array_equal(r0["state"][k], r1["state"][k], err_msg=k)
    np.testing.assert_array_equal(r0["before"], r1["before"])
    moved = (r0["state"]["input.embeddings.user.weight"] != r0["before"]).any(1).mean()
    assert moved > 0.5  # most user rows were in some rank's batches, and every rank applied every update
    assert r0["metrics"]["history"] == r1["metrics"]["history"]  # the same gathered metrics and mean loss
    losses = [h["loss"] for h in r0["metrics"]["history"]]
    assert losses[-1] < losses[0] and r0["metrics"]["test"]["accuracy"] > 0.25  # learning (chance: 0.2)


def test_device_is_checked(toy, tmp_path, capsys):
    graph_dir, conf = toy
    with open(conf, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    raw["gsf"]["basic"]["device"] = "tpu"
    bad = str(tmp_path / "bad.yaml")
    with open(bad, "w", encoding="utf-8") as f:
        yaml.safe_dump(raw, f)
    assert main(["train", "--part-config", graph_dir, "--cf", bad]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["train", "--part-config", graph_dir, "--cf", conf, "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
