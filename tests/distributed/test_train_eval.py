"""Distributed evaluation gives the one-process metrics exactly: batches dealt whole, padding dropped,
the gathered union scored in one-process order.

One saved multi-task model (node classification with a *sampled* evaluation
neighbourhood, edge classification, link prediction with sampled negatives) is
evaluated by one process and by 2 ranks; every rank's metrics must equal the
one-process metrics to the last bit. The batch counts are odd (3 node batches,
13 edge batches), so a rank evaluates padding batches that must not count.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch
from ranks import run_ranks

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "training"))
from toy_graph import LP, NC, build_toy_graph, make_config

from graphkit.distributed.dealt_batches import DealtBatches
from graphkit.loading.pipeline import EdgeSeeds, NodeSeeds

TASKS = {"multi_task": [
    NC,
    {"edge_classification": {"target_etype": "user,rates,item", "label_field": "cls", "num_classes": 5}},
    LP,
]}
OPTIONS = {"num_epochs": 1, "eval_batch_size": 25, "eval_fanout": "3,3", "dropout": 0.2}


def test_batches_are_dealt_whole_with_padding_at_the_end():
    source = lambda: NodeSeeds({"item": torch.arange(100, 160).numpy()}, 7)  # noqa: E731 - 9 batches
    one = [(mb.index, mb.seed, mb.seeds["item"].tolist()) for mb in source()]
    seen = []
    for rank in range(4):
        dealt = DealtBatches(source(), rank, 4)
        got = [(mb.index, mb.seed, mb.seeds["item"].tolist()) for mb in dealt]
        assert len(got) == len(dealt) == 3  # ceil(9 / 4) on every rank: lockstep
        assert dealt.num_real == (3 if rank == 0 else 2)
        assert got[: dealt.num_real] == [one[i] for i in range(rank, 9, 4)]  # the very batches of one process
        if dealt.num_real < 3:
            assert got[-1] == one[-1]  # padding: a copy of the last batch
        seen += got[: dealt.num_real]
    assert sorted(seen) == sorted(one)
    edges = DealtBatches(EdgeSeeds(("user", "rates", "item"), torch.arange(5).numpy(), 2), 2, 3)
    assert (len(edges), edges.num_real) == (1, 1) and [mb.eids.tolist() for mb in edges] == [[4]]
    with pytest.raises(ValueError, match="seed source"):
        DealtBatches(NodeSeeds({"item": torch.arange(3).numpy()}, 2).fetch(None), 0, 1)  # type: ignore[arg-type]


def _evaluate(graph_dir: str, model_dir: str) -> tuple[dict, dict]:
    """One rank: the saved model's validation and test metrics."""
    from graphkit.storage.graph import Graph
    from graphkit.training.checkpoint import load_checkpoint
    from graphkit.training.config import TrainConfig
    from graphkit.training.trainer import Trainer

    cfg = TrainConfig.from_json(load_checkpoint(model_dir)["config"])
    trainer = Trainer(Graph(graph_dir), cfg)
    trainer.restore(model_dir, optimizer=False)
    return trainer.evaluate()


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> tuple[str, str]:
    from graphkit.training.trainer import Trainer

    base = tmp_path_factory.mktemp("dist-eval")
    graph = build_toy_graph(str(base / "graph"))
    Trainer(graph, make_config(TASKS, **OPTIONS), str(base / "model")).fit()
    return graph.root, str(base / "model")


def test_distributed_metrics_equal_the_one_process_metrics_exactly(saved_model):
    graph_dir, model_dir = saved_model
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks: the same matmul kernels, the same bits
    try:
        one = _evaluate(graph_dir, model_dir)
    finally:
        torch.set_num_threads(threads)
    val, test = one
    assert set(val) == set(test) and len(val) == 3
    for name, metrics in {**val, **test}.items():
        assert all(0 < v <= 1 for v in metrics.values()), (name, metrics)  # real, non-degenerate numbers
    for rank, got in enumerate(run_ranks(_evaluate, 2, graph_dir, model_dir, timeout=120)):
        assert got == one, f"rank {rank}: {got} != {one}"
