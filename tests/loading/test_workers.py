"""Sampler worker processes: the same batches as the in-thread pipeline, in order, and clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from graphkit.loading import EdgeSeeds, FeatureStore, NodeSeeds
from graphkit.loading.workers import SamplerWorkerError, running_workers
from graphkit.sampling.negative import UniformNegativeSampler
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph

RATES = ("user", "rates", "item")


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Graph:
    """60 users, 40 items, 400 random ratings, node and edge features, reverse edges."""
    rng = np.random.default_rng(0)
    path = str(tmp_path_factory.mktemp("workers") / "g")
    graph_from_arrays(path, {"user": 60, "item": 40}, {RATES: (rng.integers(0, 60, 400), rng.integers(0, 40, 400))},
                      node_features={"user": {"f": rng.normal(size=(60, 3)).astype(np.float32)},
                                     "item": {"f": rng.normal(size=(40, 2)).astype(np.float32)}},
                      edge_features={RATES: {"w": rng.normal(size=(400, 2)).astype(np.float32)}},
                      add_reverse_edges=True)
    return Graph(path)


def _tensors(obj, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor reachable from a MiniBatch, by path (blocks, features, edge indices)."""
    out: dict[str, torch.Tensor] = {}
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_tensors(v, f"{prefix}[{k}]"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_tensors(v, f"{prefix}[{i}]"))
    elif hasattr(obj, "__dataclass_fields__"):
        for k in obj.__dataclass_fields__:
            out.update(_tensors(getattr(obj, k), f"{prefix}.{k}"))
    return out


def _epochs(loader, epochs: int = 2, hold: bool = False) -> list[list[dict[str, torch.Tensor]]]:
    """Every batch's tensors, per epoch: copies, so that each batch is freed at once and its shared buffer
    goes back to the worker (the trainer's pattern), or the batches themselves (``hold``: none is freed)."""
    out = []
    for e in range(epochs):
        loader.set_epoch(e)
        out.append([_tensors(mb) if hold else {k: v.clone() for k, v in _tensors(mb).items()} for mb in loader])
    return out


def _assert_bit_equal(a, b) -> None:
    assert len(a) == len(b)
    for ea, eb in zip(a, b):
        assert len(ea) == len(eb) and len(ea) > 0
        for ta, tb in zip(ea, eb):
            assert ta.keys() == tb.keys()
            for k in ta:
                assert ta[k].dtype == tb[k].dtype and torch.equal(ta[k], tb[k]), k


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_node_batches_equal_the_in_thread_pipeline(graph, workers):
    store = FeatureStore(graph, {"user": ["f"], "item": ["f"]}, edge_features={RATES: ["w"]})

    def loader():
        return (NodeSeeds({"item": np.arange(40), "user": np.arange(0, 60, 2)}, batch_size=7, shuffle=True, seed=3)
                .sample(NeighborSampler(graph, "3,2")).fetch(store))

    thread = _epochs(loader().prefetch(2))
    procs = _epochs(loader().prefetch(2, workers=workers))
    _assert_bit_equal(thread, procs)
    _assert_bit_equal(thread, _epochs(loader().prefetch(2, workers=workers), hold=True))  # 11 > POOL_SIZE held
    assert len(thread[0]) == 6 + 5  # ceil(40/7) item batches, then ceil(30/7) user batches, in order
    assert not torch.equal(thread[0][0][".seeds[item]"], thread[1][0][".seeds[item]"])  # a new shuffle per epoch
    assert "[0].edge_feat[('user', 'rates', 'item')]" in "".join(thread[0][0])  # edge features came back too
    assert running_workers() == []


def test_edge_batches_with_negatives_equal_the_in_thread_pipeline(graph):
    store = FeatureStore(graph, {"user": ["f"], "item": ["f"]})
    negative = UniformNegativeSampler({"user": 60, "item": 40}, k=4)

    def loader():
        return (EdgeSeeds(RATES, np.arange(0, 400, 3), batch_size=16, shuffle=True, seed=1)
                .sample(NeighborSampler(graph, "2,2"), negative=negative).fetch(store))

    thread = _epochs(loader().prefetch(2))
    procs = _epochs(loader().prefetch(4, workers=2))
    _assert_bit_equal(thread, procs)
    assert thread[0][0][".edges.neg_dst_index"].shape == (16, 4)


