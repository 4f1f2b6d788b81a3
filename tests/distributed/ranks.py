"""Run a function as the ranks of a small gloo job (spawned processes on this machine), for tests.

``run_ranks(fn, 2, *args)`` starts 2 processes with the variables torchrun sets
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_*``),
joins the process group with :func:`graphkit.distributed.context.init_distributed`,
calls ``fn(*args)`` and returns every rank's result, in rank order. An exception
in a rank is re-raised here with its traceback; a rank that does not finish in
``timeout`` seconds (a collective mismatch hangs) fails the test. ``fn`` must be
importable (a module-level function). ``local_world_size`` < ``world`` pretends
the ranks are on several machines (ranks numbered machine by machine).
"""

from __future__ import annotations

import os
import pickle
import socket
import traceback
from typing import Any, Callable

import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child(rank: int, world: int, local_world: int, port: int, fn: Callable, args: tuple, out: Any) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank % local_world),
                      LOCAL_WORLD_SIZE=str(local_world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                      OMP_NUM_THREADS="1")
    import numba
    import torch

    from graphkit.distributed.context import init_distributed, shutdown

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    try:
        init_distributed(device="cpu", timeout_s=60)
        # plain pickle bytes: a tensor put on a torch queue travels as a file descriptor that
        # vanishes when this process exits before the parent has read it
        out.put((rank, True, pickle.dumps(fn(*args))))
    except BaseException:  # reported to the parent
        out.put((rank, False, traceback.format_exc()))
    finally:
        shutdown()


def run_ranks(fn: Callable, world: int, *args: Any, local_world_size: int | None = None,
              timeout: float = 60.0) -> list[Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = _free_port()
    local = local_world_size or world
    procs = [ctx.Process(target=_child, args=(r, world, local, port, fn, args, out), daemon=True)
             for r in range(world)]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    errors = []
    try:
        for _ in range(world):
            rank, ok, value = out.get(timeout=timeout)
            if ok:
                results[rank] = pickle.loads(value)
            else:
                errors.append(f"rank {rank}:\n{value}")
                break
    finally:
        for p in procs:
            p.join(timeout=5 if not errors else 0.5)
            if p.is_alive():
                p.kill()
                p.join()
    if errors:
        raise AssertionError("\n".join(errors))
    return [results[r] for r in range(world)]
