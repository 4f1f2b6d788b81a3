"""Collective request/response between ranks, on a process group of its own.

Partitioned training asks other ranks for things it does not hold: the sampled
in-edges of nodes they own, feature rows, embedding rows, and hands them
gradient rows back. :class:`Exchange` does each of these as one or two
``all_to_all`` rounds: every rank passes one tensor per destination rank (an
empty one when it wants nothing from it), the sizes go first (one small
``all_to_all_single``), then the payload (a second one, with split sizes).

**Lockstep contract.** Every call is a collective: all ranks make the same
calls on the same :class:`Exchange`, in the same order, with the same ``tag``
and tensors of the same dtype and row shape (only the row counts differ) —
also the ranks that have nothing to ask for. Code that calls it per
mini-batch therefore needs every rank to run the same number of batches. Each
round carries ``(tag, call number)`` in its size header and checks its peers',
so a broken contract raises :class:`ExchangeMismatch` naming both sides rather
than mixing up payloads. Calls are serialised by a lock; an exchange used from
two threads at once (two pipelines in flight) breaks the contract and is
refused.

**Own process group.** Each :class:`Exchange` creates a gloo group with
``dist.new_group`` when it is made, so its traffic never interleaves with DDP's
all-reduces on the default group (NCCL or gloo), and two exchanges used from
different threads (a sampler thread and the training loop) never interleave
with each other. ``new_group`` is itself collective: create exchanges at the
same point of the program on every rank. Payloads are CPU tensors (graph
structure and features live in host memory).

Traffic to *other* ranks is counted per tag (:attr:`Exchange.traffic`), for the
network cost per mini-batch reported by training and benchmarks.
"""

from __future__ import annotations

import logging
import os
import threading
import zlib
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
import torch.distributed as dist

from graphkit.distributed.context import DistContext, current
from graphkit.errors import GraphkitError

log = logging.getLogger(__name__)

_HEADER = 3  # per destination: (tag code, call number, row count)


class ExchangeMismatch(GraphkitError):
    """Ranks made different collective calls: the lockstep contract was broken."""


@dataclass
class Traffic:
    """What one tag sent to other ranks (a rank's own share is not counted)."""

    rounds: int = 0  # all_to_all rounds (each is two collectives: sizes, payload)
    values: int = 0  # int64 IDs or float values sent (header words not counted)
    bytes: int = 0  # payload bytes plus the size headers

    def add(self, other: "Traffic") -> None:
        self.rounds += other.rounds
        self.values += other.values
        self.bytes += other.bytes


def _tag_code(tag: str) -> int:
    return zlib.crc32(tag.encode())


