"""Inference over several processes: each rank's share of the nodes, gathering, and one shared output folder.

``graphkit infer`` under ``torchrun --nproc-per-node=K`` splits every node type's
IDs ``0..n-1`` into ``K`` contiguous shares (rank ``r`` gets
``[r * ceil(n/K), (r+1) * ceil(n/K))``, the last ones may be shorter or empty).
Layer-wise inference computes each layer for its own share, then
:func:`gather_shares` all-gathers the shares so every rank holds the whole
layer output, which the next layer's neighbourhoods read. Memory per rank is
therefore O(N x hidden) (two layers alive at a time), as in one process; the
compute is divided by K.

Outputs are written by every rank into one folder (:func:`rank_output_dir`):
rank 0 creates the temporary folder and tells the others its name, every rank
writes the Parquet parts of its share, and after a barrier rank 0 renames the
folder into place, so a reader never sees half of an output. Part files are
numbered over the ranks (rank ``r``'s first part follows rank ``r-1``'s last),
so the parts in name order are in node-ID order and one process writes the
same file names as before. Ranks on several machines need the output path on
a filesystem they all mount.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Sequence

import torch
import torch.distributed as dist

from graphkit.distributed.context import DistContext
from graphkit.errors import GraphkitError
from graphkit.storage.atomic import atomic_output_dir


def share_size(n: int, world_size: int) -> int:
    """Rows per rank when ``n`` rows are shared by ``world_size`` ranks (the last ranks may get fewer)."""
    return -(-n // world_size) if n else 0


def share(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous share ``[lo, hi)`` of ``n`` rows."""
    per = share_size(n, world_size)
    return min(rank * per, n), min((rank + 1) * per, n)


def share_counts(n: int, world_size: int) -> list[int]:
    """Rows of every rank's share, in rank order."""
    return [hi - lo for lo, hi in (share(n, r, world_size) for r in range(world_size))]


def _comm_device(ctx: DistContext) -> torch.device:
    return torch.device(ctx.device) if ctx.backend == "nccl" else torch.device("cpu")


@torch.no_grad()
def gather_shares(local: Optional[torch.Tensor], n: int, ctx: DistContext) -> torch.Tensor:
    """``[n, d]``: every rank's ``local`` (its share's rows, see :func:`share`) in rank order, on every rank.

    ``local`` is None on a rank whose share is empty. One ``all_gather`` into a
    preallocated ``[K * ceil(n/K), d]`` tensor: no per-rank copies are kept.
    """
    if not ctx.distributed:
        assert local is not None
        return local
    dev = _comm_device(ctx)
    dims = torch.tensor([local.shape[1] if local is not None else -1], dtype=torch.int64, device=dev)
    dist.all_reduce(dims, op=dist.ReduceOp.MAX)
    dim = int(dims.item())
    dtype = local.dtype if local is not None else torch.float32
    per = share_size(n, ctx.world_size)
    if per == 0:
        return torch.zeros(0, dim, dtype=dtype)
    out = torch.empty(per * ctx.world_size, dim, dtype=dtype, device=dev)
    mine = torch.zeros(per, dim, dtype=dtype, device=dev)
    if local is not None:
        mine[: local.shape[0]] = local.to(dev)
    dist.all_gather(list(out.split(per)), mine)
    return out[:n].cpu()


def first_part(files_per_rank: Sequence[int], rank: int) -> int:
    """The number of rank ``rank``'s first part file: the files of the ranks before it."""
    return int(sum(files_per_rank[:rank]))


def _broadcast_text(text: Optional[str], ctx: DistContext) -> str:
    box = [text]
    dist.broadcast_object_list(box, src=0, device=_comm_device(ctx))
    return str(box[0])


@contextlib.contextmanager
def rank_output_dir(path: str, markers: Sequence[str], ctx: DistContext) -> Iterator[str]:
    """:func:`~graphkit.storage.atomic.atomic_output_dir` for all ranks: the same temporary folder on every
    rank, renamed into place by rank 0 once every rank has finished writing (every rank must enter it)."""
    if not ctx.distributed:
        with atomic_output_dir(path, markers) as tmp:
            yield tmp
        return
    if ctx.is_main:
        entered = False
        try:
            with atomic_output_dir(path, markers) as tmp:
                entered = True
                _broadcast_text(tmp, ctx)
                yield tmp
                ctx.barrier()  # every rank's parts are written
        except GraphkitError as e:
            if not entered:  # e.g. a non-empty folder that is not ours: every rank fails alike
                _broadcast_text("\0" + e.render(), ctx)
            raise
        ctx.barrier()  # renamed: the output exists when any rank returns
        return
    tmp = _broadcast_text(None, ctx)
    if tmp.startswith("\0"):
        raise GraphkitError(tmp[1:])
    yield tmp
    ctx.barrier()
    ctx.barrier()
