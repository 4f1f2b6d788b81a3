"""Evaluation with exact metrics in any world size: predict my share, gather the union, score it once.

A task says how to batch a split (``eval_loaders``, one seed source per edge
type or node type, dealt by :class:`~graphkit.distributed.dealt_batches.DealtBatches`)
and what one batch yields (``eval_outputs``: per row a key — node or edge ID —
and the two tensors its metrics take: predictions and labels, or for link
prediction each positive edge's rank among its negatives). This module runs
the batches of this rank (:func:`predict_share`), drops the padding batches,
all-gathers the rows and restores the one-process order — loader, then batch,
then row — (:func:`gather_union`), so every rank scores the identical union
and model selection and early stopping agree across ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import nn

from graphkit.distributed.collectives import all_gather_rows
from graphkit.distributed.context import DistContext
from graphkit.distributed.dealt_batches import DealtBatches
from graphkit.loading.pipeline import MiniBatch, _Pipeline

_LOADER_SHIFT = 40  # (loader, key) and (loader, batch) packed into one int64


@dataclass
class EvalOutput:
    """What one evaluation batch yields: ``keys [n]`` (node or edge IDs), and ``a [n, ...]``, ``b [n, ...]``,
    the two arguments of the task's metrics (``b`` may have zero columns)."""

    keys: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor


class Evaluable(Protocol):
    device: torch.device

    def eval_loaders(self, split: str, deal: Callable[[_Pipeline], DealtBatches]) -> list[DealtBatches]: ...

    def eval_outputs(self, model: nn.Module, mb: MiniBatch) -> EvalOutput: ...


@dataclass
class Rows:
    """A rank's (or the union's) evaluation rows and where each came from."""

    order: torch.Tensor  # int64 [n]: loader << 40 | global batch index
    keys: torch.Tensor  # int64 [n]: loader << 40 | node or edge ID
    a: torch.Tensor
    b: torch.Tensor


@torch.no_grad()
def predict_share(task: Evaluable, model: nn.Module, split: str, ctx: DistContext) -> Rows | None:
    """This rank's rows of ``split``: its dealt batches, padding dropped. ``None`` when the split is empty
    (on every rank alike: the batching is global)."""
    own = getattr(getattr(task, "graph", None), "eval_batches", None)  # partitioned: each rank its own nodes

    def deal(source: _Pipeline) -> DealtBatches:
        return own(source) if own is not None else DealtBatches(source, ctx.rank, ctx.world_size)

    loaders = [ld for ld in task.eval_loaders(split, deal) if ld.num_batches]
    if not loaders:
        return None
    parts: list[tuple[int, int, EvalOutput]] = []
    template = None
    for i, loader in enumerate(loaders):
        real = loader.num_real
        for j, mb in enumerate(loader.prefetch(2)):
            if task.device.type != "cpu":
                mb = mb.to(task.device)
            out = task.eval_outputs(model, mb)  # padding batches run too: lockstep across ranks
            template = out
            if j < real:
                parts.append((i, mb.index, out))
    assert template is not None  # every rank runs ceil(batches / world) >= 1 batches
    if not parts:  # fewer batches than ranks: this rank only ran padding
        parts = [(0, 0, EvalOutput(template.keys[:0], template.a[:0], template.b[:0]))]
    order = torch.cat([torch.full((o.keys.numel(),), (i << _LOADER_SHIFT) | b, dtype=torch.int64)
                       for i, b, o in parts])
    keys = torch.cat([o.keys.cpu().to(torch.int64) | (i << _LOADER_SHIFT) for i, _, o in parts])
    return Rows(order, keys, torch.cat([o.a.cpu() for _, _, o in parts]), torch.cat([o.b.cpu() for _, _, o in parts]))


def gather_union(rows: Rows, ctx: DistContext) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rank's rows, in the one-process order; ``(a, b)`` for the task's metrics.

    Raises if a key appears twice (a padding batch that was not dropped).
    """
    order, keys, a, b = all_gather_rows([rows.order, rows.keys, rows.a, rows.b], ctx)
    if torch.unique(keys).numel() != keys.numel():
        raise RuntimeError("distributed evaluation: some rows were gathered twice")
    # rows of one batch are contiguous on one rank: a stable sort by batch restores the one-process order
    perm = torch.sort(order, stable=True).indices
    return a[perm], b[perm]
