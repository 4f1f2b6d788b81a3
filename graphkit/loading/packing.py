"""Moving one batch between processes: a small pickle plus one shared-memory buffer holding all its tensors.

A sampler worker (:mod:`graphkit.loading.workers`) pickles each batch with
every CPU tensor replaced by a reference (a persistent ID) to its bytes in
one flat buffer in shared memory, and sends the pickle and the buffer's file
descriptor over a Unix socket; the trainer maps the buffer and rebuilds the
tensors as views of it, without copying.

On Linux the buffer is a ``memfd`` whose descriptor goes over the worker's
own socket (``SCM_RIGHTS``), synchronously, and buffers are recycled
(:class:`Sender`). Elsewhere it is a fresh torch shared-memory storage sent
with ``torch.multiprocessing``'s reductions, whose descriptor is served by a
background thread of the sender.

Why not let ``torch.multiprocessing`` send the batch as it is: every tensor
(17 for a 512-seed 10,10 batch) became its own shared-memory segment, and
each descriptor was handed over by the worker's resource-sharer thread,
which waits for the GIL while the worker samples: 10-15 ms per batch, more
than sampling it (4-8 ms). A recycled memfd costs the worker the copy (~0.5
ms for 2.7 MB) and the trainer a mapping (~1 ms).
"""

from __future__ import annotations

import io
import mmap
import os
import pickle
import weakref
from dataclasses import dataclass
from multiprocessing import reduction
from typing import Any, Optional

import torch

_ALIGN = 64  # bytes: every tensor in a packed buffer starts at a multiple of this
_MEMFD = hasattr(os, "memfd_create")
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # fault every page in at once (Linux)


