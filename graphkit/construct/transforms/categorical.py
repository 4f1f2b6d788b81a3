"""``to_categorical``: one-hot (or multi-hot with a separator) over a fitted vocabulary."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.construct.columns import ColumnRef, string_array
from graphkit.construct.transforms.base import Param, Transform, register


@register
class ToCategorical(Transform):
    """Categories are the sorted distinct text values (or ``mapping`` if given).

    Unknown values and missing values give all-zero rows. With ``separator``,
    a value such as ``"rock|jazz"`` marks several categories (multi-hot).
    Vectorised with Arrow: no per-row Python.
    """

    name = "to_categorical"
    input = "raw"
    default_dtype = "int8"
    max_columns = 1
    params = {
        "separator": Param((str,), doc="Split values into several categories (multi-hot)."),
        "mapping": Param((dict,), doc="Fixed {value: index} mapping."),
    }

    def validate(self) -> None:
        m = self.p["mapping"]
        if m is not None:
            idx = list(m.values())
            if (not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in idx)
                    or len(set(idx)) != len(idx)):
                raise self.error("mapping", "mapping values must be distinct non-negative integers.")

    def _tokens(self, col: ColumnRef) -> tuple[pa.Array, np.ndarray]:
        """(tokens, row of each token); missing values have no tokens."""
        values = string_array(col)
        sep = self.p["separator"]
        if sep is None:
            valid = ~values.is_null().to_numpy(zero_copy_only=False)
            return pc.filter(values, pa.array(valid)), np.flatnonzero(valid)
        parts = pc.split_pattern(values, pattern=sep)
        rows = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
        toks = parts.flatten()
        keep = pc.not_equal(toks, "").to_numpy(zero_copy_only=False)
        return pc.filter(toks, pa.array(keep)), rows[keep]

    def fit(self, col: ColumnRef) -> dict:
        if self.p["mapping"] is not None:
            return {"mapping": {str(k): v for k, v in self.p["mapping"].items()}}
        toks, _ = self._tokens(col)
        vocab = sorted(v for v in pc.unique(toks).to_pylist() if v is not None)
        return {"mapping": {v: i for i, v in enumerate(vocab)}}

    def apply(self, col: ColumnRef, state: dict) -> dict[str, np.ndarray]:
        mapping = state["mapping"]
        width = max(mapping.values()) + 1 if mapping else 0
        toks, rows = self._tokens(col)
        keys = pa.array(list(mapping), type=pa.string())
        idx = pc.index_in(toks, value_set=keys)
        known = idx.is_valid().to_numpy(zero_copy_only=False)
        pos = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        cols = np.asarray(list(mapping.values()), dtype=np.int64)[pos[known]]
        out = np.zeros((col.table.num_rows, width), dtype=self.out_dtype)
        out[rows[known], cols] = 1
        return {self.feature.name: out}
