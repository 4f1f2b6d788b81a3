"""Compressed adjacency (CSR/CSC) from an edge list, in O(E) with a counting sort."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class Compressed:
    """Edges grouped by one endpoint (the *key*): ``indices[indptr[v]:indptr[v+1]]``
    are the other endpoints of the edges keyed by ``v`` and ``eids`` their edge IDs,
    in increasing edge-ID order within each group."""

    indptr: np.ndarray  # int64 [num_keys + 1]
    indices: np.ndarray  # int64 [E]
    eids: np.ndarray  # int64 [E]


@numba.njit(cache=True, nogil=True)
def _counting_sort(keys: np.ndarray, num_keys: int) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.zeros(num_keys + 1, dtype=np.int64)
    for k in keys:
        indptr[k + 1] += 1
    for i in range(num_keys):
        indptr[i + 1] += indptr[i]
    pos = indptr[:-1].copy()
    perm = np.empty(keys.shape[0], dtype=np.int64)
    for e in range(keys.shape[0]):
        k = keys[e]
        perm[pos[k]] = e
        pos[k] += 1
    return indptr, perm


def compress(keys: np.ndarray, others: np.ndarray, num_keys: int) -> Compressed:
    """Group edges ``(keys[e], others[e])`` by key. Stable: ties keep edge-ID order."""
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    if keys.size and (keys.min() < 0 or keys.max() >= num_keys):
        raise ValueError(f"edge endpoint out of range [0, {num_keys})")
    indptr, perm = _counting_sort(keys, num_keys)
    return Compressed(indptr=indptr, indices=np.asarray(others, dtype=np.int64)[perm], eids=perm)
