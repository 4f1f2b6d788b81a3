"""Fault tolerance: a worker killed mid-run under ``torchrun --max-restarts=1`` is restarted and the run
resumes from its last checkpoint; mid-epoch checkpoints (``save_model_frequency``) resume exactly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest
import torch
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "training"))
from toy_graph import BASE_OPTIONS, NC, build_toy_graph, make_config

from graphkit.kubeflow.launcher import torchrun_command
from graphkit.storage.shared import shared_path
from graphkit.training.trainer import Trainer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPOCHS = 8


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return build_toy_graph(str(tmp_path_factory.mktemp("resume") / "graph"))


def _last_epoch(path: str) -> int:
    """Epochs finished according to ``last.pt`` (0 if there is none yet)."""
    if not os.path.exists(path):
        return 0
    return int(torch.load(path, map_location="cpu", weights_only=True)["state"]["epoch"])


def test_killed_worker_is_restarted_and_the_run_resumes(graph, tmp_path):
    conf, save = str(tmp_path / "nc.yaml"), str(tmp_path / "model")
    with open(conf, "w", encoding="utf-8") as f:
        yaml.safe_dump({"gsf": {"basic": {**BASE_OPTIONS, "num_epochs": EPOCHS, "batch_size": 16}, **NC}}, f)
    cmd = torchrun_command(["train", "--part-config", graph.root, "--cf", conf, "--save-model-path", save],
                           nproc_per_node=2, max_restarts=1)
    assert cmd[-1] == "--resume"
    log_path = str(tmp_path / "log.txt")
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO})
        try:
            last = os.path.join(save, "checkpoints", "last.pt")
            deadline = time.monotonic() + 150
            while _last_epoch(last) < 1:
                assert proc.poll() is None, "the run ended before a worker could be killed"
                assert time.monotonic() < deadline, "no checkpoint after 150 s"
                time.sleep(0.05)
            workers = [p for p in psutil.Process(proc.pid).children()
                       if "graphkit.cli.main" in " ".join(p.cmdline())]
            assert len(workers) == 2
            os.kill(workers[-1].pid, signal.SIGKILL)
            assert proc.wait(timeout=240) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    with open(log_path, encoding="utf-8") as f:
        out = f.read()
    resumed = [int(e) for e in re.findall(r"resuming from \S+ at epoch (\d+)", out)]
    assert len(resumed) == 2 and resumed[0] == resumed[1] >= 1, out[-3000:]  # both restarted ranks resumed
    assert resumed[0] < EPOCHS, "the kill came after the last epoch"
    with open(os.path.join(save, "metrics.json"), encoding="utf-8") as f:
        m = json.load(f)
    assert [h["epoch"] for h in m["history"]] == list(range(EPOCHS))  # every epoch once, across the restart
    assert m["test"]["accuracy"] > 0.9 and m["history"][-1]["loss"] < 0.5 * m["history"][0]["loss"]
    assert not os.path.exists(shared_path(graph.root))  # the restarted job released the shared-memory copy


def test_mid_epoch_checkpoint_resumes_exactly(graph, tmp_path):
    # 180 training items / 32 = 6 steps per epoch; last.pt at global steps 2, 4, 8, 10 and at epoch ends
    opts = {"seed": 3, "dropout": 0.3, "input_dropout": 0.1, "batch_size": 32, "num_epochs": 2,
            "save_model_frequency": 2}
    straight = Trainer(graph, make_config(NC, **opts), str(tmp_path / "a"))
    m_straight = straight.fit()

    first = Trainer(graph, make_config(NC, **opts), str(tmp_path / "b"))
    assert first.fit(max_steps=9) == {"stopped_at": [1, 3]}  # as if killed during step 10
    ck = torch.load(str(tmp_path / "b" / "checkpoints" / "last.pt"), weights_only=True)
    assert (ck["state"]["epoch"], ck["state"]["step"], ck["state"]["global_step"]) == (1, 2, 8)
    resumed = Trainer(graph, make_config(NC, **opts), str(tmp_path / "b"))
    assert resumed.resume_if_possible() and (resumed.run.epoch, resumed.run.step) == (1, 2)
    m_resumed = resumed.fit()

    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert m_resumed["history"] == m_straight["history"]
    assert (m_resumed["best_epoch"], m_resumed["test"]) == (m_straight["best_epoch"], m_straight["test"])
