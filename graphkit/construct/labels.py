"""Labels and train/validation/test splits for one node or edge type.

Random splits are deterministic given ``--seed`` (and independent of the
order in which types are processed); custom splits match the user's raw IDs.
"""

from __future__ import annotations

import logging
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.construct.columns import ColumnRef, string_array
from graphkit.errors import ConfigError, InputDataError
from graphkit.schema.gconstruct import CustomSplit, FileFormat, LabelSpec
from graphkit.storage.tables import Table, read_table

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class LabelResult:
    name: str
    task_type: str
    values: Optional[np.ndarray]  # int64 classes or float32 targets; None for link prediction
    masks: dict[str, np.ndarray]  # mask name -> int8 [N]
    mask_names: list[str]
    num_classes: Optional[int] = None
    classes: Optional[list] = None
    split_counts: dict[str, int] = field(default_factory=dict)
    stats: Optional[dict] = None


def _label_values(table: Table, spec: LabelSpec) -> tuple[np.ndarray, np.ndarray, Optional[list]]:
    """(values, valid-row mask, classes-if-text) for a classification/regression label."""
    assert spec.column is not None
    col = ColumnRef(table, spec.column, spec.key)
    arr = col.array
    if pa.types.is_null(arr.type):  # every value is missing: reported as such by process_label
        arr = pc.cast(arr, pa.float64())
    t = arr.type
    if spec.task_type == "regression":
        if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            row, sample = _first_non_number(arr.to_pylist())
            raise col.error(f"regression labels must be numbers, found {t} (e.g. {sample!r}).", row=row,
                            hint="Store the column as numbers, or use task_type 'classification' for classes.")
        values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        valid = np.isfinite(values)
        return values.astype(np.float32), valid, None
    # classification
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        text = string_array(col)
        classes = sorted(v for v in pc.unique(text).to_pylist() if v is not None)
        idx = pc.index_in(text, value_set=pa.array(classes, pa.string()))
        valid = idx.is_valid().to_numpy(zero_copy_only=False)
        values = pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return values, valid, classes
    if pa.types.is_boolean(t):
        arr = pc.cast(arr, pa.int64())
        t = arr.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        raise col.error(f"classification labels must be integers or text, found {t}.")
    f = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    valid = np.isfinite(f)
    frac = np.flatnonzero(valid & (np.floor(f) != f))
    if frac.size:
        raise col.error(f"classification label {f[frac[0]]!r} is not a whole number.", row=int(frac[0]),
                        hint="Use task_type 'regression' for continuous targets.")
    neg = np.flatnonzero(valid & (f < 0))
    if neg.size:
        raise col.error(f"classification label {int(f[neg[0]])} is negative; classes are 0..K-1.", row=int(neg[0]))
    values = np.where(valid, f, -1).astype(np.int64)
    return values, valid, None


def _first_non_number(values: list) -> tuple[Optional[int], object]:
    """(row, value) of the first present value that does not read as a number, else of the first present one."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    for i, v in present:
        try:
            float(v)
        except (TypeError, ValueError):
            return i, v
    return present[0] if present else (None, None)


def _seeded_rng(seed: int, type_key: str, label: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(f"{type_key}/{label}".encode())])


def random_split(valid: np.ndarray, pct: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    """Row indices of train/val/test: a permutation of the valid rows cut by ``pct`` (floors)."""
    rows = rng.permutation(np.flatnonzero(valid))
    n = len(rows)
    n_tr, n_va, n_te = int(n * pct[0]), int(n * pct[1]), int(n * pct[2])
    return [rows[:n_tr], rows[n_tr:n_tr + n_va], rows[n_tr + n_va:n_tr + n_va + n_te]]


def _read_split_ids(files: Sequence[str], columns: Sequence[str], base_dir: Optional[str], key: str,
                    config_file: Optional[str]) -> pa.Table:
    from graphkit.storage.tables import resolve_files

    tables = []
    for f in files:
        ext = f.lower().rsplit(".", 1)[-1]
        fmt = FileFormat("parquet" if ext in ("parquet", "pq") else "csv" if ext in ("csv", "tsv") else "json")
        paths = resolve_files([f], base_dir, fmt, key, config_file)
        if fmt.name == "json" and not columns:
            tables.append(_read_json_lines_ids(paths, key))
            continue
        t = read_table(paths, fmt, list(columns), key)
        tables.append(t.data.rename_columns([f"c{i}" for i in range(t.data.num_columns)]))
    return pa.concat_tables(tables, promote_options="permissive")


def _read_json_lines_ids(paths: Sequence[str], key: str) -> pa.Table:
    """GraphStorm's JSON split files: one raw ID (nodes) or [src, dst] (edges) per line."""
    import json

    rows: list = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for i, line in enumerate(f):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise InputDataError("not a JSON value.", file=p, row=i, key=key) from None
    if rows and isinstance(rows[0], list):
        return pa.table({"c0": [r[0] for r in rows], "c1": [r[1] for r in rows]})
    return pa.table({"c0": rows})