class _Packer(pickle.Pickler):
    """Pickles an object with its CPU tensors left out, noting where each goes in one flat buffer."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.tensors: list[tuple[int, torch.Tensor]] = []
        self.size = 0
        self._seen: dict[int, tuple] = {}  # a tensor referenced twice is stored once

    def persistent_id(self, obj: Any) -> Optional[tuple]:
        if not isinstance(obj, torch.Tensor) or obj.device.type != "cpu" or obj.is_sparse or obj.requires_grad:
            return None
        if id(obj) in self._seen:
            return self._seen[id(obj)]
        offset = -(-self.size // _ALIGN) * _ALIGN
        self.tensors.append((offset, obj))
        self.size = offset + obj.numel() * obj.element_size()
        self._seen[id(obj)] = pid = ("t", offset, obj.dtype, tuple(obj.shape))
        return pid

    def copy_into(self, buffer: torch.Tensor) -> None:
        for offset, t in self.tensors:
            n = t.numel() * t.element_size()
            if n:
                buffer[offset:offset + n].copy_(t.contiguous().reshape(-1).view(torch.uint8))


class _Unpacker(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, buffer: torch.Tensor) -> None:
        super().__init__(file)
        self.buffer = buffer

    def persistent_load(self, pid: tuple) -> torch.Tensor:
        _, offset, dtype, shape = pid
        n = int(torch.Size(shape).numel()) * torch.empty(0, dtype=dtype).element_size()
        return self.buffer[offset:offset + n].view(dtype).view(shape)


def _pack(obj: Any) -> tuple[bytes, _Packer]:
    f = io.BytesIO()
    packer = _Packer(f)
    packer.dump(obj)
    return f.getvalue(), packer


def _shared_bytes(n: int) -> torch.Tensor:
    """``n`` uninitialised bytes of torch shared memory (half the cost of ``share_memory_()``)."""
    try:
        storage = torch.UntypedStorage._new_shared(max(n, 1))  # what torch.multiprocessing itself uses
        return torch.empty(0, dtype=torch.uint8).set_(storage)[:n]
    except AttributeError:  # a torch without the private constructor
        return torch.empty(n, dtype=torch.uint8).share_memory_()


@dataclass
class Packed:
    """A batch as pickle bytes plus one buffer holding all its tensors (the buffer travels on its own)."""

    payload: bytes
    buffer: torch.Tensor

    @staticmethod
    def of(obj: Any) -> "Packed":
        """Pack into torch shared memory (to be sent with ``torch.multiprocessing``'s reductions)."""
        payload, packer = _pack(obj)
        buffer = _shared_bytes(packer.size)
        packer.copy_into(buffer)
        return Packed(payload, buffer)

    def unpack(self) -> Any:
        return _Unpacker(io.BytesIO(self.payload), self.buffer).load()


POOL_SIZE = 8  # shared buffers a worker recycles; batches the trainer holds beyond that get one-off buffers


@dataclass
class _MemfdHeader:
    """Announces a batch whose buffer (``size`` bytes, pool slot ``slot`` or -1) follows as a file descriptor."""

    payload: bytes
    size: int
    slot: int


def free_flags(ctx: Any) -> Any:
    """The flags by which a trainer hands a worker's buffers back (one byte per pool slot, lock-free)."""
    return ctx.RawArray("b", POOL_SIZE)


@dataclass
class _Buffer:
    fd: int
    mm: mmap.mmap


class Sender:
    """A worker's end: sends batches over ``conn``, recycling up to :data:`POOL_SIZE` shared buffers.

    Allocating fresh shared memory costs far more than filling it (first-touch
    page faults and zeroing: ~7 ms for a 2.7 MB batch on a 2-core VM, against
    0.5 ms to copy), so a buffer comes back to the worker when the trainer has
    freed every tensor of its batch: the trainer's mapping carries a finalizer
    that sets the buffer's byte in ``flags``.
    """

    def __init__(self, conn: Any, flags: Any) -> None:
        self.conn, self.flags = conn, flags
        self.pool: list[_Buffer] = []

    def _slot(self, size: int) -> tuple[int, _Buffer]:
        for k, buf in enumerate(self.pool):
            if self.flags[k]:
                self.flags[k] = 0
                if len(buf.mm) < size:  # grow: the trainer no longer maps it
                    buf.mm.close()
                    os.ftruncate(buf.fd, size + size // 4)
                    buf.mm = mmap.mmap(buf.fd, size + size // 4, flags=mmap.MAP_SHARED | _POPULATE)
                return k, buf
        fd = os.memfd_create("graphkit-batch", os.MFD_CLOEXEC)
        cap = size + size // 4
        os.ftruncate(fd, cap)
        buf = _Buffer(fd, mmap.mmap(fd, cap, flags=mmap.MAP_SHARED | _POPULATE))
        if len(self.pool) < POOL_SIZE:
            self.pool.append(buf)
            return len(self.pool) - 1, buf
        return -1, buf  # the trainer holds every pooled buffer: a one-off

    def send(self, obj: Any) -> None:
        if not _MEMFD:
            self.conn.send(Packed.of(obj))
            return
        payload, packer = _pack(obj)
        size = max(packer.size, 1)
        slot, buf = self._slot(size)
        view = torch.frombuffer(buf.mm, dtype=torch.uint8)
        packer.copy_into(view)
        del view  # no view may outlive a mapping the pool may close
        self.conn.send(_MemfdHeader(payload, size, slot))
        reduction.send_handle(self.conn, buf.fd, os.getppid())  # in flight, the descriptor keeps the memory
        if slot < 0:
            buf.mm.close()
            os.close(buf.fd)


def _release(flags: Any, slot: int) -> None:
    flags[slot] = 1


class Receiver:
    """The trainer's end of a :class:`Sender`."""

    def __init__(self, conn: Any, flags: Any) -> None:
        self.conn, self.flags = conn, flags

    def receive(self, message: Any) -> Any:
        """The batch that ``message`` (already read from ``conn``) starts; other messages as they are."""
        if isinstance(message, Packed):
            return message.unpack()
        if not isinstance(message, _MemfdHeader):
            return message
        fd = reduction.recv_handle(self.conn)
        try:
            mm = mmap.mmap(fd, message.size, flags=mmap.MAP_SHARED | _POPULATE)
        finally:
            os.close(fd)
        if message.slot >= 0:  # back to the worker's pool once the last tensor of the batch is freed
            weakref.finalize(mm, _release, self.flags, message.slot)
        buffer = torch.frombuffer(mm, dtype=torch.uint8)  # holds the mapping until the last view is freed
        return _Unpacker(io.BytesIO(message.payload), buffer).load()
