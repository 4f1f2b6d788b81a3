"""Fit and apply one configured feature: read its columns, impute, transform, cast.

The returned *record* (JSON) holds everything needed to apply the same
feature to new rows later: transform name, parameters, fitted state, imputer
values and output shapes. ``apply_feature`` with a record re-applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import pyarrow as pa

from graphkit.construct.columns import ColumnRef, first_nonfinite, numeric_matrix, string_values
from graphkit.construct.transforms import make_transform
from graphkit.construct.transforms.base import Transform
from graphkit.errors import ConfigError
from graphkit.schema.gconstruct import FeatureSpec, ImputerSpec
from graphkit.storage.tables import Table

FeatureValue = Union[np.ndarray, pa.Array]  # pa.Array: raw ID lists mapped later (hard negatives)


@dataclass
class FeatureResult:
    outputs: dict[str, FeatureValue]
    record: dict[str, Any]


def _numeric_input(table: Table, spec: FeatureSpec, t: Transform) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """The feature's columns side by side, and (column, width) for error messages."""
    sep = t.p.get("separator") if t.name == "no-op" else None
    parts, widths = [], []
    for c in spec.columns:
        m = numeric_matrix(ColumnRef(table, c, spec.key), separator=sep)
        parts.append(m)
        widths.append((c, m.shape[1]))
    return (parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)), widths


def _column_of_dim(widths: list[tuple[str, int]], dim: int) -> str:
    for name, w in widths:
        if dim < w:
            return name
        dim -= w
    return widths[-1][0]


def fit_imputer(x: np.ndarray, imp: ImputerSpec) -> list[float]:
    """Per-dimension fill values from the finite entries of ``x``."""
    out = []
    for d in range(x.shape[1]):
        col = x[:, d]
        col = col[np.isfinite(col)]
        if imp.strategy == "constant":
            out.append(float(imp.value))  # type: ignore[arg-type]
        elif col.size == 0:
            out.append(0.0)
        elif imp.strategy == "mean":
            out.append(float(col.mean()))
        elif imp.strategy == "median":
            out.append(float(np.median(col)))
        else:
            vals, counts = np.unique(col, return_counts=True)
            out.append(float(vals[np.argmax(counts)]))
    return out


def _impute_or_check(x: np.ndarray, table: Table, spec: FeatureSpec, widths: list[tuple[str, int]],
                     fill: Optional[list[float]]) -> np.ndarray:
    if fill is not None:
        bad = ~np.isfinite(x)
        if bad.any():
            x = np.where(bad, np.asarray(fill)[None, :], x)
        return x
    hit = first_nonfinite(x)
    if hit is not None:
        row, value = hit
        dim = int(np.argwhere(~np.isfinite(x[row]))[0][0])
        what = "missing (null/NaN)" if np.isnan(value) else f"{value}"
        raise table.error(
            f"numeric feature '{spec.name}' has a {what} value and no imputer.",
            row=row, column=_column_of_dim(widths, dim), key=spec.key,
            hint='Clean the data, or add "imputer": "mean" (or median, most_frequent, '
            '{"strategy": "constant", "value": 0}) to the feature.',
        )
    return x


def process_feature(table: Table, spec: FeatureSpec, config_file: Optional[str],
                    record: Optional[dict] = None) -> FeatureResult:
    """Fit (when ``record`` is None) and apply a feature to ``table``'s rows."""
    t = make_transform(spec, config_file)
    if spec.imputer is not None and t.input != "numeric":
        raise ConfigError(f"an imputer applies to numeric features, not to transform '{t.name}'.",
                          file=config_file, key=f"{spec.key}.imputer")
    imputer = None
    if t.input == "numeric":
        x, widths = _numeric_input(table, spec, t)
        if spec.imputer is not None:
            imputer = record["imputer"] if record else fit_imputer(x, spec.imputer)
        x = _impute_or_check(x, table, spec, widths, imputer)
        data: Any = x
    elif t.input == "text":
        data = string_values(ColumnRef(table, spec.columns[0], spec.key))
    else:
        data = ColumnRef(table, spec.columns[0], spec.key)
    state = record["state"] if record else t.fit(data)
    outputs = t.apply(data, state)
    rec = {
        "feature_name": spec.name,
        "feature_col": list(spec.columns),
        "transform": {"name": t.name, **t.spec.params},
        "out_dtype": spec.out_dtype,
        "imputer": imputer,
        "state": state,
        "outputs": {k: {"dtype": str(v.dtype), "shape": list(v.shape[1:])}
                    for k, v in outputs.items() if isinstance(v, np.ndarray)},
    }
    return FeatureResult(outputs=outputs, record=rec)
