"""Writing inference outputs as Parquet keyed by the users' raw node IDs, in chunks.

Layout (each folder holds ``part-00000.parquet``, ``part-00001.parquet``, ...):

- ``<embed>/<ntype>/``: ``id`` (raw), ``embedding`` (list<float32>)
- ``<pred>/<ntype>/``: ``id``, ``pred`` (the class as the user wrote it, or the
  regression value), ``prob`` (list<float32>, classification)
- ``<pred>/<src>,<rel>,<dst>/``: edge predictions ``src_id``, ``dst_id``, ``pred``, ...
- ``<pred>/links/<src>,<rel>,<dst>/``: ``src_id``, ``dst_id``, ``score``, ``rank`` —
  the top-k destinations of every source node

With several ranks, each writes its share's parts into the same folder,
numbered from ``first`` (:func:`parts_needed` files per rank; see
:mod:`graphkit.inference.ranks`).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphkit.storage.paths import safe_name

ROWS_PER_FILE = 1_000_000


def _list_column(x: np.ndarray) -> pa.Array:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


def parts_needed(rows: int, rows_per_file: int = ROWS_PER_FILE) -> int:
    """Files :func:`write_parts` writes for ``rows`` rows (one, possibly empty, at least)."""
    return max(1, -(-rows // rows_per_file))


def write_parts(folder: str, columns: dict[str, pa.Array | np.ndarray], rows_per_file: int = ROWS_PER_FILE,
                first: int = 0) -> int:
    """Write ``columns`` (equal lengths) as Parquet parts numbered from ``first``; returns the number of files."""
    os.makedirs(folder, exist_ok=True)
    n = len(next(iter(columns.values())))
    files = 0
    for start in range(0, max(n, 1), rows_per_file):
        sl = slice(start, min(start + rows_per_file, n))
        table = pa.table({k: (v[sl] if isinstance(v, pa.Array) else pa.array(v[sl]) if v.ndim == 1 else
                              _list_column(v[sl])) for k, v in columns.items()})
        pq.write_table(table, os.path.join(folder, f"part-{first + files:05d}.parquet"))
        files += 1
    return files


def write_embeddings(path: str, ntype: str, raw_ids: pa.Array, emb: np.ndarray, first: int = 0) -> str:
    folder = os.path.join(path, safe_name(ntype))
    write_parts(folder, {"id": raw_ids, "embedding": emb}, first=first)
    return folder


def write_node_predictions(path: str, ntype: str, raw_ids: pa.Array, pred: np.ndarray,
                           prob: Optional[np.ndarray] = None, classes: Optional[list] = None, first: int = 0) -> str:
    folder = os.path.join(path, safe_name(ntype))
    cols: dict = {"id": raw_ids}
    if classes is not None:  # typed from the classes, so an empty share has the same schema
        cols["pred"] = pa.array([classes[i] for i in pred], type=pa.array(classes).type)
    else:
        cols["pred"] = pred
    if prob is not None:
        cols["prob"] = prob
    write_parts(folder, cols, first=first)
    return folder


def write_links(path: str, etype: tuple[str, str, str], src_raw: pa.Array, dst_raw: pa.Array,
                scores: np.ndarray, rank: np.ndarray, first: int = 0) -> str:
    folder = os.path.join(path, "links", safe_name(",".join(etype)))
    write_parts(folder, {"src_id": src_raw, "dst_id": dst_raw, "score": scores.astype(np.float32), "rank": rank},
                first=first)
    return folder
