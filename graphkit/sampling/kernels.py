"""Compiled kernels for neighbour sampling (numba, cached, GIL-free).

Randomness is counter-based: the draw for (batch seed, dst node, position)
is a SplitMix64 hash, so results do not depend on thread scheduling and a
batch re-sampled with the same seed is identical.
"""

from __future__ import annotations

import types

import numba
import numpy as np
from numba import prange

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@numba.njit(inline="always", cache=True)
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always", cache=True)
def _draw(state: np.uint64, j: np.int64, bound: np.int64) -> np.int64:
    """A uniform integer in [0, bound) for the j-th draw of ``state``."""
    z = _mix(state + np.uint64(j + 1) * _GOLDEN)
    return np.int64(z % np.uint64(bound))


@numba.njit(cache=True, nogil=True, parallel=True)
def sample_in_neighbors(indptr: np.ndarray, indices: np.ndarray, eids: np.ndarray, dst: np.ndarray,
                        fanout: int, seed: np.uint64, excluded: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample up to ``fanout`` in-edges of each ``dst`` node, uniformly without replacement.

    ``indptr/indices/eids`` is a CSC (in-edges grouped by destination);
    ``fanout < 0`` takes every in-edge; ``excluded`` is either empty or a uint8
    mask over edge IDs whose set entries are never sampled.
    Returns the block's CSR over ``dst``: (ptr, global source IDs, edge IDs).
    """
    n = dst.shape[0]
    use_excl = excluded.shape[0] > 0
    ptr = np.zeros(n + 1, dtype=np.int64)
    for i in prange(n):
        v = dst[i]
        start, end = indptr[v], indptr[v + 1]
        valid = end - start
        if use_excl:
            valid = 0
            for j in range(start, end):
                if excluded[eids[j]] == 0:
                    valid += 1
        ptr[i + 1] = valid if (fanout < 0 or valid <= fanout) else fanout
    for i in range(n):
        ptr[i + 1] += ptr[i]
    out_src = np.empty(ptr[n], dtype=np.int64)
    out_eid = np.empty(ptr[n], dtype=np.int64)
    for i in prange(n):
        v = dst[i]
        start, end = indptr[v], indptr[v + 1]
        o, k = ptr[i], ptr[i + 1] - ptr[i]
        if k == 0:
            continue
        if not use_excl:
            if k == end - start:
                for j in range(k):
                    out_src[o + j] = indices[start + j]
                    out_eid[o + j] = eids[start + j]
                continue
            _floyd(out_eid, o, k, end - start, seed ^ _mix(np.uint64(v)))
            for j in range(k):
                p = start + out_eid[o + j]
                out_src[o + j] = indices[p]
                out_eid[o + j] = eids[p]
            continue
        # With exclusions: positions are ranks among the non-excluded in-edges.
        valid = 0
        for j in range(start, end):
            if excluded[eids[j]] == 0:
                valid += 1
        if k < valid:
            _floyd(out_eid, o, k, valid, seed ^ _mix(np.uint64(v)))
            out_eid[o:o + k].sort()
        else:
            for j in range(k):
                out_eid[o + j] = j
        rank, q = 0, 0
        for j in range(start, end):
            if q == k:
                break
            if excluded[eids[j]] != 0:
                continue
            if rank == out_eid[o + q]:
                out_src[o + q] = indices[j]
                out_eid[o + q] = eids[j]
                q += 1
            rank += 1
    return ptr, out_src, out_eid


def _serial_twin(kernel, name: str):
    """``kernel`` compiled without ``parallel`` (``prange`` runs as ``range``), under its own name.

    Forked sampler worker processes (:mod:`graphkit.loading.workers`) must not
    enter numba's OpenMP pool, which is not fork-safe (numba terminates the
    child). The own name gives the twin its own on-disk cache entry: numba's
    cache key does not include the ``parallel`` flag.
    """
    f = kernel.py_func
    twin = types.FunctionType(f.__code__, f.__globals__, name, f.__defaults__, f.__closure__)
    twin.__qualname__ = name
    return numba.njit(cache=True, nogil=True)(twin)


sample_in_neighbors_serial = _serial_twin(sample_in_neighbors, "sample_in_neighbors_serial")


@numba.njit(inline="always", cache=True)
def _floyd(out: np.ndarray, o: np.int64, k: np.int64, n: np.int64, state: np.uint64) -> None:
    """Floyd's algorithm: ``k`` distinct integers of [0, n) into ``out[o:o+k]``."""
    m = 0
    for j in range(n - k, n):
        t = _draw(state, j, j + 1)
        for q in range(m):
            if out[o + q] == t:
                t = j
                break
        out[o + m] = t
        m += 1


@numba.njit(cache=True, nogil=True)
def relabel(scratch: np.ndarray, dst_nodes: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local IDs for sampled sources: ``dst_nodes`` keep positions 0..len-1, new nodes follow.

    ``scratch`` is a per-node-type int64 array of -1s (length = number of
    nodes of the type); it is restored to -1s before returning. ``dst_nodes``
    must be distinct. Returns (all local nodes as global IDs, local ID of each ``src``).
    """
    n_dst = dst_nodes.shape[0]
    nodes = np.empty(n_dst + src.shape[0], dtype=np.int64)
    for i in range(n_dst):
        scratch[dst_nodes[i]] = i
        nodes[i] = dst_nodes[i]
    n = n_dst
    local = np.empty(src.shape[0], dtype=np.int64)
    for i in range(src.shape[0]):
        x = src[i]
        p = scratch[x]
        if p < 0:
            p = n
            scratch[x] = n
            nodes[n] = x
            n += 1
        local[i] = p
    for i in range(n):
        scratch[nodes[i]] = -1
    return nodes[:n].copy(), local


@numba.njit(cache=True, nogil=True)
def unique_stable(scratch: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``ids`` in first-appearance order, and the position of each id among them."""
    return relabel(scratch, np.empty(0, dtype=np.int64), ids)


@numba.njit(cache=True, nogil=True)
def set_bits(mask: np.ndarray, ids: np.ndarray, bit: np.uint8, on: bool) -> None:
    """Set (``on``) or clear ``bit`` of ``mask[ids]``."""
    for i in range(ids.shape[0]):
        if on:
            mask[ids[i]] |= bit
        else:
            mask[ids[i]] &= ~bit
