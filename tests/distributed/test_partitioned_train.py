"""`graphkit train` under torchrun on a 2-partition graph trains as well as one process on the whole graph.

The toy graph's item communities are only readable from neighbours, so the model
must message-pass across the partition cut; every node type also gets learnable
embeddings (``use_node_embeddings``), sharded by partition and updated by
DistSparseAdam. The saved model.pt holds the gathered full tables, so the
one-process inference stack loads it. Each rank logs its network traffic per batch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
from toy_graph import BASE_OPTIONS, NC, NUM_ITEMS, NUM_USERS, build_toy_graph, make_config  # noqa: E402

from graphkit.partition.stage import partition_graph  # noqa: E402
from graphkit.storage.graph import Graph  # noqa: E402
from graphkit.training.trainer import Trainer  # noqa: E402

OPTIONS = {**BASE_OPTIONS, "num_epochs": 4, "use_node_embeddings": True, "sparse_optimizer_lr": 0.01}
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")


@pytest.mark.skipif(not os.path.exists(TORCHRUN), reason="torchrun is not installed next to this Python")
def test_two_ranks_on_partitions_train_like_one_process(tmp_path) -> None:
    graph_dir = str(tmp_path / "graph")
    build_toy_graph(graph_dir)
    partition_graph(graph_dir, str(tmp_path / "parts"), 2, "metis", 0)
    conf = tmp_path / "nc.yaml"
    conf.write_text(yaml.safe_dump({"gsf": {"basic": OPTIONS, **NC}}))

    one = Trainer(Graph(graph_dir), make_config(NC, **OPTIONS)).fit()

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "graphkit.cli.main", "train",
                          "--part-config", str(tmp_path / "parts" / "partition.json"), "--cf", str(conf),
                          "--save-model-path", str(tmp_path / "model")],
                         check=False, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    two = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))
    a1, a2 = one["test"]["accuracy"], two["test"]["accuracy"]
    assert a1 >= 0.9 and a2 >= 0.9, (a1, a2)  # chance is 0.2
    assert abs(a1 - a2) <= 0.05, (a1, a2)
    print(f"test accuracy: one process {a1:.4f}, two ranks on partitions {a2:.4f}")

    # The traffic of every training epoch is logged by both ranks.
    logged = re.findall(r"rank (\d): training epoch, (\d+) batches: ([\d.]+) KiB sent", out.stderr)
    assert {r for r, _, _ in logged} == {"0", "1"} and all(float(kib) > 0 for _, _, kib in logged)
    # model.pt holds whole tables in global row order (loadable by one-process inference).
    state = torch.load(tmp_path / "model" / "model.pt", weights_only=True)["model"]
    assert state["input.embeddings.item.weight"].shape == (NUM_ITEMS, 16)
    assert state["input.embeddings.user.weight"].shape == (NUM_USERS, 16)