class Exchange:
    """``all_to_all`` of variable-size tensors, and request/response on top of it.

    Args:
        name: for logs and error messages (e.g. ``"graph"``, ``"embeddings"``).
        ctx: the job (default: :func:`graphkit.distributed.context.current`). In a
            one-process job no group is created and every call is a local copy.
    """

    def __init__(self, name: str, ctx: Optional[DistContext] = None) -> None:
        self.name = name
        self.ctx = ctx or current()
        self.rank, self.world_size = self.ctx.rank, self.ctx.world_size
        self.group = None
        if self.world_size > 1:
            if not dist.is_initialized():
                raise GraphkitError(f"exchange '{name}': world size {self.world_size} but no process group.",
                                    hint="Call graphkit.distributed.context.init_distributed() first.")
            self.group = dist.new_group(backend="gloo")
        self.traffic: dict[str, Traffic] = {}
        self._calls = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()

    # --- the primitive --------------------------------------------------------
    def all_to_all(self, sends: Sequence[torch.Tensor], tag: str) -> list[torch.Tensor]:
        """Send ``sends[r]`` to rank ``r``; return what every rank ``r`` sent here, as ``received[r]``.

        Tensors are ``[n, *row]`` (or 1-D); dtype and row shape must be the same
        for every destination and on every rank; ``n`` may be 0.
        """
        if len(sends) != self.world_size:
            raise ValueError(f"exchange '{self.name}': {len(sends)} tensors for {self.world_size} ranks")
        first = sends[0]
        row = tuple(first.shape[1:])
        for s in sends:
            if s.dtype != first.dtype or tuple(s.shape[1:]) != row:
                raise ValueError(f"exchange '{self.name}' ({tag}): tensors differ in dtype or row shape")
        if self.world_size == 1:
            return [first.clone()]
        if os.getpid() != self._pid:
            raise GraphkitError(f"exchange '{self.name}' used from a forked process.",
                                hint="Partitioned training fetches over torch.distributed, which forked sampler "
                                     "workers cannot use: set num_workers to 0 (the sampler thread still prefetches).")
        if not self._lock.acquire(blocking=False):
            raise GraphkitError(f"exchange '{self.name}' is used by two threads at once ({tag}).",
                                hint="Its collectives must run in the same order on every rank, so only one "
                                     "pipeline may use a partitioned graph at a time (one training task).")
        try:
            return self._all_to_all(sends, tag, row)
        finally:
            self._lock.release()

    def _all_to_all(self, sends: Sequence[torch.Tensor], tag: str, row: tuple) -> list[torch.Tensor]:
        w, me = self.world_size, self.rank
        code, call = _tag_code(tag), self._calls
        self._calls += 1
        counts = [int(s.shape[0]) for s in sends]
        header = torch.tensor([[code, call, n] for n in counts], dtype=torch.int64).reshape(-1)
        got = torch.empty(w * _HEADER, dtype=torch.int64)
        dist.all_to_all_single(got, header, group=self.group)
        got = got.reshape(w, _HEADER)
        for r in range(w):
            if int(got[r, 0]) != code or int(got[r, 1]) != call:
                raise ExchangeMismatch(
                    f"exchange '{self.name}': rank {me} is in call {call} ('{tag}') but rank {r} sent call "
                    f"{int(got[r, 1])} (tag code {int(got[r, 0])}).",
                    hint="Every rank must make the same exchange calls in the same order (same number of "
                         "batches per rank, one pipeline at a time).")
        recv_counts = got[:, 2].tolist()
        numel = 1
        for d in row:
            numel *= d
        payload = torch.cat([s.reshape(-1) for s in sends]) if sends else torch.empty(0)
        out = torch.empty(sum(recv_counts) * numel, dtype=sends[0].dtype)
        dist.all_to_all_single(out, payload.contiguous(), output_split_sizes=[n * numel for n in recv_counts],
                               input_split_sizes=[n * numel for n in counts], group=self.group)
        t = self.traffic.setdefault(tag, Traffic())
        t.rounds += 1
        t.values += sum(n for r, n in enumerate(counts) if r != me) * numel
        t.bytes += sum(n for r, n in enumerate(counts) if r != me) * numel * sends[0].element_size()
        t.bytes += (w - 1) * _HEADER * 8
        return list(out.reshape(-1, *row).split(recv_counts)) if row else list(out.split(recv_counts))

    # --- request / response ---------------------------------------------------
    def request(self, requests: Sequence[torch.Tensor], serve: Callable[[int, torch.Tensor], torch.Tensor],
                tag: str) -> list[torch.Tensor]:
        """Send ``requests[r]`` to rank ``r``, which answers with ``serve(asking rank, request)``;
        returns the answers, ``answers[r]`` from rank ``r`` (two :meth:`all_to_all` rounds).

        ``serve`` runs on every rank for every asking rank (itself included),
        also for empty requests; its answers must share dtype and row shape.
        """
        incoming = self.all_to_all(requests, f"{tag}/ask")
        return self.all_to_all([serve(r, q) for r, q in enumerate(incoming)], f"{tag}/answer")

    def all_max(self, value: int, tag: str) -> int:
        """The largest ``value`` over the ranks (e.g. batches per epoch, so every rank runs as many)."""
        if self.world_size == 1:
            return int(value)
        t = torch.tensor([int(value)], dtype=torch.int64)
        with self._lock:
            dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.group)
        return int(t.item())

    def take_traffic(self) -> dict[str, Traffic]:
        """The traffic counted since the last call (and reset the counters)."""
        out, self.traffic = self.traffic, {}
        return out


def total_traffic(traffic: dict[str, Traffic]) -> Traffic:
    """The sum over tags."""
    out = Traffic()
    for t in traffic.values():
        out.add(t)
    return out


class TrafficMeter:
    """Traffic of several exchanges per phase (a training epoch, an evaluation), per batch, logged.

    :meth:`start` ends the running phase — logs what its batches sent to other
    ranks, per batch and by kind (the tag up to its first ``/``), and keeps it in
    :attr:`phases` — and starts the next one.
    """

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.exchanges: list[Exchange] = []
        self.phases: list[dict] = []
        self._name: Optional[str] = None
        self.batches = 0

    def watch(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    def start(self, name: Optional[str], batches: int = 0) -> None:
        """End the running phase and start ``name`` (None: just end it) with ``batches`` batches so far.

        Per-batch figures leave out checkpoint gathers (tag ``gather/...``), kept as ``checkpoint_bytes``.
        """
        kinds: dict[str, Traffic] = {}
        for ex in self.exchanges:
            for tag, t in ex.take_traffic().items():
                kinds.setdefault(tag.split("/")[0], Traffic()).add(t)
        ckpt = kinds.pop("gather", Traffic())
        if self._name is not None and self.batches > 0:
            n = self.batches
            total = total_traffic(kinds)
            entry = {"phase": self._name, "batches": n, "bytes_per_batch": total.bytes / n,
                     "values_per_batch": total.values / n, "checkpoint_bytes": ckpt.bytes,
                     "by_kind": {k: {"bytes_per_batch": t.bytes / n, "values_per_batch": t.values / n,
                                     "rounds_per_batch": t.rounds / n} for k, t in sorted(kinds.items())}}
            self.phases.append(entry)
            log.info("rank %d: %s, %d batches: %.1f KiB sent to other ranks per batch (%s)", self.rank, self._name, n,
                     entry["bytes_per_batch"] / 1024,
                     ", ".join(f"{k} {v['bytes_per_batch'] / 1024:.1f} KiB" for k, v in entry["by_kind"].items()))
        self._name, self.batches = name, batches
