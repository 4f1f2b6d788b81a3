"""Reading the user's tables (CSV, Parquet, JSON lines) into Arrow, with row provenance.

A :class:`Table` remembers which file each row came from, so any later check
("row 17 has NaN") can name the file and the row within it.
"""

from __future__ import annotations

import bisect
import glob
import logging
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from graphkit.errors import ConfigError, InputDataError, did_you_mean
from graphkit.schema.gconstruct import FileFormat

log = logging.getLogger(__name__)

_EXTENSIONS = {"csv": (".csv", ".tsv", ".txt", ".csv.gz"), "parquet": (".parquet", ".pq"),
               "json": (".json", ".jsonl", ".ndjson")}


@dataclass(frozen=True)
class RowSource:
    """Maps a row of a concatenated table back to (file, row within that file)."""

    files: tuple[str, ...]
    starts: tuple[int, ...]  # global index of each file's first row
    num_rows: int

    def locate(self, row: int) -> tuple[str, int]:
        i = bisect.bisect_right(self.starts, row) - 1
        return self.files[i], row - self.starts[i]


@dataclass
class Table:
    data: pa.Table
    source: RowSource

    @property
    def num_rows(self) -> int:
        return self.data.num_rows

    def error(self, message: str, row: Optional[int] = None, column: Optional[str] = None,
              key: Optional[str] = None, hint: Optional[str] = None) -> InputDataError:
        """An error pointing at a row of this table (global row index) or at the whole file set."""
        if row is None:
            files = self.source.files
            file = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"
            return InputDataError(message, file=file, column=column, key=key, hint=hint)
        file, local = self.source.locate(row)
        return InputDataError(message, file=file, row=local, column=column, key=key, hint=hint)


def resolve_files(patterns: Sequence[str], base_dir: Optional[str], fmt: FileFormat,
                  key: str, config_path: Optional[str]) -> list[str]:
    """Expand literal paths, globs and folders into a sorted list of files.

    Relative paths are looked up in ``base_dir`` (the input directory, by
    default the config file's folder) and then in the working directory.
    """
    out: list[str] = []
    for pat in patterns:
        candidates = [pat] if os.path.isabs(pat) else ([os.path.join(base_dir, pat)] if base_dir else []) + [pat]
        found: list[str] = []
        for cand in candidates:
            if any(ch in cand for ch in "*?["):
                found = sorted(p for p in glob.glob(cand) if os.path.isfile(p))
            elif os.path.isdir(cand):
                exts = _EXTENSIONS[fmt.name]
                found = sorted(
                    os.path.join(cand, f) for f in os.listdir(cand)
                    if not f.startswith((".", "_")) and f.lower().endswith(exts)
                )
                if not found:
                    raise ConfigError(
                        f"folder has no {fmt.name} files (looked for {', '.join(exts)}).",
                        file=cand, key=key,
                    )
            elif os.path.isfile(cand):
                found = [cand]
            if found:
                break
        if not found:
            where = f" (looked in {base_dir} and the working directory)" if base_dir and not os.path.isabs(pat) else ""
            raise ConfigError(f"input file not found: '{pat}'{where}.", file=config_path, key=key)
        out.extend(found)
    return out


def _schema_of(path: str, fmt: FileFormat) -> pa.Schema:
    if fmt.name == "parquet":
        return pq.read_schema(path)
    if fmt.name == "csv":
        reader = pacsv.open_csv(path, parse_options=pacsv.ParseOptions(delimiter=fmt.separator))
        return reader.schema
    return pajson.read_json(path).schema


def _read_one(path: str, fmt: FileFormat, columns: Sequence[str], key: str) -> pa.Table:
    try:
        schema = _schema_of(path, fmt)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        raise InputDataError(
            f"cannot read this file as {fmt.name}: {_short(e)}.", file=path, key=key,
            hint="Check the file is not truncated or corrupt and that format.name matches it.",
        ) from None
    for col in columns:
        if col not in schema.names:
            hint = did_you_mean(col, schema.names)
            if fmt.name == "csv" and len(schema.names) == 1 and any(s in schema.names[0] for s in ",;\t|"):
                hint = (f"The header reads as one column '{schema.names[0]}': "
                        f"is format.separator ({fmt.separator!r}) right?")
            raise InputDataError(f"column '{col}' is missing.", file=path, column=col, key=key, hint=hint)
    try:
        if fmt.name == "parquet":
            table = pq.read_table(path, columns=list(columns))
        elif fmt.name == "csv":
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=fmt.separator),
                convert_options=pacsv.ConvertOptions(include_columns=list(columns)),
            )
        else:
            table = pajson.read_json(path).select(list(columns))
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        raise InputDataError(f"cannot read this file as {fmt.name}: {_short(e)}.", file=path, key=key) from None
    return table


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300]


def read_table(files: Sequence[str], fmt: FileFormat, columns: Sequence[str], key: str) -> Table:
    """Read the named columns of all files and concatenate them, keeping row provenance."""
    columns = list(dict.fromkeys(columns))
    tables, starts, n = [], [], 0
    for path in files:
        t = _read_one(path, fmt, columns, key)
        starts.append(n)
        n += t.num_rows
        tables.append(t)
        log.debug("read %s: %d rows", path, t.num_rows)
    if n == 0:
        raise InputDataError(
            "the input has no data rows.", file=files[0] if len(files) == 1 else ", ".join(files), key=key
        )
    try:
        data = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        data = _concat_as_strings(tables, columns, files, key, e)
    return Table(data=data.combine_chunks() if data.num_columns else data,
                 source=RowSource(tuple(files), tuple(starts), n))


def _concat_as_strings(tables: list[pa.Table], columns: list[str], files: Sequence[str], key: str,
                       err: Exception) -> pa.Table:
    """Files disagree on a column's type (e.g. int in one CSV, text in another): unify as text."""
    fixed = []
    for t, path in zip(tables, files):
        cols = []
        for c in columns:
            arr = t.column(c)
            if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_string(arr.type):
                arr = arr.cast(pa.string())
            cols.append(arr)
        fixed.append(pa.table(cols, names=columns))
    try:
        return pa.concat_tables(fixed, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise InputDataError(
            f"the files disagree on column types and cannot be combined: {_short(err)}.",
            file=", ".join(files), key=key,
        ) from None
