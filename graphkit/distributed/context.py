"""Who am I in the job: rank, world size, device — from the variables torchrun (and PyTorchJob) set.

``torchrun`` (and the Kubeflow Training Operator, through the ``PET_*``
variables that torchrun reads) sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` for every worker. A
plain ``graphkit train`` sees none of them and runs as a one-process job
without creating a process group, so the single-process path has no
torch.distributed overhead at all.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist

from graphkit.distributed.elastic import restart_safe_store
from graphkit.errors import GraphkitError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: str = "cpu"
    backend: Optional[str] = None  # None: no process group (one process)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def node_rank(self) -> int:
        """Which machine this process is on (ranks are numbered machine by machine)."""
        return self.rank // max(self.local_world_size, 1)

    @property
    def num_nodes(self) -> int:
        return max(self.world_size // max(self.local_world_size, 1), 1)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


_CURRENT = DistContext()


def current() -> DistContext:
    """The context set by :func:`init_distributed` (a one-process context before that)."""
    return _CURRENT


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise GraphkitError(f"environment variable {name}={value!r} is not an integer.") from None


def init_distributed(device: Optional[str] = None, backend: Optional[str] = None,
                     timeout_s: float = 1800.0) -> DistContext:
    """Join the job's process group if launched by torchrun/PyTorchJob (``WORLD_SIZE`` > 1).

    ``device``: ``cpu``, ``cuda`` or ``cuda:N``; default ``cuda:<local rank>``
    when CUDA is available, else ``cpu``. ``backend``: default NCCL on CUDA,
    gloo on CPU. Idempotent.
    """
    global _CURRENT
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    if device is None or device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda":
        device = f"cuda:{local_rank}"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GraphkitError(f"device '{device}' was asked for but CUDA is not available.", key="device")
        torch.cuda.set_device(torch.device(device))
    if world <= 1:
        _CURRENT = DistContext(device=device)
        return _CURRENT
    backend = backend or ("nccl" if device.startswith("cuda") else "gloo")
    if not dist.is_initialized():
        for var in ("MASTER_ADDR", "MASTER_PORT"):
            if var not in os.environ:
                raise GraphkitError(f"WORLD_SIZE={world} but {var} is not set.",
                                    hint="Launch with torchrun (or a PyTorchJob), which sets it.")
        timeout = datetime.timedelta(seconds=timeout_s)
        store = restart_safe_store(world, timeout)  # a torchrun restart: not the dead attempt's keys
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timeout,
                                **({"store": store} if store is not None else {}))
        log.info("rank %d/%d (local %d/%d) joined the %s process group on %s", rank, world, local_rank,
                 local_world, backend, device)
    _CURRENT = DistContext(rank, world, local_rank, local_world, device, backend)
    return _CURRENT


def shutdown() -> None:
    """Leave the process group (at the end of a run)."""
    global _CURRENT
    if dist.is_initialized():
        dist.destroy_process_group()
    _CURRENT = DistContext(device=_CURRENT.device)
