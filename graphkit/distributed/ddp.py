"""Data parallelism for the dense parameters: the step's loss as a module that DDP can wrap.

DDP synchronises gradients through hooks armed by its ``forward``: a model
whose loss is computed outside ``forward`` (graphkit's tasks call
``model.embed`` and the decoders themselves) would never be synchronised.
:class:`StepLoss` makes the whole step — every task's loss on its batch,
weighted and summed — one ``forward`` of a module that holds the model, and
:func:`data_parallel` wraps it in DDP in a multi-process job:

* ``find_unused_parameters=True``: in a step, some parameters get no gradient
  (a task's decoder when its edge type has no batch, an LM encoder run under
  ``no_grad`` while it is frozen, a node type absent from the sample); DDP
  then marks them ready instead of waiting for them forever.
* the sparse embedding tables are left out of DDP
  (:mod:`graphkit.distributed.sparse_sync` keeps them equal instead);
* ``forward_sync_buffers=False``: buffers (GCN degrees, loss weights) are the same
  on every rank; running statistics (batch norm) are re-synchronised from
  rank 0 before each evaluation and checkpoint by :func:`sync_buffers`, not at every step.

In a one-process job the module is returned unwrapped.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from graphkit.distributed.collectives import broadcast_tensors
from graphkit.distributed.context import DistContext

LossFn = Callable[[nn.Module, Sequence[Any]], torch.Tensor]


class StepLoss(nn.Module):
    """``forward(batches)`` = ``loss_fn(model, batches)``: the step's loss, computed inside ``forward``."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batches: Sequence[Any]) -> torch.Tensor:
        return self.loss_fn(self.model, batches)


def data_parallel(model: nn.Module, loss_fn: LossFn, ctx: DistContext,
                  exclude: Sequence[nn.Parameter] = ()) -> nn.Module:
    """The step module: :class:`StepLoss`, wrapped in DDP when the job has several processes.

    ``exclude``: parameters DDP must neither broadcast nor all-reduce (the
    sparse embedding tables). DDP's constructor broadcasts rank 0's other
    parameters, so every rank starts from the same dense weights.
    """
    step = StepLoss(model, loss_fn)
    if not ctx.distributed:
        return step
    skip = {id(p) for p in exclude}
    names = [f"model.{n}" for n, p in model.named_parameters() if id(p) in skip]
    DDP._set_params_and_buffers_to_ignore_for_model(step, names)
    # device_ids=None: the model is on one device and the trainer moves batches there itself (DDP would
    # otherwise walk the mini-batch dataclasses to copy them)
    return DDP(step, device_ids=None, find_unused_parameters=True, forward_sync_buffers=False)


def sync_buffers(model: nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's batch-norm running statistics to every rank (the only buffers training changes)."""
    stats = [b for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             for b in (m.running_mean, m.running_var, m.num_batches_tracked) if b is not None]
    broadcast_tensors(stats, ctx)
