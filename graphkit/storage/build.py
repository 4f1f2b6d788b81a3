"""Write graph directories from in-memory arrays.

The low-level writers live in :mod:`graphkit.storage.graph_writer`; this module
lays out a whole graph: ``write_edge_structure`` (an edge type's arrays, used by
construction), ``reverse_meta`` (``--add-reverse-edges``) and
``graph_from_arrays`` (a graph from integer edge lists — for tests,
benchmarks and programmatic users).
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

import numpy as np
import pyarrow as pa

from graphkit import __version__
from graphkit.schema.graph_meta import (
    META_FILE,
    REVERSED_KEY,
    TRANSFORMS_FILE,
    ArrayMeta,
    EdgeType,
    EdgeTypeMeta,
    GraphMeta,
    LabelMeta,
    NodeTypeMeta,
    write_graph_meta,
)
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.graph_writer import ArrayWriter, structure_paths, write_id_map, write_structure
from graphkit.storage.paths import etype_dir, safe_name


def id_map_path(ntype: str) -> str:
    return f"id_maps/{safe_name(ntype)}.parquet"


def write_edge_structure(w: ArrayWriter, etype: EdgeType, src: np.ndarray, dst: np.ndarray, num_src: int,
                         num_dst: int) -> dict[str, ArrayMeta]:
    """COO + CSR + CSC arrays of one edge type under ``edges/<etype>/`` (edge IDs = positions in ``src``)."""
    return write_structure(w, structure_paths(f"edges/{etype_dir(etype)}"), src, dst, num_src, num_dst)


def reverse_meta(em: EdgeTypeMeta) -> EdgeTypeMeta:
    """The ``<rel>-rev`` edge type of ``em``: same arrays swapped, same features and masks, no labels."""
    return EdgeTypeMeta(src_type=em.dst_type, relation=f"{em.relation}-rev", dst_type=em.src_type,
                        num_edges=em.num_edges, structure={k: em.structure[REVERSED_KEY[k]] for k in em.structure},
                        reverse_of=list(em.etype), features=dict(em.features), masks=dict(em.masks))


def _label_meta(w: ArrayWriter, sub: str, name: str, arr: np.ndarray, masks: Mapping[str, np.ndarray]) -> LabelMeta:
    """Integer labels are classification (``num_classes`` = max + 1), others regression; GraphStorm's mask names."""
    is_cls = np.issubdtype(arr.dtype, np.integer)
    mask_names = ["train_mask", "val_mask", "test_mask"]
    return LabelMeta(name=name, task_type="classification" if is_cls else "regression",
                     array=w.save(f"{sub}/labels/{safe_name(name)}.npy", arr), mask_names=mask_names,
                     num_classes=int(arr.max()) + 1 if is_cls else None,
                     split_counts={s: int(np.asarray(masks[m]).sum())
                                   for s, m in zip(("train", "val", "test"), mask_names) if m in masks})


def graph_from_arrays(out_dir: str, num_nodes: Mapping[str, int],
                      edges: Mapping[EdgeType, tuple[np.ndarray, np.ndarray]],
                      node_features: Optional[Mapping[str, Mapping[str, np.ndarray]]] = None,
                      node_labels: Optional[Mapping[str, Mapping[str, np.ndarray]]] = None,
                      node_masks: Optional[Mapping[str, Mapping[str, np.ndarray]]] = None,
                      edge_masks: Optional[Mapping[EdgeType, Mapping[str, np.ndarray]]] = None,
                      edge_features: Optional[Mapping[EdgeType, Mapping[str, np.ndarray]]] = None,
                      edge_labels: Optional[Mapping[EdgeType, Mapping[str, np.ndarray]]] = None,
                      add_reverse_edges: bool = False, graph_name: str = "graph") -> GraphMeta:
    """Write a graph directory from integer node counts and edge lists.

    Raw IDs are the integers themselves. Classification labels (integer
    arrays) record ``num_classes``; node and edge masks should use GraphStorm's
    names (``train_mask``/``val_mask``/``test_mask``) to be found by tasks.
    Edge features, labels and masks are indexed by edge ID (position in the
    edge list); reverse edge types share the features and masks, not labels.
    """
    with atomic_output_dir(out_dir, markers=(META_FILE,)) as tmp:
        w = ArrayWriter(tmp)
        ntypes: dict[str, NodeTypeMeta] = {}
        for t, n in num_nodes.items():
            write_id_map(tmp, id_map_path(t), pa.array(np.arange(n)))
            meta = NodeTypeMeta(name=t, num_nodes=int(n), id_map=id_map_path(t), id_dtype="int64")
            sub = f"nodes/{safe_name(t)}"
            for name, arr in (node_features or {}).get(t, {}).items():
                meta.features[name] = w.save(f"{sub}/features/{safe_name(name)}.npy", arr)
            masks = (node_masks or {}).get(t, {})
            for name, arr in masks.items():
                meta.masks[name] = w.save(f"{sub}/masks/{safe_name(name)}.npy", np.asarray(arr, dtype=np.int8))
            for name, arr in (node_labels or {}).get(t, {}).items():
                meta.labels[name] = _label_meta(w, sub, name, arr, masks)
            ntypes[t] = meta
        etypes: list[EdgeTypeMeta] = []
        for et, (src, dst) in edges.items():
            em = EdgeTypeMeta(src_type=et[0], relation=et[1], dst_type=et[2], num_edges=int(len(src)),
                              structure=write_edge_structure(w, et, src, dst, num_nodes[et[0]], num_nodes[et[2]]))
            sub = f"edges/{etype_dir(et)}"
            for name, arr in (edge_features or {}).get(et, {}).items():
                em.features[name] = w.save(f"{sub}/features/{safe_name(name)}.npy", arr)
            masks = (edge_masks or {}).get(et, {})
            for name, arr in masks.items():
                em.masks[name] = w.save(f"{sub}/masks/{safe_name(name)}.npy", np.asarray(arr, dtype=np.int8))
            for name, arr in (edge_labels or {}).get(et, {}).items():
                em.labels[name] = _label_meta(w, sub, name, arr, masks)
            etypes.append(em)
            if add_reverse_edges:
                etypes.append(reverse_meta(em))
        with open(os.path.join(tmp, TRANSFORMS_FILE), "w", encoding="utf-8") as f:
            f.write('{"config": null, "features": {"nodes": {}, "edges": {}}}')
        meta = GraphMeta(graph_name=graph_name, node_types=ntypes, edge_types=etypes,
                         construction={"graphkit_version": __version__, "source": "graph_from_arrays"})
        write_graph_meta(tmp, meta)
    return meta
