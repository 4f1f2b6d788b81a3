"""A mini-batch pipeline that reads like a sentence::

    loader = (NodeSeeds({"item": train_ids}, batch_size=512, shuffle=True, seed=0)
              .sample(NeighborSampler(graph, "10,10"))
              .fetch(FeatureStore(graph, {"item": ["feat"], "user": ["feat"]}))
              .to("cuda")
              .prefetch(2))
    for epoch in range(10):
        loader.set_epoch(epoch)
        for mb in loader:   # MiniBatch
            ...

Every batch carries its own sampling seed, derived from (seed, epoch, batch
index), so a run is reproducible whatever the prefetching. ``prefetch(n)``
runs the stages in a background thread (numba kernels and numpy gathers
release the GIL), keeping up to ``n`` batches ready while the model computes;
``prefetch(n, workers=k)`` runs the same stages in ``k`` forked worker
processes instead (batch ``i`` in worker ``i % k``; :mod:`graphkit.loading.workers`),
with the same batches, in the same order.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Mapping, Optional

import numba
import numpy as np
import torch

from graphkit.loading.features import FeatureStore
from graphkit.loading.workers import worker_batches
from graphkit.sampling.base import EdgeType, NodeType, SampledSubgraph
from graphkit.sampling.edges import EdgeBatch, EdgeSeedSampler
from graphkit.sampling.negative import NegativeSampler
from graphkit.sampling.neighbor import NeighborSampler, mix_seed


@dataclass
class MiniBatch:
    """Everything one training or evaluation step needs, passed between pipeline stages."""

    index: int
    seed: int
    seeds: dict[NodeType, torch.Tensor] = field(default_factory=dict)  # output nodes (node tasks)
    etype: Optional[EdgeType] = None  # target edges (edge tasks)
    eids: Optional[torch.Tensor] = None
    subgraph: Optional[SampledSubgraph] = None
    edges: Optional[EdgeBatch] = None
    x: dict[NodeType, torch.Tensor] = field(default_factory=dict)  # input features of subgraph.input_nodes
    full_blocks: list = field(default_factory=list)  # control-variate training: full 1-hop block per layer

    def to(self, device: torch.device | str) -> "MiniBatch":
        nb = device != "cpu"
        sub = self.subgraph.to(device, nb) if self.subgraph is not None else None
        edges = None
        if self.edges is not None:
            e = self.edges
            mv = (lambda t: None if t is None else t.to(device, non_blocking=nb))
            edges = replace(e, subgraph=sub, src_index=mv(e.src_index), dst_index=mv(e.dst_index),
                            neg_src_index=mv(e.neg_src_index), neg_dst_index=mv(e.neg_dst_index))
        return replace(self, subgraph=sub, edges=edges,
                       x={t: v.to(device, non_blocking=nb) for t, v in self.x.items()},
                       seeds={t: v.to(device, non_blocking=nb) for t, v in self.seeds.items()})


Stage = Callable[[MiniBatch], MiniBatch]


class _ToDevice:
    """The device-transfer stage; it and the stages after it run in the trainer process (never in a worker)."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = device

    def __call__(self, mb: MiniBatch) -> MiniBatch:
        return mb.to(self.device)


class _Pipeline:
    """Seeds followed by stages; iterable; optionally prefetched in a background thread or worker processes."""

    def __init__(self) -> None:
        self.stages: list[Stage] = []
        self.epoch = 0
        self.depth = 0
        self.workers = 0

    # --- builder -----------------------------------------------------------
    def sample(self, sampler: NeighborSampler, negative: Optional[NegativeSampler] = None,
               exclude_targets: bool = True) -> "_Pipeline":
        """Sample blocks around each batch's seed nodes (or target edges + negatives)."""
        made: list[EdgeSeedSampler] = []  # at the first edge batch: node batches need no edge lists

        def edge_sampler() -> EdgeSeedSampler:
            if not made:
                made.append(EdgeSeedSampler(sampler, exclude_targets=exclude_targets))
            return made[0]

        def stage(mb: MiniBatch) -> MiniBatch:
            if mb.etype is None:
                mb.subgraph = sampler.sample_from_nodes({t: v.numpy() for t, v in mb.seeds.items()}, seed=mb.seed)
                return mb
            assert mb.eids is not None
            neg_src = neg_dst = None
            if negative is not None:
                e = mb.eids.numpy()
                src, dst = edge_sampler().ends[mb.etype]
                neg = negative(mb.etype, src[e], dst[e], e, rng=np.random.default_rng(int(mix_seed(mb.seed, 1))))
                neg_dst = neg.dst.numpy()
                neg_src = None if neg.src is None else neg.src.numpy()
            mb.edges = edge_sampler().sample_from_edges(mb.etype, mb.eids.numpy(), seed=mb.seed,
                                                      neg_dst=neg_dst, neg_src=neg_src)
            mb.subgraph = mb.edges.subgraph
            mb.seeds = mb.subgraph.seeds
            return mb

        self.stages.append(stage)
        return self

    def fetch(self, store: FeatureStore) -> "_Pipeline":
        """Gather input features of the first block's source nodes (and edge features of every block)."""

        def stage(mb: MiniBatch) -> MiniBatch:
            assert mb.subgraph is not None, "fetch() comes after sample()"
            mb.x = store.fetch(mb.subgraph.input_nodes)
            for block in mb.subgraph.blocks:
                store.attach_edge_features(block)
            return mb

        self.stages.append(stage)
        return self

    def map(self, fn: Stage) -> "_Pipeline":
        """Any extra per-batch step (e.g. attach labels)."""
        self.stages.append(fn)
        return self

    def to(self, device: torch.device | str) -> "_Pipeline":
        if str(device) != "cpu":
            self.stages.append(_ToDevice(device))
        return self

    def prefetch(self, depth: int = 2, workers: int = 0) -> "_Pipeline":
        """Run the stages ahead of the consumer, up to ``depth`` batches: in a background thread
        (``workers=0``), or in ``workers`` forked processes (GraphStorm's ``num_workers``)."""
        if depth < 0 or workers < 0:
            raise ValueError(f"prefetch depth and workers must be >= 0, got {depth} and {workers}")
        self.depth, self.workers = depth, workers
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batch_seed(self, index: int) -> int:
        """The sampling seed of batch ``index``: (seed, epoch, index), and the rank when there are several."""
        rank, world = getattr(self, "rank", 0), getattr(self, "world_size", 1)
        seed, epoch = self.seed, self.epoch  # type: ignore[attr-defined]
        parts = (seed, epoch, index) if world == 1 else (seed, epoch, index, rank)
        return int(mix_seed(*parts))

    # --- iteration -----------------------------------------------------------
    def _items(self) -> Iterator[MiniBatch]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def _run(self, mb: MiniBatch) -> MiniBatch:
        for s in self.stages:
            mb = s(mb)
        return mb

    def _split(self) -> tuple[Stage, Stage]:
        """(stages a worker process runs, stages the trainer process runs): split at the device transfer."""
        cut = next((i for i, s in enumerate(self.stages) if isinstance(s, _ToDevice)), len(self.stages))
        return _chain(self.stages[:cut]), _chain(self.stages[cut:])

    def __iter__(self) -> Iterator[MiniBatch]:
        if self.workers > 0:
            in_worker, in_trainer = self._split()
            for mb in worker_batches(self._items, in_worker, self.workers, max(self.depth, 1)):
                yield in_trainer(mb)
            return
        if self.depth <= 0:
            for mb in self._items():
                yield self._run(mb)
            return
        yield from _prefetched(self._items(), self._run, self.depth)


