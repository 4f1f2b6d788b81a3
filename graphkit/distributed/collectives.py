"""The few collectives the trainer needs, written once for gloo (CPU tensors) and NCCL (CUDA tensors).

Every function is a no-op (or the identity) in a one-process job, so callers
never branch on the world size. All ranks must call them in the same order
with tensors of the same dtype and trailing shape; the first dimension may
differ between ranks (:func:`all_gather_rows` pads to the longest and trims).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.distributed as dist

from graphkit.distributed.context import DistContext


def _comm_device(ctx: DistContext) -> torch.device:
    """Where tensors must be for the backend: the GPU for NCCL, the CPU for gloo."""
    return torch.device(ctx.device) if ctx.backend == "nccl" else torch.device("cpu")


def all_gather_rows(tensors: Sequence[torch.Tensor], ctx: DistContext) -> list[torch.Tensor]:
    """Each tensor's rows from every rank, concatenated in rank order (on the CPU).

    ``tensors`` all have the same number of rows on one rank; that number may
    differ between ranks. One size exchange, then one padded ``all_gather``
    per tensor.
    """
    if not ctx.distributed:
        return [t.cpu() for t in tensors]
    dev = _comm_device(ctx)
    n = tensors[0].shape[0] if tensors else 0
    sizes_t = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(ctx.world_size)]
    dist.all_gather(sizes_t, torch.tensor([n], dtype=torch.int64, device=dev))
    sizes = [int(s.item()) for s in sizes_t]
    most = max(sizes)
    out = []
    for t in tensors:
        if t.shape[0] != n:
            raise ValueError(f"all_gather_rows: tensors of one rank need the same rows, got {t.shape[0]} and {n}")
        padded = torch.zeros((most, *t.shape[1:]), dtype=t.dtype, device=dev)
        padded[:n] = t.to(dev)
        parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
        dist.all_gather(parts, padded)
        out.append(torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)]).cpu())
    return out


def all_reduce_mean(value: float, ctx: DistContext) -> float:
    """The mean of a number over the ranks (the number itself in one process)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_comm_device(ctx))
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj`` (picklable, small: e.g. RNG states), in rank order."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, ctx: DistContext, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (e.g. the checkpoint rank 0 read)."""
    if not ctx.distributed:
        return obj
    box = [obj if ctx.rank == src else None]
    dist.broadcast_object_list(box, src=src, device=_comm_device(ctx))
    return box[0]


@torch.no_grad()
def broadcast_tensors(tensors: Sequence[torch.Tensor], ctx: DistContext, src: int = 0) -> None:
    """Overwrite ``tensors`` (in place) on every rank with rank ``src``'s values."""
    if not ctx.distributed:
        return
    dev = _comm_device(ctx)
    for t in tensors:
        buf = t.detach().to(dev)  # the same storage when ``t`` is already there
        dist.broadcast(buf, src=src)
        if buf.data_ptr() != t.data_ptr():
            t.copy_(buf)
