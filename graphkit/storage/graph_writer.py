"""Writing the arrays of a graph directory: ``.npy`` files, structure, ID maps.

The building blocks for any stage (or benchmark) that writes a graph directory
directly from arrays; ``docs/graph-format.md`` describes what they produce.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphkit.schema.graph_meta import STRUCTURE_KEYS, ArrayMeta
from graphkit.storage.csr import compress


class ArrayWriter:
    """Saves arrays under a graph directory and describes them as :class:`ArrayMeta`."""

    def __init__(self, root: str) -> None:
        self.root = root

    def save(self, rel: str, arr: np.ndarray) -> ArrayMeta:
        """Write ``arr`` to ``root/rel`` (a ``.npy`` path relative to the graph directory)."""
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        arr = np.ascontiguousarray(arr)
        np.save(path, arr)
        return ArrayMeta(path=rel, dtype=str(arr.dtype), shape=list(arr.shape))


def structure_paths(sub: str) -> dict[str, str]:
    """The usual file of every structure array of an edge type stored under ``sub``."""
    return {k: f"{sub}/{k}.npy" for k in STRUCTURE_KEYS}


def write_structure(w: ArrayWriter, paths: dict[str, str], src: np.ndarray, dst: np.ndarray,
                    num_src: int, num_dst: int) -> dict[str, ArrayMeta]:
    """COO, CSR and CSC of the edges ``(src[e], dst[e])`` (edge ID ``e``), at ``paths``."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    csr = compress(src, dst, num_src)
    csc = compress(dst, src, num_dst)
    arrays = {
        "src": src, "dst": dst,
        "csr_indptr": csr.indptr, "csr_indices": csr.indices, "csr_eids": csr.eids,
        "csc_indptr": csc.indptr, "csc_indices": csc.indices, "csc_eids": csc.eids,
    }
    return {k: w.save(paths[k], arrays[k]) for k in STRUCTURE_KEYS}


def write_id_map(root: str, rel: str, ids: pa.Array) -> None:
    """The raw ID of every node (row ``i`` is node ``i``), as parquet columns ``id`` and ``nid``."""
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.table({"id": ids, "nid": pa.array(np.arange(len(ids), dtype=np.int64))}), path)