def _chain(stages: list[Stage]) -> Stage:
    def run(mb: MiniBatch) -> MiniBatch:
        for s in stages:
            mb = s(mb)
        return mb

    return run


def _prefetched(items: Iterator[MiniBatch], run: Stage, depth: int) -> Iterator[MiniBatch]:
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()
    threads = numba.get_num_threads()  # numba's thread count is per thread: the worker inherits the caller's

    def worker() -> None:
        numba.set_num_threads(threads)
        try:
            for mb in items:
                if stop.is_set():
                    return
                q.put(run(mb))
            q.put(done)
        except BaseException as e:  # surfaced in the consumer
            q.put(e)

    t = threading.Thread(target=worker, name="graphkit-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(timeout=0.01)


def _order(n: int, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng(int(mix_seed(seed, epoch, 0x5EED))).permutation(n)


def shard_size(n: int, world_size: int) -> int:
    """Seeds per rank when ``n`` seeds are shared by ``world_size`` ranks (every rank gets the same number)."""
    return -(-n // world_size) if n else 0


def _shard(order: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous share of ``order`` (the same permutation on every rank). Every rank gets
    ``shard_size`` seeds, so all ranks run the same number of steps; the last shares wrap around to the
    start of ``order`` to fill up (a few seeds are seen twice per epoch)."""
    if world_size == 1 or order.size == 0:
        return order
    per = shard_size(order.size, world_size)
    idx = np.arange(rank * per, (rank + 1) * per) % order.size
    return order[idx]


class NodeSeeds(_Pipeline):
    """Batches of seed nodes (one or more node types, batched per type in turn)."""

    def __init__(self, seeds: Mapping[NodeType, np.ndarray | torch.Tensor], batch_size: int, shuffle: bool = False,
                 drop_last: bool = False, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        super().__init__()
        self.seeds = {t: np.asarray(v, dtype=np.int64) for t, v in seeds.items()}
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed
        self.rank, self.world_size = rank, world_size

    def _batches(self, n: int) -> int:
        n = shard_size(n, self.world_size)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        return sum(self._batches(len(v)) for v in self.seeds.values())

    def _items(self) -> Iterator[MiniBatch]:
        index = 0
        for t, ids in self.seeds.items():
            order = _shard(ids[_order(len(ids), self.shuffle, self.seed, self.epoch)], self.rank, self.world_size)
            for b in range(self._batches(len(ids))):
                chunk = order[b * self.batch_size:(b + 1) * self.batch_size]
                yield MiniBatch(index=index, seed=self._batch_seed(index),
                                seeds={t: torch.from_numpy(np.ascontiguousarray(chunk))})
                index += 1


class EdgeSeeds(_Pipeline):
    """Batches of target edges of one edge type."""

    def __init__(self, etype: EdgeType, eids: np.ndarray | torch.Tensor, batch_size: int, shuffle: bool = False,
                 drop_last: bool = False, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        super().__init__()
        self.etype = tuple(etype)
        self.eids = np.asarray(eids, dtype=np.int64)
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        n = shard_size(len(self.eids), self.world_size)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _items(self) -> Iterator[MiniBatch]:
        order = _shard(self.eids[_order(len(self.eids), self.shuffle, self.seed, self.epoch)], self.rank,
                       self.world_size)
        for b in range(len(self)):
            chunk = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield MiniBatch(index=b, seed=self._batch_seed(b), etype=self.etype,  # type: ignore[arg-type]
                            eids=torch.from_numpy(np.ascontiguousarray(chunk)))
