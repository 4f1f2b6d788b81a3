"""The graph-construction config: GraphStorm's ``gconstruct-v0.1`` JSON, typed.

The JSON is read once, strictly (unknown keys are errors that suggest the
closest valid key), into frozen dataclasses. Nothing here reads data or
touches the filesystem beyond the config file itself.

graphkit accepts GraphStorm configs as they are, plus a few extensions that
GraphStorm lacks (they are ignored by nobody, since unknown keys are errors):

- ``format.name`` may also be ``jsonl`` (same as ``json``: JSON lines);
- ``files`` may mix literal paths, globs and folders;
- feature ``imputer`` (``mean``/``median``/``most_frequent`` or
  ``{"strategy": "constant", "value": 0}``) fills missing numeric values;
- string class labels are mapped to integers (GraphStorm rejects them).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from graphkit.errors import ConfigError
from graphkit.schema.keys import Reader

SUPPORTED_VERSIONS = ("gconstruct-v0.1",)
FORMATS = ("csv", "parquet", "json", "jsonl")
TASK_TYPES = ("classification", "regression", "link_prediction")
OUT_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64")
IMPUTE_STRATEGIES = ("mean", "median", "most_frequent", "constant")
DEFAULT_MASKS = ("train_mask", "val_mask", "test_mask")
DEFAULT_SPLIT = (0.8, 0.1, 0.1)

EdgeType = tuple[str, str, str]


def etype_str(etype: EdgeType) -> str:
    """The canonical string of an edge type, as GraphStorm writes it: ``src,rel,dst``."""
    return ",".join(etype)


@dataclass(frozen=True)
class FileFormat:
    name: str  # csv | parquet | json (JSON lines)
    separator: str = ","


@dataclass(frozen=True)
class TransformSpec:
    """A feature transform as written in the config: its name and raw parameters."""

    name: str
    params: dict[str, Any]
    key: str  # where it sits in the config, for error messages


@dataclass(frozen=True)
class ImputerSpec:
    strategy: str
    value: Optional[float] = None


@dataclass(frozen=True)
class FeatureSpec:
    columns: tuple[str, ...]
    name: str
    transform: TransformSpec
    out_dtype: Optional[str]
    imputer: Optional[ImputerSpec]
    key: str


@dataclass(frozen=True)
class CustomSplit:
    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class LabelSpec:
    task_type: str
    column: Optional[str]
    split_pct: tuple[float, float, float]
    custom_split: Optional[CustomSplit]
    mask_names: tuple[str, str, str]
    stats_type: Optional[str]
    key: str

    @property
    def name(self) -> str:
        """The label's name in the graph: its column (GraphStorm's convention)."""
        return self.column or self.task_type


@dataclass(frozen=True)
class NodeSpec:
    node_type: str
    id_column: Optional[str]
    format: FileFormat
    files: tuple[str, ...]
    features: tuple[FeatureSpec, ...]
    labels: tuple[LabelSpec, ...]
    key: str


@dataclass(frozen=True)
class EdgeSpec:
    relation: EdgeType
    src_column: Optional[str]
    dst_column: Optional[str]
    format: FileFormat
    files: tuple[str, ...]
    features: tuple[FeatureSpec, ...]
    labels: tuple[LabelSpec, ...]
    key: str


@dataclass(frozen=True)
class GraphConfig:
    """A parsed, validated construction config."""

    version: str
    nodes: tuple[NodeSpec, ...]
    edges: tuple[EdgeSpec, ...]
    path: Optional[str]  # the config file, for error messages
    raw: dict = field(compare=False, repr=False)

    @property
    def node_types(self) -> list[str]:
        """All node types, in first-mention order (node blocks, then edge endpoints)."""
        seen: dict[str, None] = {}
        for n in self.nodes:
            seen.setdefault(n.node_type)
        for e in self.edges:
            seen.setdefault(e.relation[0])
            seen.setdefault(e.relation[2])
        return list(seen)

    @property
    def edge_types(self) -> list[EdgeType]:
        seen: dict[EdgeType, None] = {}
        for e in self.edges:
            seen.setdefault(e.relation)
        return list(seen)


def load_graph_config(path: str) -> GraphConfig:
    """Read and validate a gconstruct JSON file."""
    if not os.path.exists(path):
        raise ConfigError("the construction config file does not exist.", file=path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.", file=path
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the config: {e}.", file=path) from None
    return parse_graph_config(raw, path)


def parse_graph_config(raw: Any, path: Optional[str] = None) -> GraphConfig:
    top = Reader(raw, "", path, ("version", "nodes", "edges"))
    version = top.get("version", str, default="gconstruct-v0.1")
    if version not in SUPPORTED_VERSIONS:
        raise top.error(
            "version",
            f"unsupported config version '{version}'.",
            hint=f"Supported: {', '.join(SUPPORTED_VERSIONS)}.",
        )
    nodes_raw = top.get("nodes", list, default=[])
    edges_raw = top.get("edges", list, required=True)
    nodes = tuple(_parse_node(n, f"nodes[{i}]", path) for i, n in enumerate(nodes_raw))
    edges = tuple(_parse_edge(e, f"edges[{i}]", path) for i, e in enumerate(edges_raw))
    if not edges:
        raise top.error("edges", "the graph needs at least one edge block.")
    cfg = GraphConfig(version=version, nodes=nodes, edges=edges, path=path, raw=raw)
    _check_cross_references(cfg)
    return cfg


def _parse_format(r: Reader) -> FileFormat:
    fmt = Reader(r.get("format", dict, required=True), r.path("format"), r.file, ("name", "separator"))
    name = fmt.choice("name", FORMATS, required=True)
    sep = fmt.get("separator", str, default=",")
    if name == "jsonl":
        name = "json"
    return FileFormat(name=name, separator=sep)


def _parse_files(r: Reader) -> tuple[str, ...]:
    files = r.get_str_list("files", required=True)
    assert files is not None
    return files


def _parse_node(obj: Any, where: str, path: Optional[str]) -> NodeSpec:
    r = Reader(obj, where, path, ("node_type", "node_id_col", "format", "files", "features", "labels"))
    ntype = r.get("node_type", str, required=True)
    if not ntype:
        raise r.error("node_type", "node_type must not be empty.")
    return NodeSpec(
        node_type=ntype,
        id_column=r.get("node_id_col", str),
        format=_parse_format(r),
        files=_parse_files(r),
        features=_parse_features(r),
        labels=_parse_labels(r, is_edge=False),
        key=where,
    )


def _parse_edge(obj: Any, where: str, path: Optional[str]) -> EdgeSpec:
    r = Reader(
        obj,
        where,
        path,
        ("relation", "source_id_col", "dest_id_col", "format", "files", "features", "labels"),
    )
    rel = r.get("relation", list, required=True)
    if len(rel) != 3 or not all(isinstance(x, str) and x for x in rel):
        raise r.error("relation", f"expected [src_node_type, relation, dst_node_type], got {rel!r}.")
    src_col = r.get("source_id_col", str)
    dst_col = r.get("dest_id_col", str)
    if (src_col is None) != (dst_col is None):
        missing = "dest_id_col" if dst_col is None else "source_id_col"
        raise r.error(missing, "source_id_col and dest_id_col must be given together.")
    return EdgeSpec(
        relation=(rel[0], rel[1], rel[2]),
        src_column=src_col,
        dst_column=dst_col,
        format=_parse_format(r),
        files=_parse_files(r),
        features=_parse_features(r),
        labels=_parse_labels(r, is_edge=True),
        key=where,
    )


def _parse_features(parent: Reader) -> tuple[FeatureSpec, ...]:
    items = parent.get("features", list, default=[])
    out = []
    for i, obj in enumerate(items):
        where = parent.path(f"features[{i}]")
        r = Reader(
            obj,
            where,
            parent.file,
            ("feature_col", "feature_name", "transform", "out_dtype", "truncate_dim", "imputer"),
        )
        cols = r.get_str_list("feature_col", required=True)
        assert cols is not None
        name = r.get("feature_name", str)
        if name is None:
            if len(cols) > 1:
                raise r.error("feature_name", "feature_name is required when feature_col lists several columns.")
            name = cols[0]
        out_dtype = r.choice("out_dtype", OUT_DTYPES)
        transform = _parse_transform(r)
        truncate = r.get("truncate_dim", int)
        if truncate is not None:
            # GraphStorm reads truncate_dim from the feature entry; it is a no-op parameter.
            if transform.name != "no-op":
                raise r.error("truncate_dim", "truncate_dim applies only to features without a transform (no-op).")
            transform = TransformSpec("no-op", {**transform.params, "truncate_dim": truncate}, transform.key)
        out.append(
            FeatureSpec(
                columns=cols,
                name=name,
                transform=transform,
                out_dtype=out_dtype,
                imputer=_parse_imputer(r),
                key=where,
            )
        )
    names = [f.name for f in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise parent.error("features", f"feature name(s) {sorted(dup)} defined twice in one block.")
    return tuple(out)


def _parse_transform(r: Reader) -> TransformSpec:
    key = r.path("transform")
    obj = r.get("transform", dict)
    if obj is None:
        return TransformSpec("no-op", {}, key)
    if "name" not in obj:
        raise r.error("transform", "a transform needs a 'name', e.g. {\"name\": \"max_min_norm\"}.")
    name = obj["name"]
    if not isinstance(name, str):
        raise ConfigError(f"transform name must be a string, got {name!r}.", file=r.file, key=f"{key}.name")
    params = {k: v for k, v in obj.items() if k != "name"}
    return TransformSpec(name, params, key)


def _parse_imputer(r: Reader) -> Optional[ImputerSpec]:
    obj = r.get("imputer", (str, dict))
    if obj is None:
        return None
    if isinstance(obj, str):
        obj = {"strategy": obj}
    ir = Reader(obj, r.path("imputer"), r.file, ("strategy", "value"))
    strategy = ir.choice("strategy", IMPUTE_STRATEGIES, required=True)
    value = ir.get("value", float)
    if strategy == "constant" and value is None:
        raise ir.error("value", "the 'constant' imputer needs a 'value'.")
    if strategy != "constant" and value is not None:
        raise ir.error("value", f"'value' is only used by the 'constant' imputer, not '{strategy}'.")
    return ImputerSpec(strategy, value)


def _parse_labels(parent: Reader, is_edge: bool) -> tuple[LabelSpec, ...]:
    items = parent.get("labels", list, default=[])
    out = []
    for i, obj in enumerate(items):
        where = parent.path(f"labels[{i}]")
        r = Reader(
            obj,
            where,
            parent.file,
            ("label_col", "task_type", "split_pct", "custom_split_filenames", "mask_field_names", "label_stats_type"),
        )
        task = r.choice("task_type", TASK_TYPES, required=True)
        assert task is not None
        col = r.get("label_col", str)
        if task == "link_prediction" and not is_edge:
            raise r.error("task_type", "link_prediction labels belong to an edge block, not a node block.")
        custom = _parse_custom_split(r)
        if task in ("classification", "regression") and col is None:
            raise r.error("label_col", f"a {task} label needs a label_col.")
        split = _parse_split_pct(r)
        masks = r.get("mask_field_names", list)
        if masks is None:
            masks = DEFAULT_MASKS
        elif len(masks) != 3 or not all(isinstance(m, str) and m for m in masks) or len(set(masks)) != 3:
            raise r.error("mask_field_names", f"expected three distinct names [train, val, test], got {masks!r}.")
        stats = r.choice("label_stats_type", ("frequency_cnt",))
        if stats is not None and task != "classification":
            stats = None  # GraphStorm ignores label stats for non-classification tasks
        out.append(
            LabelSpec(
                task_type=task,
                column=col,
                split_pct=split,
                custom_split=custom,
                mask_names=(masks[0], masks[1], masks[2]),
                stats_type=stats,
                key=where,
            )
        )
    return tuple(out)


def _parse_split_pct(r: Reader) -> tuple[float, float, float]:
    split = r.get("split_pct", list)
    if split is None:
        return DEFAULT_SPLIT
    if len(split) != 3 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in split):
        raise r.error("split_pct", f"expected three numbers [train, val, test], got {split!r}.")
    vals = tuple(float(x) for x in split)
    if any(not math.isfinite(x) or x < 0 or x > 1 for x in vals):
        raise r.error("split_pct", f"each split fraction must be between 0 and 1, got {split!r}.")
    total = sum(vals)
    if total > 1 + 1e-6:
        raise r.error(
            "split_pct",
            f"split fractions sum to {total:g}, more than 1.",
            hint="Use fractions such as [0.8, 0.1, 0.1]; a sum below 1 leaves the rest out of every split.",
        )
    if total == 0:
        raise r.error("split_pct", "all split fractions are 0: no train, validation or test rows.")
    return (vals[0], vals[1], vals[2])


def _parse_custom_split(r: Reader) -> Optional[CustomSplit]:
    obj = r.get("custom_split_filenames", dict)
    if obj is None:
        return None
    cr = Reader(obj, r.path("custom_split_filenames"), r.file, ("train", "valid", "test", "column"))
    parts = {k: cr.get_str_list(k) or () for k in ("train", "valid", "test")}
    if not any(parts.values()):
        raise cr.error("train", "custom_split_filenames names no train, valid or test file.")
    cols = cr.get_str_list("column") or ()
    return CustomSplit(train=parts["train"], valid=parts["valid"], test=parts["test"], columns=cols)


def _check_cross_references(cfg: GraphConfig) -> None:
    id_blocks: dict[str, str] = {}
    for n in cfg.nodes:
        if n.id_column is not None:
            if n.node_type in id_blocks:
                raise ConfigError(
                    f"node type '{n.node_type}' has node IDs in two blocks ({id_blocks[n.node_type]} and {n.key}).",
                    file=cfg.path,
                    key=f"{n.key}.node_id_col",
                    hint="Give node_id_col in one block only; other blocks of the type add features row-aligned.",
                )
            id_blocks[n.node_type] = n.key
    for n in cfg.nodes:
        for lab in n.labels:
            if lab.custom_split is not None and n.id_column is None:
                raise ConfigError(
                    "a custom split needs node_id_col in the same node block to match IDs.",
                    file=cfg.path,
                    key=f"{lab.key}.custom_split_filenames",
                )
    for e in cfg.edges:
        if e.src_column is None:
            if not any(o.relation == e.relation and o.src_column is not None for o in cfg.edges):
                raise ConfigError(
                    f"edge type {etype_str(e.relation)} has no block with source_id_col/dest_id_col.",
                    file=cfg.path,
                    key=f"{e.key}.source_id_col",
                )
            for lab in e.labels:
                if lab.custom_split is not None:
                    raise ConfigError(
                        "a custom edge split needs source_id_col/dest_id_col in the same block.",
                        file=cfg.path,
                        key=f"{lab.key}.custom_split_filenames",
                    )
