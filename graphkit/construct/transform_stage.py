"""Stage 1 of construction, ``graphkit transform``: tables -> transformed per-type data.

Reads every node and edge block, fits and applies feature transforms, builds
labels and split masks. Node and edge IDs stay raw here; ``idmap`` maps them.
The result lives in memory (:class:`TransformedGraph`) and can be written to /
read from a directory so the two stages can run as separate pipeline steps.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphkit import __version__
from graphkit.construct.features import FeatureValue, process_feature
from graphkit.construct.labels import LabelResult, process_label
from graphkit.errors import ConfigError, GraphkitError, InputDataError
from graphkit.schema.gconstruct import EdgeSpec, EdgeType, GraphConfig, NodeSpec, etype_str
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.paths import etype_dir, safe_name
from graphkit.storage.tables import RowSource, Table, read_table, resolve_files

if TYPE_CHECKING:
    from graphkit.construct.reuse import SavedTransforms

log = logging.getLogger(__name__)

TRANSFORMED_FILE = "transformed.json"
TRANSFORMED_FORMAT = "graphkit-transformed"
TRANSFORMED_VERSION = 1


@dataclass
class TypeData:
    """Transformed rows of one node or edge type (rows in file order)."""

    key: str  # "user" or "user,rates,item"
    num_rows: int
    source: RowSource
    features: dict[str, FeatureValue] = field(default_factory=dict)
    labels: list[LabelResult] = field(default_factory=list)


@dataclass
class NodeData(TypeData):
    ids: Optional[pa.Array] = None  # raw node IDs; None when no block names node_id_col
    id_column: Optional[str] = None  # the node_id_col they come from, for error messages


@dataclass
class EdgeData(TypeData):
    src_ids: Optional[pa.Array] = None
    dst_ids: Optional[pa.Array] = None
    id_columns: tuple[str, str] = ("", "")


@dataclass
class TransformedGraph:
    nodes: dict[str, NodeData]
    edges: dict[EdgeType, EdgeData]
    records: dict  # {"nodes": {ntype: [feature record]}, "edges": {"s,r,d": [...]}}: fitted transform state
    config: dict  # the construction config as given
    config_path: Optional[str]
    seed: int
    # --reuse-transforms: fixed ID maps of node types without a node table, and the graph they come from
    id_maps: dict[str, pa.Array] = field(default_factory=dict)
    reused_from: Optional[str] = None


def _block_columns(spec: NodeSpec | EdgeSpec, id_cols: Sequence[Optional[str]], labels: bool = True) -> list[str]:
    cols = [c for c in id_cols if c]
    for f in spec.features:
        cols.extend(f.columns)
    for lab in spec.labels if labels else ():
        if lab.column:
            cols.append(lab.column)
    return cols


def _read_block(spec: NodeSpec | EdgeSpec, id_cols: Sequence[Optional[str]], input_dir: Optional[str],
                config_path: Optional[str], labels: bool = True) -> Table:
    files = resolve_files(spec.files, input_dir, spec.format, f"{spec.key}.files", config_path)
    log.info("reading %s: %d %s file(s)", spec.key, len(files), spec.format.name)
    return read_table(files, spec.format, _block_columns(spec, id_cols, labels), spec.key)


def _add_features_and_labels(data: TypeData, table: Table, spec: NodeSpec | EdgeSpec, keys: Sequence[pa.Array],
                             seed: int, input_dir: Optional[str], config_path: Optional[str],
                             records: list, reuse: Optional["SavedTransforms"] = None) -> None:
    kind = "node" if isinstance(data, NodeData) else "edge"
    for feat in spec.features:
        rec = reuse.feature_record(data.key, feat, kind) if reuse is not None else None
        res = process_feature(table, feat, config_path, record=rec)
        for name, value in res.outputs.items():
            if name in data.features:
                raise ConfigError(f"feature '{name}' of {data.key} is produced twice.", file=config_path, key=feat.key)
            data.features[name] = value
        records.append(res.record)
        log.info("  feature %s <- %s (%s)", feat.name, ",".join(feat.columns), feat.transform.name)
    for lab in spec.labels:
        if lab.custom_split is not None and not keys:
            raise ConfigError("a custom split needs the ID column(s) in the same block.", file=config_path,
                              key=f"{lab.key}.custom_split_filenames")
        if any(lab.name == other.name for other in data.labels):
            raise ConfigError(f"label '{lab.name}' of {data.key} is defined twice.", file=config_path, key=lab.key)
        if reuse is not None:  # new tables for inference: the training graph's label metadata, no labelled rows
            data.labels.append(reuse.label(data.key, lab, data.num_rows))
            continue
        res = process_label(table, lab, keys, seed, data.key, input_dir, config_path)
        data.labels.append(res)
        log.info("  label %s (%s): train/val/test = %s", res.name, res.task_type,
                 "/".join(str(res.split_counts[s]) for s in ("train", "val", "test")))


def _check_aligned(data: TypeData, table: Table, spec: NodeSpec | EdgeSpec, config_path: Optional[str]) -> None:
    if table.num_rows != data.num_rows:
        raise InputDataError(
            f"this block has {table.num_rows} rows but {data.key} has {data.num_rows}; blocks without ID "
            "columns add features row by row and must have exactly as many rows.",
            file=", ".join(table.source.files), key=spec.key,
        )


def _transform_nodes(cfg: GraphConfig, ntype: str, input_dir: Optional[str], seed: int,
                     records: list, reuse: Optional["SavedTransforms"] = None) -> Optional[NodeData]:
    blocks = sorted((n for n in cfg.nodes if n.node_type == ntype), key=lambda n: n.id_column is None)
    if not blocks:
        return None
    data: Optional[NodeData] = None
    for spec in blocks:
        table = _read_block(spec, [spec.id_column], input_dir, cfg.path, labels=reuse is None)
        if data is None:
            ids = table.data.column(spec.id_column).combine_chunks() if spec.id_column else None
            data = NodeData(key=ntype, num_rows=table.num_rows, source=table.source, ids=ids,
                            id_column=spec.id_column)
        else:
            _check_aligned(data, table, spec, cfg.path)
        keys = [data.ids] if spec.id_column and data.ids is not None else []
        _add_features_and_labels(data, table, spec, keys, seed, input_dir, cfg.path, records, reuse)
    return data


def _transform_edges(cfg: GraphConfig, etype: EdgeType, input_dir: Optional[str], seed: int,
                     records: list, reuse: Optional["SavedTransforms"] = None) -> EdgeData:
    blocks = [e for e in cfg.edges if e.relation == etype]
    id_blocks = [e for e in blocks if e.src_column is not None]
    if len(id_blocks) > 1:
        raise ConfigError(
            f"edge type {etype_str(etype)} has endpoint columns in several blocks "
            f"({id_blocks[0].key}, {id_blocks[1].key}).",
            file=cfg.path, key=id_blocks[1].key,
            hint="List all files of the edge type in one block's 'files'; other blocks may add features row-aligned.",
        )
    data: Optional[EdgeData] = None
    for spec in id_blocks + [e for e in blocks if e.src_column is None]:
        table = _read_block(spec, [spec.src_column, spec.dst_column], input_dir, cfg.path, labels=reuse is None)
        if data is None:
            assert spec.src_column and spec.dst_column
            data = EdgeData(key=etype_str(etype), num_rows=table.num_rows, source=table.source,
                            src_ids=table.data.column(spec.src_column).combine_chunks(),
                            dst_ids=table.data.column(spec.dst_column).combine_chunks(),
                            id_columns=(spec.src_column, spec.dst_column))
        else:
            _check_aligned(data, table, spec, cfg.path)
        keys = [data.src_ids, data.dst_ids] if spec.src_column else []
        _add_features_and_labels(data, table, spec, keys, seed, input_dir, cfg.path, records,  # type: ignore[arg-type]
                                 reuse)
    assert data is not None
    return data


def transform_graph(cfg: GraphConfig, input_dir: Optional[str], seed: int = 0,
                    reuse: Optional["SavedTransforms"] = None) -> TransformedGraph:
    """Read, transform and label every node and edge type of ``cfg``.

    With ``reuse`` (:func:`graphkit.construct.reuse.load_saved_transforms`), features are
    not fitted but computed with a trained graph's fitted transforms, labels carry that
    graph's metadata only, and node types without a node table keep its ID maps.
    """
    records: dict = {"nodes": {}, "edges": {}}
    nodes: dict[str, NodeData] = {}
    edges: dict[EdgeType, EdgeData] = {}
    steps = [("node", t) for t in cfg.node_types] + [("edge", e) for e in cfg.edge_types]
    for kind, t in steps:
        if kind == "node":
            recs: list = []
            nd = _transform_nodes(cfg, t, input_dir, seed, recs, reuse)  # type: ignore[arg-type]
            if nd is not None:
                nodes[t] = nd  # type: ignore[index]
                records["nodes"][t] = recs
        else:
            recs = []
            edges[t] = _transform_edges(cfg, t, input_dir, seed, recs, reuse)  # type: ignore[index]
            records["edges"][etype_str(t)] = recs  # type: ignore[arg-type]
    id_maps = {}
    if reuse is not None:
        table_types = set(nodes)
        id_maps = {t: ids for t, ids in reuse.id_maps.items() if t not in table_types}
    return TransformedGraph(nodes=nodes, edges=edges, records=records, config=cfg.raw,
                            config_path=os.path.abspath(cfg.path) if cfg.path else None, seed=seed,
                            id_maps=id_maps, reused_from=reuse.graph_dir if reuse is not None else None)


# --- on-disk form, for running transform and idmap as separate steps ----------

def _save_type(root: str, sub: str, data: TypeData) -> dict:
    os.makedirs(os.path.join(root, sub), exist_ok=True)
    feats = {}
    for name, v in data.features.items():
        if isinstance(v, np.ndarray):
            rel = f"{sub}/feat.{safe_name(name)}.npy"
            np.save(os.path.join(root, rel), v)
            feats[name] = {"kind": "array", "path": rel}
        else:
            rel = f"{sub}/feat.{safe_name(name)}.parquet"
            pq.write_table(pa.table({"ids": v}), os.path.join(root, rel))
            feats[name] = {"kind": "id_lists", "path": rel}
    labels = []
    for lab in data.labels:
        entry = {k: getattr(lab, k) for k in ("name", "task_type", "mask_names", "num_classes", "classes",
                                                "split_counts", "stats")}
        if lab.values is not None:
            entry["values"] = f"{sub}/label.{safe_name(lab.name)}.npy"
            np.save(os.path.join(root, entry["values"]), lab.values)
        entry["masks"] = {}
        for m, arr in lab.masks.items():
            rel = f"{sub}/mask.{safe_name(m)}.npy"
            np.save(os.path.join(root, rel), arr)
            entry["masks"][m] = rel
        labels.append(entry)
    return {"key": data.key, "num_rows": data.num_rows,
            "source": {"files": list(data.source.files), "starts": list(data.source.starts)},
            "features": feats, "labels": labels}


def write_transformed(tg: TransformedGraph, out_dir: str) -> None:
    """Write ``tg`` to ``out_dir`` atomically."""
    with atomic_output_dir(out_dir, markers=(TRANSFORMED_FILE,)) as tmp:
        nodes = {}
        for ntype, nd in tg.nodes.items():
            sub = f"nodes/{safe_name(ntype)}"
            entry = _save_type(tmp, sub, nd)
            if nd.ids is not None:
                entry["ids"] = f"{sub}/ids.parquet"
                entry["id_column"] = nd.id_column
                pq.write_table(pa.table({"id": nd.ids}), os.path.join(tmp, entry["ids"]))
            nodes[ntype] = entry
        edges = []
        for etype, ed in tg.edges.items():
            sub = f"edges/{etype_dir(etype)}"
            entry = _save_type(tmp, sub, ed)
            entry["etype"] = list(etype)
            entry["id_columns"] = list(ed.id_columns)
            entry["endpoints"] = f"{sub}/endpoints.parquet"
            pq.write_table(pa.table({"src": ed.src_ids, "dst": ed.dst_ids}), os.path.join(tmp, entry["endpoints"]))
            edges.append(entry)
        id_maps = {}
        for ntype, ids in tg.id_maps.items():
            id_maps[ntype] = f"id_maps/{safe_name(ntype)}.parquet"
            os.makedirs(os.path.join(tmp, "id_maps"), exist_ok=True)
            pq.write_table(pa.table({"id": ids}), os.path.join(tmp, id_maps[ntype]))
        manifest = {"format": TRANSFORMED_FORMAT, "version": TRANSFORMED_VERSION, "graphkit_version": __version__,
                    "seed": tg.seed, "config_path": tg.config_path, "config": tg.config, "records": tg.records,
                    "nodes": nodes, "edges": edges, "id_maps": id_maps, "reused_from": tg.reused_from}
        with open(os.path.join(tmp, TRANSFORMED_FILE), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)


def _load_type(root: str, entry: dict, cls: type, **extra) -> TypeData:
    feats: dict[str, FeatureValue] = {}
    for name, fe in entry["features"].items():
        path = os.path.join(root, fe["path"])
        feats[name] = np.load(path) if fe["kind"] == "array" else pq.read_table(path).column("ids").combine_chunks()
    labels = []
    for le in entry["labels"]:
        values = np.load(os.path.join(root, le["values"])) if "values" in le else None
        masks = {m: np.load(os.path.join(root, p)) for m, p in le["masks"].items()}
        labels.append(LabelResult(name=le["name"], task_type=le["task_type"], values=values, masks=masks,
                                  mask_names=le["mask_names"], num_classes=le["num_classes"],
                                  classes=le["classes"], split_counts=le["split_counts"], stats=le["stats"]))
    src = RowSource(tuple(entry["source"]["files"]), tuple(entry["source"]["starts"]), entry["num_rows"])
    return cls(key=entry["key"], num_rows=entry["num_rows"], source=src, features=feats, labels=labels, **extra)


def read_transformed(in_dir: str) -> TransformedGraph:
    path = os.path.join(in_dir, TRANSFORMED_FILE)
    if not os.path.exists(path):
        raise GraphkitError(f"no {TRANSFORMED_FILE} here: not the output of `graphkit transform`.", file=in_dir)
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GraphkitError(f"cannot read the transformed-data manifest: {e}.", file=path,
                            hint="Re-run `graphkit transform` to write it again.") from None
    if not isinstance(m, dict):
        m = {}
    if m.get("format") != TRANSFORMED_FORMAT or m.get("version") != TRANSFORMED_VERSION:
        raise GraphkitError(f"unsupported transformed-data format {m.get('format')!r} v{m.get('version')}.", file=path)
    nodes = {}
    for ntype, e in m["nodes"].items():
        ids = pq.read_table(os.path.join(in_dir, e["ids"])).column("id").combine_chunks() if "ids" in e else None
        nodes[ntype] = _load_type(in_dir, e, NodeData, ids=ids, id_column=e.get("id_column"))
    edges = {}
    for e in m["edges"]:
        ends = pq.read_table(os.path.join(in_dir, e["endpoints"]))
        edges[tuple(e["etype"])] = _load_type(in_dir, e, EdgeData, src_ids=ends.column("src").combine_chunks(),
                                               dst_ids=ends.column("dst").combine_chunks(),
                                               id_columns=tuple(e["id_columns"]))
    id_maps = {t: pq.read_table(os.path.join(in_dir, rel)).column("id").combine_chunks()
               for t, rel in m.get("id_maps", {}).items()}
    return TransformedGraph(nodes=nodes, edges=edges, records=m["records"],  # type: ignore[arg-type]
                            config=m["config"],
                            config_path=m["config_path"], seed=m["seed"], id_maps=id_maps,
                            reused_from=m.get("reused_from"))
