"""Replicated sparse node embeddings: every rank applies the same sparse update, so replicas stay equal.

Learnable node embeddings (``nn.Embedding(sparse=True)`` in the input layer)
stay out of DDP: DDP would all-reduce a dense ``num_nodes x hidden`` gradient
every step. Instead, after ``backward()`` each rank's sparse gradient (the
rows its batch touched) is all-gathered, and every rank replaces its own
gradient by the same combination,

    g = (1 / world_size) * sum over ranks r of g_r    (rows summed where they repeat)

— the mean DDP uses for dense gradients. Every rank then holds the identical
coalesced gradient, and the sparse optimizer (SparseAdam, whose state is
replicated too) makes the identical update: the tables never diverge, exactly
as if one process had trained on the union of the ranks' batches.

This is the simplest exact scheme; it keeps a full copy of every table on
every rank and moves ``touched rows x hidden`` floats per step. Sharded
tables (each rank owning a slice of the rows, pulled and pushed by ID) are
:mod:`graphkit.distributed.sparse_embedding`'s job: tables that manage their
own gradients have no sparse ``.grad`` here and are passed over.
"""

from __future__ import annotations

from typing import Sequence

import torch

from graphkit.distributed.collectives import all_gather_rows, broadcast_tensors
from graphkit.distributed.context import DistContext


@torch.no_grad()
def sync_sparse_gradients(params: Sequence[torch.Tensor], ctx: DistContext) -> None:
    """Replace each parameter's sparse gradient by the mean over ranks of all ranks' sparse gradients.

    Call on every rank, after ``backward()`` and before the optimizer step,
    with the same parameters in the same order. A rank whose batch did not use
    a table contributes no rows; a table no rank used keeps ``grad = None``.
    """
    if not ctx.distributed:
        return
    for p in params:
        g = p.grad
        if g is not None and not g.is_sparse:
            raise RuntimeError("sync_sparse_gradients: a sparse embedding table got a dense gradient; "
                               "create it with nn.Embedding(..., sparse=True).")
        if g is None:
            rows = torch.zeros(0, dtype=torch.int64, device=p.device)
            values = torch.zeros((0, *p.shape[1:]), dtype=p.dtype, device=p.device)
        else:
            g = g.coalesce()
            rows, values = g.indices()[0], g.values()
        all_rows, all_values = all_gather_rows([rows, values], ctx)
        if all_rows.numel() == 0:
            p.grad = None
            continue
        dev = p.device
        p.grad = torch.sparse_coo_tensor(all_rows.unsqueeze(0).to(dev), all_values.to(dev) / ctx.world_size,
                                         p.shape, check_invariants=False).coalesce()  # rows came from coalesce


def broadcast_parameters(params: Sequence[torch.Tensor], ctx: DistContext) -> None:
    """Start every rank from rank 0's values of parameters DDP does not manage (the sparse tables)."""
    broadcast_tensors(params, ctx)