def test_a_worker_exception_surfaces_with_its_traceback(graph):
    def explode_on_batch_three(mb):
        if mb.index == 3:
            raise ValueError(f"bad batch {mb.index}")
        return mb

    loader = NodeSeeds({"item": np.arange(40)}, batch_size=5).map(explode_on_batch_three).prefetch(2, workers=2)
    got = []
    with pytest.raises(ValueError, match="bad batch 3") as info:
        for mb in loader:
            got.append(mb.index)
    assert got == [0, 1, 2]  # everything before the failure, in order
    text = str(info.value)
    assert "sampler worker 1 (batch 3)" in text and "explode_on_batch_three" in text  # the worker's traceback
    assert running_workers() == []


def test_an_unpicklable_exception_type_still_surfaces(graph):
    class LocalError(Exception):
        pass

    def fail(mb):
        raise LocalError("local")

    with pytest.raises(SamplerWorkerError, match="Caught LocalError in sampler worker 0"):
        list(NodeSeeds({"item": np.arange(10)}, batch_size=5).map(fail).prefetch(2, workers=1))
    assert running_workers() == []


def test_a_killed_worker_raises_instead_of_hanging(graph):
    def die(mb):
        if mb.index == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return mb

    loader = NodeSeeds({"item": np.arange(40)}, batch_size=5).map(die).prefetch(2, workers=2)
    t = time.perf_counter()
    with pytest.raises(SamplerWorkerError, match="sampler worker 0 .* exited unexpectedly with code -9"):
        list(loader)
    assert time.perf_counter() - t < 20
    assert running_workers() == []


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ")[1].startswith("Z")  # a zombie is dead
    except FileNotFoundError:
        return True


def test_early_exit_stops_every_worker(graph):
    store = FeatureStore(graph, {"user": ["f"], "item": ["f"]})
    loader = (NodeSeeds({"item": np.arange(40)}, batch_size=2).sample(NeighborSampler(graph, "2")).fetch(store)
              .prefetch(4, workers=2))
    it = iter(loader)
    first = next(it)
    pids = running_workers()
    assert len(pids) == 2
    it.close()  # what the trainer does at the end of an epoch; a `break` in a for loop does the same
    assert running_workers() == [] and all(_gone(p) for p in pids)
    assert first.x["item"].shape == (2, 2)  # batches stay valid after the workers are gone
    for mb in loader:  # an error in the consumer (the training step) stops them too
        pids = running_workers()
        break
    assert all(_gone(p) for p in pids)


_ORPHAN_SCRIPT = """
import sys, time, numpy as np
from graphkit.loading import NodeSeeds
from graphkit.loading.workers import running_workers
def slow(mb):
    time.sleep(60)
    return mb
it = iter(NodeSeeds({"n": np.arange(100)}, batch_size=1).map(slow).prefetch(2, workers=2))
import threading
threading.Thread(target=lambda: next(it), daemon=True).start()
while len(running_workers()) < 2:
    time.sleep(0.05)
print(*running_workers(), flush=True)
time.sleep(60)
"""


def test_workers_die_with_a_killed_trainer():
    proc = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and not any(_gone(p) for p in pids)
    finally:
        proc.kill()  # SIGKILL: no finally blocks, no atexit handlers run in the trainer
        proc.wait()
    deadline = time.time() + 10
    while not all(_gone(p) for p in pids) and time.time() < deadline:
        time.sleep(0.05)
    assert all(_gone(p) for p in pids)