def _row_keys(keys: Sequence[pa.Array], wanted: Sequence[Sequence[pa.Array]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One int64 per row of the data (``keys``) and of each split table (``wanted``), equal iff the ID tuples are.

    Each ID column is dictionary-encoded together with the split tables' column (one hash
    pass over the raw IDs, one shared dictionary); the rest is integer work. An Arrow hash
    join on the raw ID tuples takes about as long but 1.5 GB more memory at 20M edges.
    Codes of several columns combine in mixed radix (at most two columns: a node ID or a
    (src, dst) pair). A data row with a missing ID gets -1, which matches nothing.
    """
    n = len(keys[0])
    sizes = [n] + [len(w[0]) for w in wanted]

    def encode(i: int) -> tuple[np.ndarray, int]:  # codes of column i in data and split rows, dictionary size
        columns = [keys[i]] + [w[i] for w in wanted]
        chunks = [c for col in columns for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col])]
        enc = pc.dictionary_encode(pa.chunked_array(chunks, type=keys[i].type), null_encoding="encode")
        dictionary = enc.chunk(0).dictionary
        assert all(c.dictionary.equals(dictionary) for c in enc.chunks[1:]), "chunks must share one dictionary"
        return np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in enc.chunks]), len(dictionary)

    with ThreadPoolExecutor(len(keys)) as pool:  # Arrow releases the GIL: columns encode in parallel
        encoded = list(pool.map(encode, range(len(keys))))
    combined = np.zeros(sum(sizes), dtype=np.int64)
    for codes, size in encoded:
        combined *= size
        combined += codes
    missing = np.zeros(n, dtype=bool)
    for k in keys:
        if k.null_count:
            missing |= k.is_null().to_numpy(zero_copy_only=False)
    data = combined[:n]
    data[missing] = -1
    bounds = np.cumsum(sizes)
    return data, [combined[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def custom_split(split: CustomSplit, keys: Sequence[pa.Array], base_dir: Optional[str], key: str,
                 config_file: Optional[str]) -> list[np.ndarray]:
    """Rows whose raw ID (or (src, dst) pair) is listed in each split's files.

    A row listed in several splits goes to the first of train, valid, test.
    """
    n = len(keys[0])
    parts = [p for p in ("train", "valid", "test") if getattr(split, p)]
    wanted = []
    for part in parts:
        files = getattr(split, part)
        table = _read_split_ids(files, split.columns, base_dir, f"{key}.custom_split_filenames.{part}", config_file)
        if table.num_columns != len(keys):
            raise ConfigError(
                f"the {part} split files give {table.num_columns} ID column(s) but {len(keys)} are needed "
                f"({'node ID' if len(keys) == 1 else 'source and destination IDs'}).",
                file=config_file, key=f"{key}.custom_split_filenames.column",
            )
        cast_cols = []
        for i, k in enumerate(keys):
            c = table.column(i)
            if c.type != k.type:
                try:
                    c = c.cast(k.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise InputDataError(
                        f"split IDs of type {c.type} cannot be compared with the data's IDs of type {k.type}.",
                        file=", ".join(files), key=f"{key}.custom_split_filenames.{part}",
                    ) from None
            cast_cols.append(c)
        wanted.append(cast_cols)
    data, wanted_keys = _row_keys(keys, wanted)
    order = np.argsort(data)
    sorted_data = data[order]
    taken = np.zeros(n, dtype=bool)
    found: dict[str, np.ndarray] = {}
    for part, w in zip(parts, wanted_keys):
        w = np.sort(w)
        w = w[np.concatenate(([True], w[1:] != w[:-1]))] if w.size else w  # distinct; np.unique hashes, ~10x slower
        pos = np.searchsorted(w, sorted_data)
        hit = (w[np.minimum(pos, len(w) - 1)] == sorted_data) & (sorted_data >= 0) if w.size else pos < 0
        matched = int(np.count_nonzero(np.diff(pos[hit]))) + 1 if hit.any() else 0  # pos[hit] is sorted
        if len(w) > matched:
            log.warning("%s: %d ID(s) in the %s split files are not in the data and were ignored.",
                        key, len(w) - matched, part)
        listed = np.zeros(n, dtype=bool)
        listed[order[hit]] = True
        found[part] = np.flatnonzero(listed & ~taken)
        taken |= listed
    return [found.get(p, np.zeros(0, dtype=np.int64)) for p in ("train", "valid", "test")]


def process_label(table: Table, spec: LabelSpec, keys: Sequence[pa.Array], seed: int, type_key: str,
                  base_dir: Optional[str], config_file: Optional[str]) -> LabelResult:
    """Label values, masks and statistics for one label entry of a node/edge block.

    ``keys`` are the raw ID column(s) of the rows (one for nodes, two for
    edges), used to match custom split files.
    """
    n = table.num_rows
    classes = None
    if spec.task_type == "link_prediction":
        values, valid = None, np.ones(n, dtype=bool)
    else:
        values, valid, classes = _label_values(table, spec)
        if not valid.any():
            raise table.error("label column has no valid values (all missing).", column=spec.column, key=spec.key)
    if spec.custom_split is not None:
        parts = custom_split(spec.custom_split, keys, base_dir, spec.key, config_file)
        parts = [p[valid[p]] for p in parts]
    else:
        parts = random_split(valid, spec.split_pct, _seeded_rng(seed, type_key, spec.name))
    for name, pct, rows in zip(SPLITS, spec.split_pct, parts):
        asked = (spec.custom_split is not None and getattr(spec.custom_split, "valid" if name == "val" else name)) \
            or (spec.custom_split is None and pct > 0)
        if asked and len(rows) == 0:
            raise InputDataError(
                f"the {name} split of label '{spec.name}' is empty ({int(valid.sum())} labelled rows).",
                file=config_file, key=f"{spec.key}.{'custom_split_filenames' if spec.custom_split else 'split_pct'}",
                hint="Give it more rows, a larger fraction, or set its fraction to 0 on purpose.",
            )
    masks = {}
    for mask_name, rows in zip(spec.mask_names, parts):
        m = np.zeros(n, dtype=np.int8)
        m[rows] = 1
        masks[mask_name] = m
    res = LabelResult(name=spec.name, task_type=spec.task_type, values=values, masks=masks,
                      mask_names=list(spec.mask_names), classes=classes,
                      split_counts={s: int(len(r)) for s, r in zip(SPLITS, parts)})
    if spec.task_type == "classification":
        assert values is not None
        res.num_classes = len(classes) if classes is not None else int(values[valid].max()) + 1
        if spec.stats_type == "frequency_cnt":
            cls, cnt = np.unique(values[parts[0]], return_counts=True)
            names = [str(classes[int(c)]) if classes is not None else str(int(c)) for c in cls]
            res.stats = {"stats_type": "frequency_cnt", "info": dict(zip(names, (int(k) for k in cnt)))}
    return res
