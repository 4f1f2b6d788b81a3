"""What a task is to the training loop: batches, a loss, and an evaluation.

Tasks differ only in how they build mini-batches, compute their loss and
evaluate; the loop in :mod:`graphkit.training.trainer` is shared by all.

Evaluation is written once, here (:meth:`Task.evaluate`), for any number of
processes: a task only says how to batch a split (``eval_loaders``) and what
a batch yields (``eval_outputs``: keys and the metric's two arguments);
:mod:`graphkit.training.evaluation` runs this rank's batches, gathers the
union and scores it, giving the one-process metric exactly.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable, Iterable, Optional

import numpy as np
import torch
from torch import nn

from graphkit.distributed.context import current
from graphkit.distributed.dealt_batches import DealtBatches
from graphkit.errors import ConfigError
from graphkit.loading.features import FeatureStore
from graphkit.loading.pipeline import MiniBatch, _Pipeline
from graphkit.sampling.base import EdgeType
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.graph import Graph
from graphkit.training.config import TaskConfig, TrainConfig
from graphkit.training.evaluation import EvalOutput, gather_union, predict_share
from graphkit.training.losses import make_class_loss, make_regression_loss
from graphkit.training.metrics import Metric, get_metric

SPLITS = ("train", "val", "test")


def parse_etype(text: str | list | tuple, graph: Graph, key: str) -> EdgeType:
    """An edge type from GraphStorm's ``"src,rel,dst"`` (or a relation name, if unique)."""
    parts = tuple(text) if isinstance(text, (list, tuple)) else tuple(p.strip() for p in str(text).split(","))
    if len(parts) == 3 and parts in graph.edge_types:
        return parts  # type: ignore[return-value]
    matches = [e for e in graph.edge_types if e[1] == str(text)]
    if len(matches) == 1:
        return matches[0]
    raise ConfigError(f"edge type '{text}' is not in the graph.", key=key,
                      hint=f"Edge types: {'; '.join(','.join(e) for e in graph.edge_types)}.")


