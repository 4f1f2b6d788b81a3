"""Edge classification and edge regression on ``target_etype``'s ``label_field``."""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import numpy as np
import torch
from torch import nn

from graphkit.distributed.dealt_batches import DealtBatches
from graphkit.errors import ConfigError
from graphkit.loading.pipeline import EdgeSeeds, MiniBatch, _Pipeline
from graphkit.models.decoders import make_edge_decoder
from graphkit.training.evaluation import EvalOutput
from graphkit.training.tasks.base import SPLITS, Task, mask_ids, parse_etype


class EdgeTask(Task):
    """The decoder sees the two endpoint embeddings (and edge features with ``decoder_edge_feat``).

    Target edges stay in the message-passing graph unless
    ``exclude_training_targets`` is set in the task (GraphStorm's default for
    edge tasks is to keep them).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        g, cfg = self.graph, self.cfg
        self.regression = cfg.kind == "edge_regression"
        target = cfg.target_etype
        if isinstance(target, list):
            if len(target) != 1:
                raise ConfigError("edge tasks train on one target_etype.", key="target_etype")
            target = target[0]
        if target is None:
            raise ConfigError(f"{cfg.kind} needs target_etype.", key="target_etype")
        self.etype = parse_etype(target, g, "target_etype")
        meta = g.meta.edge_type(self.etype)
        self.label_name = cfg.label_field or (next(iter(meta.labels)) if len(meta.labels) == 1 else None)
        if self.label_name not in meta.labels or meta.labels[self.label_name].array is None:
            raise ConfigError(f"edge type {','.join(self.etype)} has no label '{self.label_name}'.", key="label_field")
        lab = meta.labels[self.label_name]
        self.labels = np.asarray(g.load(lab.array))  # type: ignore[arg-type]
        self.num_classes = 1 if self.regression else int(cfg.num_classes or lab.num_classes or 0)
        self.ids = {s: mask_ids(g, self.etype, m, node=False)
                    for s, m in zip(SPLITS, cfg.mask_fields or lab.mask_names)}
        self.edge_feat_names = cfg.decoder_edge_feat or []
        if isinstance(self.edge_feat_names, str):
            self.edge_feat_names = [self.edge_feat_names]
        self.edge_feats = [np.asarray(g.edge_feature(self.etype, n)) for n in self.edge_feat_names]
        self.exclude = bool(cfg.options.get("exclude_training_targets", False))
        self.loss_fn = self.supervised_loss(self.regression, self.num_classes)

    @property
    def default_metric(self) -> str:  # type: ignore[override]
        return "rmse" if self.cfg.kind == "edge_regression" else "accuracy"

    @property
    def metric_kind(self) -> str:  # type: ignore[override]
        return "regression" if self.cfg.kind == "edge_regression" else "classification"

    def decoder(self, hidden: int) -> nn.Module:
        feat_dim = sum(int(np.prod(a.shape[1:])) for a in self.edge_feats)
        name = self.cfg.decoder_type or ("mlp_efeat" if feat_dim else None)
        return make_edge_decoder(name, hidden, self.num_classes, num_basis=int(self.cfg.num_decoder_basis),
                                 feat_dim=feat_dim, regression=self.regression)

    def train_batches(self, seed: int) -> Iterable[MiniBatch]:
        return self.ready(EdgeSeeds(self.etype, self.ids["train"], self.batch_size, shuffle=True, seed=seed,
                                    **self.shard())
                          .sample(self.sampler(False), exclude_targets=self.exclude).fetch(self.store))

    def predict(self, model: nn.Module, mb: MiniBatch) -> torch.Tensor:
        eb = mb.edges
        assert eb is not None
        s, _, d = self.etype
        h = model.embed(mb.subgraph, mb.x)
        feats = self.edge_features(eb.eids.cpu().numpy())
        out = model.decoders[self.name](h[s][eb.src_index], h[d][eb.dst_index],
                                        None if feats is None else feats.to(self.device))
        return out.squeeze(-1) if self.regression else out

    def edge_features(self, eids: np.ndarray) -> Optional[torch.Tensor]:
        """The decoder's edge features (``decoder_edge_feat``) of edges ``eids``, float32 ``[len(eids), f]``."""
        if not self.edge_feats:
            return None
        return torch.from_numpy(np.concatenate([np.take(a, eids, axis=0).reshape(len(eids), -1).astype(np.float32)
                                                for a in self.edge_feats], axis=1))

    def _targets(self, eids: torch.Tensor) -> torch.Tensor:
        y = torch.from_numpy(np.take(self.labels, eids.cpu().numpy(), axis=0))
        return (y.float() if (self.regression or self.cfg.multilabel) else y.long()).to(self.device)

    def loss(self, model: nn.Module, mb: MiniBatch) -> torch.Tensor:
        assert mb.eids is not None
        return self.loss_fn(self.predict(model, mb), self._targets(mb.eids))

    def eval_loaders(self, split: str, deal: Callable[[_Pipeline], DealtBatches]) -> list[DealtBatches]:
        ids = self.ids[split]
        if ids.size == 0:
            return []
        return [deal(EdgeSeeds(self.etype, ids, int(self.train_cfg.eval_batch_size)))
                .sample(self.sampler(True), exclude_targets=False).fetch(self.store)]

    def eval_outputs(self, model: nn.Module, mb: MiniBatch) -> EvalOutput:
        assert mb.eids is not None
        return EvalOutput(mb.eids, self.predict(model, mb), self._targets(mb.eids))
