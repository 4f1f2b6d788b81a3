"""Compiled kernels of the GraphSAINT samplers (numba, cached).

Randomness comes in as arrays of uniforms drawn by the caller's
``np.random.Generator``, so a sample depends on the seed alone.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def random_walks(indptr: np.ndarray, nbr: np.ndarray, roots: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Walks of ``u.shape[1]`` steps from every root; a step goes to a uniform neighbour.

    ``indptr/nbr`` is a CSR adjacency; ``u`` is ``[roots, steps]`` uniforms in
    [0, 1). A node without neighbours stays where it is. Returns the visited
    nodes, ``[roots * (steps + 1)]``, roots included.
    """
    r, h = u.shape
    out = np.empty(r * (h + 1), dtype=np.int64)
    for i in range(r):
        v = roots[i]
        out[i * (h + 1)] = v
        for j in range(h):
            d = indptr[v + 1] - indptr[v]
            if d > 0:
                v = nbr[indptr[v] + min(np.int64(u[i, j] * d), d - 1)]
            out[i * (h + 1) + j + 1] = v
    return out


@numba.njit(cache=True, nogil=True)
def frontier_walk(indptr: np.ndarray, nbr: np.ndarray, frontier: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The multi-dimensional random walk (Ribeiro & Towsley, 2010), one step per row of ``u``.

    Each step picks a frontier node ``v`` with probability ``deg(v) / sum of
    frontier degrees``, replaces it by a uniform neighbour ``v'`` and records
    ``v'``. The choice is a Fenwick-tree search, ``O(log m)`` per step. Stops
    early when every frontier node is isolated. Returns the initial frontier
    followed by the recorded nodes.
    """
    m = frontier.shape[0]
    fr = frontier.copy()
    tree = np.zeros(m + 1, dtype=np.int64)
    total = np.int64(0)
    for i in range(m):
        d = indptr[fr[i] + 1] - indptr[fr[i]]
        total += d
        k = i + 1
        while k <= m:
            tree[k] += d
            k += k & -k
    top = 1
    while top * 2 <= m:
        top *= 2
    out = np.empty(m + u.shape[0], dtype=np.int64)
    out[:m] = fr
    n = m
    for s in range(u.shape[0]):
        if total == 0:
            break
        target = min(np.int64(u[s, 0] * total), total - 1)
        pos = 0  # the largest pos with prefix(pos) <= target; slot ``pos`` holds the target
        step = top
        while step > 0:
            if pos + step <= m and tree[pos + step] <= target:
                pos += step
                target -= tree[pos]
            step //= 2
        v = fr[pos]
        d = indptr[v + 1] - indptr[v]
        w = nbr[indptr[v] + min(np.int64(u[s, 1] * d), d - 1)]
        change = (indptr[w + 1] - indptr[w]) - d
        fr[pos] = w
        total += change
        k = pos + 1
        while k <= m:
            tree[k] += change
            k += k & -k
        out[n] = w
        n += 1
    return out[:n]


@numba.njit(cache=True, nogil=True)
def induce(indptr: np.ndarray, indices: np.ndarray, eids: np.ndarray, dst: np.ndarray, src_pos: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every in-edge of the ``dst`` nodes whose source is sampled.

    ``indptr/indices/eids`` is a CSC; ``src_pos[u]`` is the local position of
    source node ``u`` or -1. Returns a CSR over ``dst``: (ptr, local source
    positions, edge IDs), edges in CSC order.
    """
    n = dst.shape[0]
    ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        c = 0
        for j in range(indptr[dst[i]], indptr[dst[i] + 1]):
            if src_pos[indices[j]] >= 0:
                c += 1
        ptr[i + 1] = ptr[i] + c
    out_idx = np.empty(ptr[n], dtype=np.int64)
    out_eid = np.empty(ptr[n], dtype=np.int64)
    for i in range(n):
        o = ptr[i]
        for j in range(indptr[dst[i]], indptr[dst[i] + 1]):
            p = src_pos[indices[j]]
            if p >= 0:
                out_idx[o] = p
                out_eid[o] = eids[j]
                o += 1
    return ptr, out_idx, out_eid
