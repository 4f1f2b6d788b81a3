"""What a task is to the training loop: batches, a loss, and an evaluation.

Tasks differ only in how they build mini-batches, compute their loss and
evaluate; the loop in :mod:`graphkit.training.trainer` is shared by all.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Iterable, Optional

import numpy as np
import torch
from torch import nn

from graphkit.errors import ConfigError
from graphkit.loading.features import FeatureStore
from graphkit.distributed.context import current
from graphkit.loading.pipeline import MiniBatch, _Pipeline
from graphkit.sampling.base import EdgeType
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.graph import Graph
from graphkit.training.config import TaskConfig, TrainConfig
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
                fanout = ",".join(["-1"] * len(str(fanout).split(","))) if isinstance(fanout, str) else [-1] * len(fanout)
            elif self.train_cfg.eval_fanout is not None:
                fanout = self.train_cfg.eval_fanout
        if self.train_cfg.model_encoder_type == "mlp":
            fanout = []
        return NeighborSampler(self.graph, fanout, **self.sampler_options())

    def sampler_options(self) -> dict:
        return {}

    @staticmethod
    def shard() -> dict:
        """``rank``/``world_size`` for seed sources: each rank trains on its equal share of the seeds."""
        ctx = current()
        return {"rank": ctx.rank, "world_size": ctx.world_size}

    def ready(self, loader: _Pipeline) -> _Pipeline:
        """The last step of every training pipeline: run it ahead of the model (a background thread)."""
        return loader.prefetch(2)

    @abstractmethod
    def decoder(self, hidden: int) -> nn.Module:
        """This task's head, on top of the encoder's ``hidden``-wide output."""

    @abstractmethod
    def train_batches(self, seed: int) -> Iterable[MiniBatch]:
        """The training pipeline (call ``set_epoch`` on it each epoch)."""

    @abstractmethod
    def loss(self, model: nn.Module, mb: MiniBatch) -> torch.Tensor:
        """The loss of one mini-batch."""

    @abstractmethod
    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """Metric name -> value on the ``val`` or ``test`` split (model in eval mode, no grad)."""

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
