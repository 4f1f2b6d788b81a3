"""Turning Arrow columns into numpy arrays, with errors that name the row and the value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.errors import InputDataError
from graphkit.storage.tables import Table


@dataclass(frozen=True)
class ColumnRef:
    """A column of a table, with the config key that asked for it (for errors)."""

    table: Table
    name: str
    key: str

    @property
    def array(self) -> pa.Array:
        return self.table.data.column(self.name).combine_chunks()

    def error(self, message: str, row: Optional[int] = None, hint: Optional[str] = None) -> InputDataError:
        return self.table.error(message, row=row, column=self.name, key=self.key, hint=hint)


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def numeric_matrix(col: ColumnRef, separator: Optional[str] = None) -> np.ndarray:
    """A column as a float64 ``(N, D)`` matrix; missing values become NaN.

    Scalars give ``D = 1``; list columns (Parquet ``list<float>``, JSON arrays)
    give one dimension per element and must all have the same length; text
    columns are parsed as numbers, split by ``separator`` when given.
    """
    arr = col.array
    t = arr.type
    if _is_numeric(t) or pa.types.is_null(t):  # null: every value is missing (an empty CSV column)
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return out.reshape(-1, 1)
    if _is_list(t):
        return _list_matrix(col, arr)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if separator is not None:
            return _split_matrix(col, arr, separator)
        return _parse_floats(col, arr).reshape(-1, 1)
    raise col.error(f"expected numbers, found values of type {t}.")


def _list_matrix(col: ColumnRef, arr: pa.Array) -> np.ndarray:
    if arr.null_count:
        row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise col.error("a list-valued feature is missing (null).", row=row,
                        hint="Give every row a list of the same length, or add an imputer to a scalar feature.")
    if pa.types.is_fixed_size_list(arr.type):
        dim = arr.type.list_size
    else:
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        dim = int(lengths[0])
        bad = np.flatnonzero(lengths != dim)
        if bad.size:
            r = int(bad[0])
            raise col.error(
                f"ragged list feature: row 0 has {dim} values but this row has {int(lengths[r])}.",
                row=r, hint="Every row of a list feature must have the same length.",
            )
    values = arr.flatten()
    if not _is_numeric(values.type):
        raise col.error(f"list elements must be numbers, found {values.type}.")
    flat = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    return flat.reshape(len(arr), dim)


def _parse_floats(col: ColumnRef, arr: pa.Array, per_row: int = 1) -> np.ndarray:
    """Parse text as float64; ``per_row`` values belong to each table row (split features)."""
    stripped = pc.utf8_trim_whitespace(arr)
    empty = pc.equal(stripped, "")
    stripped = pc.if_else(empty, pa.scalar(None, pa.string()), stripped)
    try:
        return pc.cast(stripped, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        pass
    # Find the first value that is not a number, to say which row.
    values = stripped.to_pylist()
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            float(v)
        except ValueError:
            raise col.error(f"value {v!r} is not a number.", row=i // per_row,
                            hint="Numeric transforms need numeric columns; use to_categorical for text.") from None
    raise col.error("column could not be parsed as numbers.")


def _split_matrix(col: ColumnRef, arr: pa.Array, sep: str) -> np.ndarray:
    parts = pc.split_pattern(arr, pattern=sep)
    lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    if parts.null_count:
        row = int(np.flatnonzero(parts.is_null().to_numpy(zero_copy_only=False))[0])
        raise col.error("the value is missing (null).", row=row)
    dim = int(lengths[0])
    bad = np.flatnonzero(lengths != dim)
    if bad.size:
        r = int(bad[0])
        raise col.error(f"ragged feature: row 0 splits into {dim} values by {sep!r} "
                        f"but this row into {int(lengths[r])}.", row=r)
    values = _parse_floats(col, parts.flatten(), per_row=dim)
    return values.reshape(len(arr), dim)


def string_array(col: ColumnRef) -> pa.Array:
    """A scalar column as Arrow text; integer-valued floats print as integers ("3", not "3.0")."""
    arr = col.array
    t = arr.type
    if _is_list(t):
        raise col.error("expected text or scalar values, found lists.")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_floating(t):
        arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, t), arr)  # NaN is a missing value, like null
        f = arr.to_numpy(zero_copy_only=False)
        present = f[~np.isnan(f)]
        if (np.isfinite(present) & (np.floor(present) == present) & (np.abs(present) < 2.0**63)).all():
            return pc.cast(pc.cast(arr, pa.int64()), pa.string())
    return pc.cast(arr, pa.string())


def string_values(col: ColumnRef) -> np.ndarray:
    """A column as a numpy object array of ``str`` (``None`` for missing values)."""
    return np.asarray(string_array(col).to_pylist(), dtype=object)


def first_nonfinite(x: np.ndarray) -> Optional[tuple[int, float]]:
    """(row, value) of the first NaN/inf in a 2-D matrix, or None."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return None
    r, c = np.argwhere(bad)[0]
    return int(r), float(x[r, c])
