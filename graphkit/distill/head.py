"""A node task's head without the teacher: split IDs, targets, decoder outputs, metrics, predictions.

Everything comes from the :class:`~graphkit.distill.spec.HeadSpec` saved with the
student and the graph's own labels and masks, so a student folder is scored and
used for predictions without re-creating the GNN.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from graphkit.distill.spec import HeadSpec
from graphkit.storage.graph import Graph
from graphkit.training.metrics import Metric, get_metric
from graphkit.training.tasks.base import SPLITS, mask_ids


def split_ids(graph: Graph, head: HeadSpec) -> dict[str, np.ndarray]:
    """``{"train"|"val"|"test": node IDs}`` of the task's masks (a missing mask: no nodes)."""
    masks = graph.meta.node_type(head.ntype).masks
    return {s: mask_ids(graph, head.ntype, m, node=True) if m in masks else np.zeros(0, np.int64)
            for s, m in zip(SPLITS, head.mask_names)}


def targets(graph: Graph, head: HeadSpec, ids: np.ndarray) -> torch.Tensor:
    y = torch.from_numpy(np.take(np.asarray(graph.node_label(head.ntype, head.label)), ids, axis=0))
    return y.float() if (head.regression or head.multilabel) else y.long()


def outputs(decoder: nn.Module, emb: torch.Tensor, head: HeadSpec) -> torch.Tensor:
    """Logits (classification) or values (regression, squeezed to ``[N]``) from embeddings."""
    out = decoder(emb)
    return out.squeeze(-1) if head.regression else out


def metrics(head: HeadSpec) -> list[Metric]:
    return [get_metric(n, "regression" if head.regression else "classification") for n in head.metrics]


def score(head: HeadSpec, out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Metric name -> value (a per-class metric as its macro average); ``nan`` without nodes."""
    if y.shape[0] == 0:
        return {m.name: float("nan") for m in metrics(head)}
    return {m.name: Metric.scalar(m(out, y)) for m in metrics(head)}


def predictions(head: HeadSpec, out: torch.Tensor) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """``(pred, prob)`` as ``graphkit infer`` writes them (``prob`` is None for regression)."""
    if head.regression:
        return out.numpy(), None
    if head.multilabel:
        prob = torch.sigmoid(out)
        return (prob > 0.5).long().numpy(), prob.numpy()
    prob = torch.softmax(out, dim=-1)
    return prob.argmax(-1).numpy(), prob.numpy()