def test_device_transfer_and_later_stages_run_in_the_trainer_process():
    here = []

    def tag(mb):  # before the transfer: in a worker
        mb.etype = ("sampled in", str(os.getpid()), "")
        return mb

    def record(mb):  # after the transfer: in the trainer
        here.append(os.getpid())
        return mb

    loader = NodeSeeds({"n": np.arange(10)}, batch_size=5).map(tag).to("meta").map(record).prefetch(2, workers=1)
    batches = list(loader)
    assert [mb.seeds["n"].device.type for mb in batches] == ["meta", "meta"]
    assert here == [os.getpid()] * 2
    assert {mb.etype[1] for mb in batches} != {str(os.getpid())} and len({mb.etype[1] for mb in batches}) == 1


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="workers must be >= 0"):
        NodeSeeds({"n": np.arange(3)}, batch_size=1).prefetch(2, workers=-1)


def test_training_with_sampler_workers_is_identical_to_the_thread(tmp_path):
    """``num_workers`` is a switch: the same batches give the same losses and the same model, bit for bit."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
    from toy_graph import LP, NC, build_toy_graph, make_config

    from graphkit.training.trainer import Trainer

    graph = build_toy_graph(str(tmp_path / "toy"))
    runs = []
    for workers in (0, 2):
        cfg = make_config({"multi_task": [NC, LP]}, num_epochs=2, no_validation=True, batch_size=128,
                          num_workers=workers)
        trainer = Trainer(graph, cfg)
        runs.append(([h["loss"] for h in trainer.fit()["history"]], trainer.model.state_dict()))
        assert running_workers() == []
    (loss0, state0), (loss2, state2) = runs
    assert loss0 == loss2 and len(loss0) == 2 and loss0[1] < loss0[0]
    assert all(torch.equal(state0[k], state2[k]) for k in state0)


@dataclass
class Box:
    a: torch.Tensor
    rest: dict


def test_packing_keeps_every_tensor_bit_for_bit():
    from graphkit.loading.packing import Packed

    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    box = Box(x, {"t": x.t(), "same": x, "flags": torch.tensor([True, False]), "half": torch.ones(3, dtype=torch.half),
                  "scalar": torch.tensor(7), "empty": torch.zeros(0, 5), "ids": torch.tensor([2**40, -1]), "n": 3})
    packed = Packed.of(box)  # the torch-shared-memory form (macOS); Linux sends a memfd, tested by every test above
    assert packed.buffer.is_shared() and packed.buffer.numel() < 1024
    out = packed.unpack()
    for k, v in box.rest.items():
        if isinstance(v, torch.Tensor):
            got = out.rest[k]
            assert got.dtype == v.dtype and got.shape == v.shape and torch.equal(got, v), k
    assert torch.equal(out.a, x) and out.rest["n"] == 3
    assert out.a.data_ptr() == out.rest["same"].data_ptr()  # a tensor referenced twice is stored once


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="buffer recycling uses Linux memfd")
def test_shared_buffers_are_recycled_only_once_the_trainer_frees_a_batch():
    import multiprocessing as mp

    from graphkit.loading.packing import POOL_SIZE, Receiver, Sender, free_flags

    ctx = mp.get_context("fork")
    trainer_end, worker_end = ctx.Pipe(duplex=True)
    flags = free_flags(ctx)
    sender, receiver = Sender(worker_end, flags), Receiver(trainer_end, flags)
    for i in range(5):  # each batch freed before the next: one buffer does
        sender.send({"x": torch.full((1000,), i), "y": torch.arange(i)})
        got = receiver.receive(trainer_end.recv())
        assert got["x"].tolist() == [i] * 1000 and got["y"].tolist() == list(range(i))
        del got
    assert len(sender.pool) == 1
    held = []
    for i in range(POOL_SIZE + 3):  # batches kept: never overwritten; the pool stops growing at POOL_SIZE
        sender.send({"x": torch.full((2000,), 100 + i)})  # larger than before: the free buffer grows
        held.append(receiver.receive(trainer_end.recv()))
    assert len(sender.pool) == POOL_SIZE
    assert [b["x"].unique().tolist() for b in held] == [[100 + i] for i in range(POOL_SIZE + 3)]
