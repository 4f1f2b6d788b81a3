"""The optimizers a training config asks for, one per parameter kind.

``dense``: Adam over the model's dense parameters (``lr``, ``wd_l2norm``); the
language models of text node types (LM+GNN co-training) are a second parameter
group with their own learning rate, ``lm_tune_lr`` (default: ``lr``), as
pre-trained LMs usually fine-tune at a far smaller rate than a GNN trains.
``sparse``: SparseAdam over learnable node embeddings (``sparse_optimizer_lr``);
only the rows a mini-batch touched move; tables sharded over the ranks (partitioned training)
get :class:`~graphkit.distributed.sparse_adam.DistSparseAdam`, the same update at their keepers.
"""

from __future__ import annotations

import torch

from graphkit.distributed.sparse_adam import DistSparseAdam
from graphkit.distributed.sparse_embedding import DistEmbeddings
from graphkit.models.model import GraphModel
from graphkit.training.config import TrainConfig


def build_optimizers(model: GraphModel, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    lm = model.input.lm_parameters() if hasattr(model.input, "lm_parameters") else []
    lm_ids = {id(p) for p in lm}
    groups: list[dict] = [{"params": [p for p in model.dense_parameters() if id(p) not in lm_ids]}]
    if lm:
        groups.append({"params": lm, "lr": float(cfg.lm_tune_lr or cfg.lr), "name": "lm"})
    out: dict[str, torch.optim.Optimizer] = {
        "dense": torch.optim.Adam(groups, lr=float(cfg.lr), weight_decay=float(cfg.wd_l2norm))}
    sparse = model.input.sparse_parameters()
    if sparse:
        out["sparse"] = torch.optim.SparseAdam(sparse, lr=float(cfg.sparse_optimizer_lr))
    if isinstance(model.input.embeddings, DistEmbeddings):
        out["sparse"] = DistSparseAdam(model.input.embeddings,  # type: ignore[assignment]
                                       lr=float(cfg.sparse_optimizer_lr))
    return out
