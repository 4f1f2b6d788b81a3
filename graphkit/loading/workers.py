"""Sampler worker processes: the pipeline's stages for batch ``i`` run in worker ``i % N``.

GraphStorm's ``num_workers``. ``loader.prefetch(depth, workers=N)`` forks N
processes when iteration starts (once per pass over the loader). Each worker
re-creates the same sequence of batches (seed sources are deterministic given
seed and epoch), keeps the positions ``p`` with ``p % N == worker`` and runs
the stages on them; the trainer reads worker ``p % N``'s pipe for batch ``p``,
so batches arrive in order and equal, bit for bit, what the in-thread pipeline
gives (every batch carries its own sampling seed).

Why fork, and what is shared:

- The graph and features are memory-mapped ``.npy`` files (in ``/dev/shm``
  under torchrun): a forked worker maps the same pages, nothing is copied or
  pickled to start it. Stages are closures over samplers and stores, which
  could not be pickled for ``spawn`` anyway.
- numba's OpenMP pool and torch's thread pool are not fork-safe: a worker sets
  numba and torch to one thread, and the sampler then uses its serial kernel.
- A batch comes back as a small pickle plus one shared-memory buffer holding
  all its tensors, whose file descriptor goes over the worker's Unix socket
  (:mod:`graphkit.loading.packing`); the trainer maps it without copying. A
  worker stays alive (idle) until the trainer has received everything (where
  there is no ``memfd``, descriptors are served by a thread of the worker).

Back-pressure: worker ``w`` may hold ``ceil(depth / N)`` batches the trainer
has not taken yet (a semaphore per worker).

Shutdown: the iterator's ``finally`` (end of the pass, ``break``, an
exception, ``close()``) sets a stop event, joins the workers and terminates
the ones that do not stop within seconds; workers also get ``SIGKILL`` if the
trainer process dies (``PR_SET_PDEATHSIG``, Linux). An exception in a worker
is sent back with its traceback and re-raised in the trainer (same exception
type when it can be rebuilt from a message). A worker that dies without a word
(killed, out of memory) raises :class:`SamplerWorkerError`.

Scope: workers run on the trainer's machine only (they share its memory
mappings); sampling on other machines (GraphStorm's remote samplers of a
partitioned graph) is out of scope. Stages from the first device transfer
(``.to("cuda")``) on run in the trainer process: CUDA cannot be used in a
forked child.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import numba
import torch
import torch.multiprocessing  # (registers the shared-memory tensor reductions with ForkingPickler)

from graphkit.loading import packing

log = logging.getLogger(__name__)

_POLL_S = 0.1  # how often blocked workers and the trainer look at the stop event / worker liveness
_JOIN_S = 5.0  # how long a worker gets to stop before it is terminated


class SamplerWorkerError(RuntimeError):
    """A sampler worker process died without reporting an exception (killed, out of memory, ...)."""


@dataclass
class _Failure:
    """An exception raised in a worker, sent back as text (exception objects may not pickle)."""

    worker: int
    position: int
    type_name: str
    exc_type: Optional[type]  # None when the class cannot be pickled (e.g. defined in a function)
    text: str

    @staticmethod
    def of(e: BaseException, worker: int, position: int) -> "_Failure":
        cls: Optional[type] = type(e)
        try:
            pickle.dumps(cls)
        except Exception:
            cls = None
        return _Failure(worker, position, type(e).__name__, cls, traceback.format_exc())

    def reraise(self) -> None:
        msg = f"Caught {self.type_name} in sampler worker {self.worker} (batch {self.position}).\n" \
              f"Original traceback:\n{self.text}"
        try:
            exc = self.exc_type(msg) if self.exc_type is not None else SamplerWorkerError(msg)
        except Exception:  # a constructor that does not take one message
            exc = SamplerWorkerError(msg)
        raise exc


class _Done:
    """Sent by a worker after its last batch."""


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the trainer dies (Linux), and exit if it is gone already."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _wait(sem: Any, stop: Any) -> bool:
    """Acquire ``sem`` unless ``stop`` is set first; True if acquired."""
    while not stop.is_set():
        if sem.acquire(timeout=_POLL_S):
            return True
    return False


def _worker(wid: int, num: int, items: Callable[[], Iterator[Any]], run: Callable[[Any], Any], conn: Any,
            slots: Any, flags: Any, stop: Any, parent: int) -> None:
    _die_with_parent(parent)
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    sender = packing.Sender(conn, flags)
    position = -1
    try:
        for position, mb in enumerate(items()):
            if position % num != wid:
                continue
            if not _wait(slots, stop):
                break
            sender.send(run(mb))
        else:
            conn.send(_Done())
    except BaseException as e:  # noqa: BLE001 - everything is reported to the trainer
        if not stop.is_set():
            try:
                conn.send(_Failure.of(e, wid, position))
            except Exception:  # the trainer has gone; nothing to report to
                pass
    stop.wait()  # keep the resource sharer alive until the trainer has every batch


def worker_batches(items: Callable[[], Iterator[Any]], run: Callable[[Any], Any], num_workers: int,
                   depth: int) -> Iterator[Any]:
    """``run(mb)`` for every ``mb`` of ``items()``, computed in ``num_workers`` forked processes, in order.

    ``items`` is called in each worker (after the fork): it must give the same
    sequence every time. ``depth`` batches (at least one per worker) are
    computed ahead of the consumer.
    """
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    if not hasattr(os, "fork"):
        raise SamplerWorkerError("sampler worker processes need fork() (Linux or macOS); use num_workers 0.")
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    per_worker = max(1, -(-depth // num_workers))
    slots = [ctx.Semaphore(per_worker) for _ in range(num_workers)]
    pipes = [ctx.Pipe(duplex=True) for _ in range(num_workers)]  # Unix sockets: they carry file descriptors
    flags = [packing.free_flags(ctx) for _ in range(num_workers)]
    receivers = [packing.Receiver(pipes[w][0], flags[w]) for w in range(num_workers)]
    procs: list = []
    try:
        for w in range(num_workers):
            p = ctx.Process(target=_worker, name=f"graphkit-sampler-{w}", daemon=not mp.current_process().daemon,
                            args=(w, num_workers, items, run, pipes[w][1], slots[w], flags[w], stop, os.getpid()))
            p.start()
            procs.append(p)
            pipes[w][1].close()  # the worker holds the writing end
        log.debug("started %d sampler worker(s): %s", num_workers, [p.pid for p in procs])
        position = 0
        while True:
            w = position % num_workers
            item = _receive(pipes[w][0], procs[w], w)
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failure):
                item.reraise()
            batch = receivers[w].receive(item)
            slots[w].release()
            yield batch
            position += 1
    finally:
        _shutdown(procs, stop, [end for pipe in pipes for end in pipe])


def _receive(conn: Any, proc: Any, wid: int) -> Any:
    """The next message of worker ``wid``; raises if the worker died before sending it."""
    while True:
        ready = mpc.wait([conn, proc.sentinel], timeout=_POLL_S * 10)
        if conn in ready:  # a message, or end of file if the worker has exited
            try:
                return conn.recv()
            except EOFError:
                pass
        if proc.sentinel in ready or not proc.is_alive():
            proc.join(timeout=_JOIN_S)
            raise SamplerWorkerError(f"sampler worker {wid} (pid {proc.pid}) exited unexpectedly with code "
                                     f"{proc.exitcode} (killed, or out of memory?).")


def _shutdown(procs: list, stop: Any, connections: list) -> None:
    """Stop every worker: ask, wait a little, then terminate; never leave one behind."""
    stop.set()
    for p in procs:
        p.join(timeout=_JOIN_S)
        if p.is_alive():
            log.warning("sampler worker %s did not stop within %.0fs; terminating it", p.pid, _JOIN_S)
            p.terminate()
            p.join(timeout=_JOIN_S)
        if p.is_alive():
            p.kill()
            p.join()
    for c in connections:  # closing twice is harmless
        c.close()


def running_workers() -> list[int]:
    """PIDs of this process's live sampler workers (for tests and diagnostics)."""
    return [p.pid for p in mp.active_children() if p.name.startswith("graphkit-sampler-")]

