"""Stage 2 of construction, ``graphkit idmap``: raw IDs -> contiguous integers, structure, graph directory.

Vectorised throughout: Arrow's hash kernels (``index_in``) map raw IDs, and a
numba counting sort builds CSR/CSC in O(E). Node ``i`` of a type is row ``i``
of that type's node table (or, for types that appear only in edges, the
``i``-th distinct ID in order of first appearance).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphkit import __version__
from graphkit.construct.labels import LabelResult
from graphkit.construct.transform_stage import EdgeData, NodeData, TransformedGraph, TypeData
from graphkit.errors import ConfigError, InputDataError
from graphkit.schema.gconstruct import etype_str
from graphkit.schema.graph_meta import (
    META_FILE,
    TRANSFORMS_FILE,
    EdgeTypeMeta,
    GraphMeta,
    LabelMeta,
    NodeTypeMeta,
    write_graph_meta,
)
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.build import id_map_path, reverse_meta, write_edge_structure
from graphkit.storage.graph_writer import ArrayWriter, write_id_map
from graphkit.storage.paths import etype_dir, safe_name

log = logging.getLogger(__name__)


# --- ID maps ------------------------------------------------------------------

def _node_ids(ntype: str, nd: Optional[NodeData], tg: TransformedGraph) -> pa.Array:
    """Raw IDs of every node of ``ntype``, checked for nulls and duplicates."""
    if nd is not None and nd.ids is not None:
        ids = nd.ids
        if ids.null_count:
            row = int(np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0])
            file, local = nd.source.locate(row)
            raise InputDataError(f"node ID of type '{ntype}' is missing (null).", file=file, row=local,
                                 column=nd.id_column)
        first = pc.index_in(ids, value_set=ids).to_numpy(zero_copy_only=False)
        dup = np.flatnonzero(first != np.arange(len(ids)))
        if dup.size:
            r = int(dup[0])
            file, local = nd.source.locate(r)
            f0, l0 = nd.source.locate(int(first[r]))
            raise InputDataError(
                f"duplicate node ID {ids[r].as_py()!r} of type '{ntype}' ({dup.size} duplicate row(s) in all); "
                f"it first appears in {f0} row {l0}.", file=file, row=local, column=nd.id_column,
                hint="Node IDs must be unique within a node type.",
            )
        return ids
    if nd is not None:
        return pa.array(np.arange(nd.num_rows, dtype=np.int64))  # rows are the nodes
    if ntype in tg.id_maps:  # --reuse-transforms: the trained graph's IDs of an edge-only node type
        return tg.id_maps[ntype]
    # Node type only seen in edges: its nodes are the distinct endpoint IDs.
    parts = []
    for etype, ed in tg.edges.items():
        if etype[0] == ntype:
            parts.append(ed.src_ids)
        if etype[2] == ntype:
            parts.append(ed.dst_ids)
    typ = parts[0].type
    parts = [p if p.type == typ else _cast_ids(p, typ, ntype, None, "") for p in parts]
    ids = pc.unique(pa.chunked_array(parts))  # an Array, in first-appearance order
    return pc.drop_null(ids)


def _cast_ids(ids: pa.Array, typ: pa.DataType, ntype: str, ed: Optional[EdgeData], column: str) -> pa.Array:
    try:
        return ids.cast(typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputDataError(
            f"endpoint IDs of type {ids.type} cannot be matched with node IDs of '{ntype}', which are {typ}.",
            file=", ".join(ed.source.files) if ed else None, column=column or None,
            hint="Use the same ID type (e.g. text everywhere) in node and edge files.",
        ) from None


def _map_endpoints(ids: pa.Array, node_ids: pa.Array, ntype: str, ed: EdgeData, column: str) -> np.ndarray:
    """Integer node IDs of raw endpoint IDs; -1 where the endpoint is not a node."""
    if ids.type != node_ids.type:
        ids = _cast_ids(ids, node_ids.type, ntype, ed, column)
    idx = pc.index_in(ids, value_set=node_ids)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


# --- writing ------------------------------------------------------------------

def _write_type_data(w: ArrayWriter, sub: str, data: TypeData, keep: Optional[np.ndarray],
                     dst_ids: Optional[pa.Array]) -> tuple[dict, dict, dict]:
    """Features, labels and masks of a type (rows filtered by ``keep``)."""
    feats, labels, masks = {}, {}, {}
    for name, v in data.features.items():
        if isinstance(v, np.ndarray):
            arr = v if keep is None else v[keep]
        else:
            assert dst_ids is not None, "ID lists are only produced for edge types"
            arr = _map_id_lists(v, dst_ids)
            arr = arr if keep is None else arr[keep]
        feats[name] = w.save(f"{sub}/features/{safe_name(name)}.npy", arr)
    for lab in data.labels:
        labels[lab.name] = _write_label(w, sub, lab, keep, masks)
    return feats, labels, masks


def _write_label(w: ArrayWriter, sub: str, lab: LabelResult, keep: Optional[np.ndarray], masks: dict) -> LabelMeta:
    arr = None
    if lab.values is not None:
        arr = w.save(f"{sub}/labels/{safe_name(lab.name)}.npy", lab.values if keep is None else lab.values[keep])
    counts = {}
    for split, m in zip(("train", "val", "test"), lab.mask_names):
        v = lab.masks[m] if keep is None else lab.masks[m][keep]
        masks[m] = w.save(f"{sub}/masks/{safe_name(m)}.npy", v.astype(np.int8))
        counts[split] = int(v.sum())
    return LabelMeta(name=lab.name, task_type=lab.task_type, array=arr, mask_names=lab.mask_names,
                     num_classes=lab.num_classes, classes=lab.classes, split_counts=counts, stats=lab.stats)


def _map_id_lists(lists: pa.Array, dst_ids: pa.Array) -> np.ndarray:
    """Raw ID lists -> int64 ``(rows, max_len)``, unknown IDs dropped, padded with -1."""
    n = len(lists)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    width = int(lengths.max()) if n else 0
    flat = lists.flatten()
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    if flat.type != dst_ids.type:
        try:
            flat = pc.cast(flat, dst_ids.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InputDataError(f"hard-negative IDs of type {flat.type} cannot be matched with destination "
                                 f"node IDs of type {dst_ids.type}.") from None
    idx = pc.index_in(flat, value_set=dst_ids)
    ok = idx.is_valid().to_numpy(zero_copy_only=False)
    vals = pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)[ok]
    rows = parents[ok]
    out = np.full((n, width), -1, dtype=np.int64)
    if rows.size:
        starts = np.searchsorted(rows, np.arange(n))
        pos = np.arange(rows.size) - starts[rows]
        out[rows, pos] = vals
    return out


# --- the stage ----------------------------------------------------------------

def build_graph(tg: TransformedGraph, out_dir: str, graph_name: str, add_reverse_edges: bool = False,
                skip_nonexist_edges: bool = False, extra_args: Optional[dict] = None) -> GraphMeta:
    """Map IDs, build CSR/CSC, and write the graph directory atomically."""
    t0 = time.perf_counter()
    node_types = list(dict.fromkeys(list(tg.nodes) + [t for e in tg.edges for t in (e[0], e[2])]))
    for etype in tg.edges:
        rev = (etype[2], f"{etype[1]}-rev", etype[0])
        if add_reverse_edges and rev in tg.edges:
            raise ConfigError(f"--add-reverse-edges would create {etype_str(rev)}, which the config already defines.",
                              file=tg.config_path, hint="Drop the flag, or rename that edge type.")
    with atomic_output_dir(out_dir, markers=(META_FILE,)) as tmp:
        w = ArrayWriter(tmp)
        id_maps: dict[str, pa.Array] = {}
        ntype_meta: dict[str, NodeTypeMeta] = {}
        for ntype in node_types:
            nd = tg.nodes.get(ntype)
            ids = _node_ids(ntype, nd, tg)
            id_maps[ntype] = ids
            write_id_map(tmp, id_map_path(ntype), ids)
            meta = NodeTypeMeta(name=ntype, num_nodes=len(ids), id_map=id_map_path(ntype), id_dtype=str(ids.type))
            if nd is not None:
                meta.features, meta.labels, meta.masks = _write_type_data(w, f"nodes/{safe_name(ntype)}", nd,
                                                                          None, None)
            ntype_meta[ntype] = meta
            log.info("node type %s: %d nodes", ntype, len(ids))

        etype_meta: list[EdgeTypeMeta] = []
        skipped: dict[str, int] = {}
        for etype, ed in tg.edges.items():
            s_type, _, d_type = etype
            assert ed.src_ids is not None and ed.dst_ids is not None
            src = _map_endpoints(ed.src_ids, id_maps[s_type], s_type, ed, ed.id_columns[0])
            dst = _map_endpoints(ed.dst_ids, id_maps[d_type], d_type, ed, ed.id_columns[1])
            bad = (src < 0) | (dst < 0)
            keep = None
            if bad.any():
                n_bad = int(bad.sum())
                if not skip_nonexist_edges:
                    r = int(np.flatnonzero(bad)[0])
                    file, local = ed.source.locate(r)
                    col, ntype, raw = ((ed.id_columns[0], s_type, ed.src_ids[r]) if src[r] < 0
                                       else (ed.id_columns[1], d_type, ed.dst_ids[r]))
                    raise InputDataError(
                        f"edge endpoint {raw.as_py()!r} is not a node of type '{ntype}' "
                        f"({n_bad} edge(s) of {etype_str(etype)} have such endpoints).",
                        file=file, row=local, column=col,
                        hint="Fix the IDs, add the nodes, or pass --skip-nonexist-edges to drop these edges.",
                    )
                keep = ~bad
                src, dst = src[keep], dst[keep]
                skipped[etype_str(etype)] = n_bad
                log.warning("%s: dropped %d edge(s) whose endpoints are not nodes (--skip-nonexist-edges)",
                            etype_str(etype), n_bad)
            sub = f"edges/{etype_dir(etype)}"
            structure = write_edge_structure(w, etype, src, dst, ntype_meta[s_type].num_nodes,
                                        ntype_meta[d_type].num_nodes)
            em = EdgeTypeMeta(src_type=s_type, relation=etype[1], dst_type=d_type, num_edges=int(len(src)),
                              structure=structure)
            em.features, em.labels, em.masks = _write_type_data(w, sub, ed, keep, id_maps[d_type])
            etype_meta.append(em)
            log.info("edge type %s: %d edges", etype_str(etype), len(src))
            if add_reverse_edges:
                etype_meta.append(reverse_meta(em))

        with open(os.path.join(tmp, TRANSFORMS_FILE), "w", encoding="utf-8") as f:
            json.dump({"config": tg.config, "features": tg.records}, f, indent=1)
        meta = GraphMeta(
            graph_name=graph_name, node_types=ntype_meta, edge_types=etype_meta,
            construction={
                "graphkit_version": __version__, "config_path": tg.config_path, "config": tg.config,
                "seed": tg.seed, "add_reverse_edges": add_reverse_edges, "reused_transforms_from": tg.reused_from,
                "skip_nonexist_edges": skip_nonexist_edges, "skipped_edges": skipped,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra_args or {}),
            },
        )
        write_graph_meta(tmp, meta)
    log.info("graph written to %s in %.1fs", out_dir, time.perf_counter() - t0)
    return meta