class Task(ABC):
    """One training objective over one graph."""

    kind: str
    default_metric: str

    def __init__(self, cfg: TaskConfig, train: TrainConfig, graph: Graph, store: FeatureStore) -> None:
        self.cfg, self.train_cfg, self.graph, self.store = cfg, train, graph, store
        names = cfg.eval_metric or [self.default_metric]
        names = [names] if isinstance(names, str) else list(names)
        self.metrics: list[Metric] = [get_metric(n, self.metric_kind) for n in names]
        self.weight = float(cfg.task_weight)
        self.device = torch.device("cpu")

    metric_kind: Optional[str] = None

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def main_metric(self) -> Metric:
        return self.metrics[0]

    @property
    def batch_size(self) -> int:
        return int(self.cfg.batch_size or self.train_cfg.batch_size)

    def sampler(self, evaluation: bool) -> NeighborSampler:
        """The training or evaluation sampler, created once (its exclusion masks are sized by the graph)."""
        cache = self.__dict__.setdefault("_samplers", {})
        if evaluation not in cache:
            cache[evaluation] = self._make_sampler(evaluation)
        return cache[evaluation]

    def _make_sampler(self, evaluation: bool) -> NeighborSampler:
        fanout = self.train_cfg.fanout
        if evaluation:
            if not self.train_cfg.use_mini_batch_infer:
                fanout = (",".join(["-1"] * len(str(fanout).split(","))) if isinstance(fanout, str)
                          else [-1] * len(fanout))
            elif self.train_cfg.eval_fanout is not None:
                fanout = self.train_cfg.eval_fanout
        if self.train_cfg.model_encoder_type == "mlp":
            fanout = []
        make = getattr(self.graph, "neighbor_sampler", None)  # a partitioned graph brings its own sampler
        if make is not None:
            return make(fanout, **self.sampler_options())
        return NeighborSampler(self.graph, fanout, **self.sampler_options())

    def sampler_options(self) -> dict:
        return {}

    def shard(self) -> dict:
        """``rank``/``world_size`` for seed sources: each rank trains on its equal share of the seeds
        (on a partitioned graph: of its partition's seeds, shared only by the ranks holding that partition)."""
        own = getattr(self.graph, "seed_shard", None)
        if own is not None:
            return own()
        ctx = current()
        return {"rank": ctx.rank, "world_size": ctx.world_size}

    def ready(self, loader: _Pipeline) -> _Pipeline:
        """The last step of every training pipeline: run it ahead of the model, in a background thread, or
        in ``num_workers`` forked sampler processes (GraphStorm's option; the same batches either way)."""
        workers = int(self.train_cfg.num_workers)
        if workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {workers}.", key="num_workers")
        equal = getattr(self.graph, "equal_batches", None)  # partitioned: pad to the longest rank's batches
        if equal is not None:
            loader = equal(loader)
        return loader.prefetch(2, workers=workers)

    @abstractmethod
    def decoder(self, hidden: int) -> nn.Module:
        """This task's head, on top of the encoder's ``hidden``-wide output."""

    @abstractmethod
    def train_batches(self, seed: int) -> Iterable[MiniBatch]:
        """The training pipeline (call ``set_epoch`` on it each epoch)."""

    @abstractmethod
    def loss(self, model: nn.Module, mb: MiniBatch) -> torch.Tensor:
        """The loss of one mini-batch."""

    def to(self, device: torch.device | str) -> "Task":
        """Compute on ``device``: batches and targets go there; so do loss buffers (class weights)."""
        self.device = torch.device(device)
        loss_fn = getattr(self, "loss_fn", None)
        if isinstance(loss_fn, nn.Module):
            loss_fn.to(self.device)
        return self

    @abstractmethod
    def eval_loaders(self, split: str, deal: Callable[[_Pipeline], DealtBatches]) -> list[DealtBatches]:
        """The ``val`` or ``test`` split's batches: ``deal(seed source).sample(...).fetch(...)`` per seed source."""

    @abstractmethod
    def eval_outputs(self, model: nn.Module, mb: MiniBatch) -> EvalOutput:
        """One evaluation batch's keys (node or edge IDs) and the two arguments of the task's metrics."""

    def score(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
        """Metric name -> value over the whole split's ``eval_outputs``."""
        return self.scalarize({m.name: m(a, b) for m in self.metrics})

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """Metric name -> value on the ``val`` or ``test`` split (model in eval mode, no grad).

        In a multi-process job every rank must call it (it gathers); every rank gets the same values.
        """
        ctx = current()
        rows = predict_share(self, model, split, ctx)
        if rows is None:
            return {m.name: float("nan") for m in self.metrics}
        a, b = gather_union(rows, ctx)
        return self.score(a, b)

    def supervised_loss(self, regression: bool, num_classes: int) -> nn.Module:
        """The loss a classification/regression task's config asks for."""
        cfg = self.cfg
        if regression:
            return make_regression_loss(cfg.regression_loss_func, alpha=cfg.alpha, gamma=cfg.gamma)
        return make_class_loss(cfg.class_loss_func, multilabel=bool(cfg.multilabel),
                               class_weights=cfg.imbalance_class_weights, alpha=cfg.alpha, gamma=cfg.gamma,
                               num_classes=num_classes)

    def scalarize(self, values: dict) -> dict[str, float]:
        out = {}
        for m in self.metrics:
            v = values[m.name]
            out[m.name] = Metric.scalar(v)
        return {k: (float("nan") if v is None or (isinstance(v, float) and math.isnan(v)) else float(v))
                for k, v in out.items()}


def mask_ids(graph: Graph, owner: str | EdgeType, name: str, node: bool) -> np.ndarray:
    m = graph.node_mask(owner, name) if node else graph.edge_mask(owner, name)  # type: ignore[arg-type]
    return np.flatnonzero(np.asarray(m))
