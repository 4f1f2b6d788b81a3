"""Write each partition as a graph directory that :class:`Graph` opens like any graph.

A partition's ``graph.json`` is the source graph's with every array re-written at
the same relative path, cut to the partition's local nodes (features, labels and
masks of halo nodes included) or local edges, the sizes and split counts updated,
and a :class:`PartitionInfo` added. Structure is rebuilt over local IDs, and
reverse edge types keep pointing at their forward type's arrays, swapped. With
one partition every array is the source's, unchanged.
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import time

import numpy as np
import pyarrow as pa

from graphkit.partition.layout import PartitionPlan
from graphkit.partition.meta import PartMeta
from graphkit.schema.graph_meta import (
    TRANSFORMS_FILE,
    ArrayMeta,
    LabelMeta,
    PartitionInfo,
    write_graph_meta,
)
from graphkit.storage.graph import Graph
from graphkit.storage.graph_writer import ArrayWriter, write_id_map, write_structure
from graphkit.storage.paths import etype_dir, safe_name

log = logging.getLogger(__name__)

_SPLITS = ("train", "val", "test")


class _PartArrays:
    """Cuts source arrays to a partition's rows, written at their source path; a shared file is written once."""

    def __init__(self, graph: Graph, root: str) -> None:
        self.graph = graph
        self.writer = ArrayWriter(root)
        self.written: dict[str, ArrayMeta] = {}

    def rows(self, a: ArrayMeta, rows: np.ndarray) -> ArrayMeta:
        if a.path not in self.written:
            self.written[a.path] = self.writer.save(a.path, self.graph.load(a)[rows])
        return self.written[a.path]

    def structure(self, paths: dict[str, ArrayMeta], src: np.ndarray, dst: np.ndarray, num_src: int,
                  num_dst: int) -> dict[str, ArrayMeta]:
        if not all(a.path in self.written for a in paths.values()):
            new = write_structure(self.writer, {k: a.path for k, a in paths.items()}, src, dst, num_src, num_dst)
            self.written.update({a.path: a for a in new.values()})
        return {k: self.written[a.path] for k, a in paths.items()}


def _split_counts(graph: Graph, lab: LabelMeta, masks: dict[str, ArrayMeta], owned: np.ndarray) -> dict[str, int]:
    """Train/val/test counts among the owned rows (the partition's seeds): they add up to the graph's."""
    counts = dict(lab.split_counts)
    for split, m in zip(_SPLITS, lab.mask_names):
        if split in counts and m in masks:
            counts[split] = int(np.count_nonzero(graph.load(masks[m])[owned]))
    return counts


def write_partition(plan: PartitionPlan, part_id: int, root: str, raw_ids: dict[str, pa.Array]) -> PartMeta:
    """Write partition ``part_id`` of ``plan`` into the (new) graph directory ``root``."""
    t0 = time.perf_counter()
    graph, lay = plan.graph, plan.layout(part_id)
    out = _PartArrays(graph, root)
    meta = copy.deepcopy(graph.meta)
    src_meta = graph.meta
    n_local = {t: len(ids) for t, ids in lay.node_ids.items()}

    for t, nt in meta.node_types.items():
        rows, owned = lay.node_ids[t], lay.node_ids[t][:lay.num_owned_nodes[t]]
        nt.num_nodes = len(rows)
        nt.features = {k: out.rows(a, rows) for k, a in nt.features.items()}
        for lab in nt.labels.values():
            lab.split_counts = _split_counts(graph, lab, src_meta.node_types[t].masks, owned)
            lab.array = None if lab.array is None else out.rows(lab.array, rows)
        nt.masks = {k: out.rows(a, rows) for k, a in nt.masks.items()}
        write_id_map(root, nt.id_map, raw_ids[t].take(pa.array(rows)))

    edge_l2g: dict[str, ArrayMeta] = {}
    owned_edges: dict[str, int] = {}
    by_etype = {e.etype: e for e in meta.edge_types}
    for g in plan.groups:
        fwd = g.forward.etype
        eids = lay.edge_ids[fwd]
        l2g = out.writer.save(f"local_to_global/edges/{etype_dir(fwd)}.npy", eids)
        ls, ld = lay.local_edges[fwd]
        for orig, (s, d) in [(g.forward, (ls, ld))] + [(r, (ld, ls)) for r in g.reverses]:
            em = by_etype[orig.etype]
            em.num_edges = len(eids)
            em.structure = out.structure(em.structure, s, d, n_local[em.src_type], n_local[em.dst_type])
            owned = eids[d < lay.num_owned_nodes[em.dst_type]]
            em.features = {k: out.rows(a, eids) for k, a in em.features.items()}
            for lab in em.labels.values():
                lab.split_counts = _split_counts(graph, lab, orig.masks, owned)
                lab.array = None if lab.array is None else out.rows(lab.array, eids)
            em.masks = {k: out.rows(a, eids) for k, a in em.masks.items()}
            key = ",".join(em.etype)
            edge_l2g[key] = l2g
            owned_edges[key] = len(owned)

    meta.partition = PartitionInfo(
        part_id=part_id, num_parts=plan.num_parts, num_owned_nodes=dict(lay.num_owned_nodes),
        num_owned_edges=owned_edges,
        node_local_to_global={t: out.writer.save(f"local_to_global/nodes/{safe_name(t)}.npy", ids)
                              for t, ids in lay.node_ids.items()},
        edge_local_to_global=edge_l2g,
    )
    transforms = os.path.join(graph.root, TRANSFORMS_FILE)
    if os.path.exists(transforms):
        shutil.copyfile(transforms, os.path.join(root, TRANSFORMS_FILE))
    write_graph_meta(root, meta)
    part = PartMeta(
        part_id=part_id, path=os.path.basename(root), num_owned_nodes=dict(lay.num_owned_nodes),
        num_halo_nodes={t: n_local[t] - lay.num_owned_nodes[t] for t in n_local},
        num_owned_edges=owned_edges, num_local_edges={",".join(e.etype): e.num_edges for e in meta.edge_types},
    )
    log.info("part %d: %d owned + %d halo nodes; %d edges stored (%d owned, forward types) in %.1fs", part_id,
             sum(part.num_owned_nodes.values()), sum(part.num_halo_nodes.values()),
             sum(len(e) for e in lay.edge_ids.values()), sum(lay.num_owned_edges.values()), time.perf_counter() - t0)
    return part


def write_partitions(plan: PartitionPlan, out_dir: str) -> list[PartMeta]:
    """Write every partition as ``out_dir/part<i>``."""
    raw_ids = {t: plan.graph.id_map(t) for t in plan.graph.node_types}
    return [write_partition(plan, p, os.path.join(out_dir, f"part{p}"), raw_ids) for p in range(plan.num_parts)]
