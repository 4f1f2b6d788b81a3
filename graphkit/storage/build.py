"""Write graph directories from in-memory arrays.

``write_structure`` is what every writer of the format uses for an edge type
(construction, partitioning); ``graph_from_arrays`` builds a whole graph from
integer edge lists — handy for tests, benchmarks and programmatic users.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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
from graphkit.storage.csr import compress
from graphkit.storage.paths import etype_dir, safe_name


class ArrayWriter:
    """Saves ``.npy`` arrays under a graph directory and describes them for ``graph.json``."""

    def __init__(self, root: str) -> None:
        self.root = root

    def save(self, rel: str, arr: np.ndarray) -> ArrayMeta:
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, np.ascontiguousarray(arr))
        return ArrayMeta(path=rel, dtype=str(arr.dtype), shape=list(arr.shape))

    def save_id_map(self, ntype: str, ids: pa.Array) -> str:
        rel = f"id_maps/{safe_name(ntype)}.parquet"
        os.makedirs(os.path.join(self.root, "id_maps"), exist_ok=True)
        pq.write_table(pa.table({"id": ids, "nid": pa.array(np.arange(len(ids), dtype=np.int64))}),
                       os.path.join(self.root, rel))
        return rel


def write_structure(w: ArrayWriter, etype: EdgeType, src: np.ndarray, dst: np.ndarray, num_src: int,
                    num_dst: int) -> dict[str, ArrayMeta]:
    """COO + CSR + CSC arrays of one edge type (edge IDs = positions in ``src``/``dst``)."""
    sub = f"edges/{etype_dir(etype)}"
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    csr = compress(src, dst, num_src)
    csc = compress(dst, src, num_dst)
    return {
        "src": w.save(f"{sub}/src.npy", src), "dst": w.save(f"{sub}/dst.npy", dst),
        "csr_indptr": w.save(f"{sub}/csr_indptr.npy", csr.indptr),
        "csr_indices": w.save(f"{sub}/csr_indices.npy", csr.indices),
        "csr_eids": w.save(f"{sub}/csr_eids.npy", csr.eids),
        "csc_indptr": w.save(f"{sub}/csc_indptr.npy", csc.indptr),
        "csc_indices": w.save(f"{sub}/csc_indices.npy", csc.indices),
        "csc_eids": w.save(f"{sub}/csc_eids.npy", csc.eids),
    }


def reverse_meta(em: EdgeTypeMeta) -> EdgeTypeMeta:
    """The ``<rel>-rev`` edge type of ``em``: same arrays swapped, same features and masks, no labels."""
    return EdgeTypeMeta(src_type=em.dst_type, relation=f"{em.relation}-rev", dst_type=em.src_type,
                        num_edges=em.num_edges, structure={k: em.structure[REVERSED_KEY[k]] for k in em.structure},
                        reverse_of=list(em.etype), features=dict(em.features), masks=dict(em.masks))


def graph_from_arrays(out_dir: str, num_nodes: Mapping[str, int],
                      edges: Mapping[EdgeType, tuple[np.ndarray, np.ndarray]],
                      node_features: Optional[Mapping[str, Mapping[str, np.ndarray]]] = None,
                      node_labels: Optional[Mapping[str, Mapping[str, np.ndarray]]] = None,
                      node_masks: Optional[Mapping[str, Mapping[str, np.ndarray]]] = None,
                      edge_masks: Optional[Mapping[EdgeType, Mapping[str, np.ndarray]]] = None,
                      add_reverse_edges: bool = False, graph_name: str = "graph") -> GraphMeta:
    """Write a graph directory from integer node counts and edge lists.

    Raw IDs are the integers themselves. Classification labels (integer
    arrays) record ``num_classes``; ``node_masks`` should use GraphStorm's
    names (``train_mask``/``val_mask``/``test_mask``) to be found by tasks.
    """
    with atomic_output_dir(out_dir, markers=(META_FILE,)) as tmp:
        w = ArrayWriter(tmp)
        ntypes: dict[str, NodeTypeMeta] = {}
        for t, n in num_nodes.items():
            meta = NodeTypeMeta(name=t, num_nodes=int(n), id_map=w.save_id_map(t, pa.array(np.arange(n))),
                                id_dtype="int64")
            sub = f"nodes/{safe_name(t)}"
            for name, arr in (node_features or {}).get(t, {}).items():
                meta.features[name] = w.save(f"{sub}/features/{safe_name(name)}.npy", arr)
            masks = (node_masks or {}).get(t, {})
            for name, arr in masks.items():
                meta.masks[name] = w.save(f"{sub}/masks/{safe_name(name)}.npy", np.asarray(arr, dtype=np.int8))
            for name, arr in (node_labels or {}).get(t, {}).items():
                is_cls = np.issubdtype(arr.dtype, np.integer)
                mask_names = ["train_mask", "val_mask", "test_mask"]
                meta.labels[name] = LabelMeta(
                    name=name, task_type="classification" if is_cls else "regression",
                    array=w.save(f"{sub}/labels/{safe_name(name)}.npy", arr), mask_names=mask_names,
                    num_classes=int(arr.max()) + 1 if is_cls else None,
                    split_counts={s: int(np.asarray(masks[m]).sum()) for s, m in zip(("train", "val", "test"), mask_names)
                                  if m in masks})
            ntypes[t] = meta
        etypes: list[EdgeTypeMeta] = []
        for et, (src, dst) in edges.items():
            em = EdgeTypeMeta(src_type=et[0], relation=et[1], dst_type=et[2], num_edges=int(len(src)),
                              structure=write_structure(w, et, src, dst, num_nodes[et[0]], num_nodes[et[2]]))
            for name, arr in (edge_masks or {}).get(et, {}).items():
                em.masks[name] = w.save(f"edges/{etype_dir(et)}/masks/{safe_name(name)}.npy",
                                        np.asarray(arr, dtype=np.int8))
            etypes.append(em)
            if add_reverse_edges:
                etypes.append(reverse_meta(em))
        with open(os.path.join(tmp, TRANSFORMS_FILE), "w", encoding="utf-8") as f:
            f.write('{"config": null, "features": {"nodes": {}, "edges": {}}}')
        meta = GraphMeta(graph_name=graph_name, node_types=ntypes, edge_types=etypes,
                         construction={"graphkit_version": __version__, "source": "graph_from_arrays"})
        write_graph_meta(tmp, meta)
    return meta
