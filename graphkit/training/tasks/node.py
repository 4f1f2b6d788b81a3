"""Node classification (single- and multi-label) and node regression."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from graphkit.distributed.dealt_batches import DealtBatches
from graphkit.errors import ConfigError
from graphkit.loading.pipeline import MiniBatch, NodeSeeds, _Pipeline
from graphkit.models.decoders import make_node_decoder
from graphkit.training.control_variate import ControlVariate, FullBlocks
from graphkit.training.evaluation import EvalOutput
from graphkit.training.tasks.base import SPLITS, Task, mask_ids


class NodeTask(Task):
    """``node_classification`` / ``node_regression`` on ``target_ntype``'s ``label_field``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        g, cfg = self.graph, self.cfg
        self.regression = cfg.kind == "node_regression"
        self.ntype = cfg.target_ntype or self._only_labelled_type()
        labels = g.meta.node_type(self.ntype).labels
        self.label_name = cfg.label_field or (next(iter(labels)) if len(labels) == 1 else None)
        if self.label_name not in labels:
            raise ConfigError(f"node type '{self.ntype}' has no label '{self.label_name}'.", key="label_field",
                              hint=f"Its labels: {', '.join(labels) or 'none'}.")
        meta = labels[self.label_name]
        self.labels = np.asarray(g.node_label(self.ntype, self.label_name))
        self.num_classes = 1 if self.regression else int(cfg.num_classes or meta.num_classes or 0)
        if not self.regression and self.num_classes < 2 and not cfg.multilabel:
            raise ConfigError("node classification needs num_classes >= 2.", key="num_classes")
        mask_names = cfg.mask_fields or meta.mask_names
        self.ids = {s: mask_ids(g, self.ntype, m, node=True) for s, m in zip(SPLITS, mask_names)}
        if self.ids["train"].size == 0:
            raise ConfigError(f"no training nodes: mask '{mask_names[0]}' of '{self.ntype}' is empty.",
                              key="mask_fields")
        self.loss_fn = self.supervised_loss(self.regression, self.num_classes)
        self.cv: ControlVariate | None = None  # histories, created with the model (control_variate: true)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.cfg.kind

    @property
    def default_metric(self) -> str:  # type: ignore[override]
        return "rmse" if self.cfg.kind == "node_regression" else "accuracy"

    @property
    def metric_kind(self) -> str:  # type: ignore[override]
        return "regression" if self.cfg.kind == "node_regression" else "classification"

    def _only_labelled_type(self) -> str:
        typed = [t for t, m in self.graph.meta.node_types.items() if m.labels]
        if len(typed) != 1:
            raise ConfigError("target_ntype is required when several (or no) node types have labels.",
                              key="target_ntype")
        return typed[0]

    def decoder(self, hidden: int) -> nn.Module:
        return make_node_decoder(self.cfg.decoder_type, hidden, self.num_classes)

    def _targets(self, ids: torch.Tensor) -> torch.Tensor:
        y = torch.from_numpy(np.take(self.labels, ids.cpu().numpy(), axis=0))
        return (y.float() if (self.regression or self.cfg.multilabel) else y.long()).to(self.device)

    def train_batches(self, seed: int) -> Iterable[MiniBatch]:
        loader = (NodeSeeds({self.ntype: self.ids["train"]}, self.batch_size, shuffle=True, seed=seed, **self.shard())
                  .sample(self.sampler(False)).fetch(self.store))
        if self.train_cfg.control_variate:
            loader = loader.map(FullBlocks(self.graph))
        return self.ready(loader)

    def predict(self, model: nn.Module, mb: MiniBatch) -> torch.Tensor:
        if self.train_cfg.control_variate and model.training:
            if self.cv is None:
                self.cv = ControlVariate(model, self.graph)
            h = self.cv.embed(model, mb)[self.ntype]
        else:
            h = model.embed(mb.subgraph, mb.x)[self.ntype]
        out = model.decoders[self.name](h)
        return out.squeeze(-1) if self.regression else out

    def loss(self, model: nn.Module, mb: MiniBatch) -> torch.Tensor:
        return self.loss_fn(self.predict(model, mb), self._targets(mb.seeds[self.ntype]))

    def eval_loaders(self, split: str, deal: Callable[[_Pipeline], DealtBatches]) -> list[DealtBatches]:
        ids = self.ids[split]
        if ids.size == 0:
            return []
        return [deal(NodeSeeds({self.ntype: ids}, int(self.train_cfg.eval_batch_size)))
                .sample(self.sampler(True)).fetch(self.store)]

    def eval_outputs(self, model: nn.Module, mb: MiniBatch) -> EvalOutput:
        ids = mb.seeds[self.ntype]
        return EvalOutput(ids, self.predict(model, mb), self._targets(ids))
