"""The optimizers a training config asks for, one per parameter kind.

``dense``: Adam over the model's dense parameters (``lr``, ``wd_l2norm``).
``sparse``: SparseAdam over learnable node embeddings (``sparse_optimizer_lr``);
only the rows a mini-batch touched move.
"""

from __future__ import annotations

import torch

from graphkit.models.model import GraphModel
from graphkit.training.config import TrainConfig


def build_optimizers(model: GraphModel, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    out: dict[str, torch.optim.Optimizer] = {
        "dense": torch.optim.Adam(model.dense_parameters(), lr=float(cfg.lr), weight_decay=float(cfg.wd_l2norm))}
    sparse = model.input.sparse_parameters()
    if sparse:
        out["sparse"] = torch.optim.SparseAdam(sparse, lr=float(cfg.sparse_optimizer_lr))
    return out
