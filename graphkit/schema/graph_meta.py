"""The on-disk graph's metadata (``graph.json``), as typed data.

See ``docs/graph-format.md`` for the full description. In short: a directory
with ``graph.json`` (this schema), ``transforms.json`` (fitted feature/label
transform state), ``id_maps/<ntype>.parquet`` (raw ID of every node, row ``i``
is node ``i``) and ``.npy`` arrays that a trainer memory-maps. Every array is
named by a path relative to the graph directory, so readers never rebuild
paths; reverse edge types point at their forward type's arrays, swapped.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from graphkit.errors import GraphkitError

FORMAT = "graphkit-graph"
FORMAT_VERSION = 1
META_FILE = "graph.json"
TRANSFORMS_FILE = "transforms.json"

EdgeType = tuple[str, str, str]

# Structure arrays of an edge type (all int64):
#   src, dst            edge list in edge-ID order (COO), length E
#   csr_indptr/indices/eids   out-edges grouped by source node (indices = destinations)
#   csc_indptr/indices/eids   in-edges grouped by destination node (indices = sources)
STRUCTURE_KEYS = ("src", "dst", "csr_indptr", "csr_indices", "csr_eids", "csc_indptr", "csc_indices", "csc_eids")
REVERSED_KEY = {
    "src": "dst", "dst": "src",
    "csr_indptr": "csc_indptr", "csr_indices": "csc_indices", "csr_eids": "csc_eids",
    "csc_indptr": "csr_indptr", "csc_indices": "csr_indices", "csc_eids": "csr_eids",
}


@dataclass
class ArrayMeta:
    path: str  # relative to the graph directory
    dtype: str
    shape: list[int]


@dataclass
class LabelMeta:
    name: str
    task_type: str  # classification | regression | link_prediction
    array: Optional[ArrayMeta]  # None for link_prediction
    mask_names: list[str]  # [train, val, test] keys into the type's masks
    num_classes: Optional[int] = None
    classes: Optional[list] = None  # original class values when labels were strings
    split_counts: dict[str, int] = field(default_factory=dict)
    stats: Optional[dict] = None  # e.g. {"stats_type": "frequency_cnt", "info": {class: count}}


@dataclass
class NodeTypeMeta:
    name: str
    num_nodes: int
    id_map: str  # parquet file: columns id (raw), nid (int64); row i <-> node i
    id_dtype: str
    features: dict[str, ArrayMeta] = field(default_factory=dict)
    labels: dict[str, LabelMeta] = field(default_factory=dict)
    masks: dict[str, ArrayMeta] = field(default_factory=dict)


@dataclass
class EdgeTypeMeta:
    src_type: str
    relation: str
    dst_type: str
    num_edges: int
    structure: dict[str, ArrayMeta]
    reverse_of: Optional[list[str]] = None  # [src, rel, dst] of the forward type
    features: dict[str, ArrayMeta] = field(default_factory=dict)
    labels: dict[str, LabelMeta] = field(default_factory=dict)
    masks: dict[str, ArrayMeta] = field(default_factory=dict)

    @property
    def etype(self) -> EdgeType:
        return (self.src_type, self.relation, self.dst_type)


@dataclass
class PartitionInfo:
    """Set when the directory is one partition of a larger graph (``docs/partition-format.md``).

    Local IDs of a node type list the owned nodes first (increasing global ID), then
    the halo nodes; an edge of any type belongs to this partition iff its destination
    is owned. Edge types are keyed ``src,rel,dst``; reverse types share their forward
    type's edge map.
    """

    part_id: int
    num_parts: int
    num_owned_nodes: dict[str, int]
    num_owned_edges: dict[str, int]
    node_local_to_global: dict[str, ArrayMeta]  # int64 global node ID of each local node
    edge_local_to_global: dict[str, ArrayMeta]  # int64 global edge ID of each local edge


@dataclass
class GraphMeta:
    graph_name: str
    node_types: dict[str, NodeTypeMeta]
    edge_types: list[EdgeTypeMeta]
    construction: dict[str, Any]  # graphkit version, arguments, seed, the input config
    format: str = FORMAT
    version: int = FORMAT_VERSION
    partition: Optional[PartitionInfo] = None  # only in a partition's directory

    def edge_type(self, etype: EdgeType) -> EdgeTypeMeta:
        for e in self.edge_types:
            if e.etype == tuple(etype):
                return e
        known = ", ".join(",".join(e.etype) for e in self.edge_types)
        raise GraphkitError(f"unknown edge type {','.join(etype)}.", hint=f"Edge types: {known}.")

    def node_type(self, ntype: str) -> NodeTypeMeta:
        if ntype not in self.node_types:
            raise GraphkitError(f"unknown node type '{ntype}'.", hint=f"Node types: {', '.join(self.node_types)}.")
        return self.node_types[ntype]

    def to_json(self) -> dict:
        obj = asdict(self)
        if obj["partition"] is None:
            del obj["partition"]
        return obj

    @staticmethod
    def from_json(obj: dict, file: Optional[str] = None) -> "GraphMeta":
        if obj.get("format") != FORMAT:
            raise GraphkitError(f"not a graphkit graph (format is {obj.get('format')!r}).", file=file)
        if obj.get("version") != FORMAT_VERSION:
            raise GraphkitError(
                f"graph format version {obj.get('version')} is not supported by this graphkit "
                f"(it reads version {FORMAT_VERSION}).", file=file,
                hint="Re-run `graphkit construct` with this graphkit version.",
            )

        def arr(d: Optional[dict]) -> Optional[ArrayMeta]:
            return None if d is None else ArrayMeta(**d)

        def arrays(d: dict) -> dict[str, ArrayMeta]:
            return {k: ArrayMeta(**v) for k, v in d.items()}

        def labels(d: dict) -> dict[str, LabelMeta]:
            return {k: LabelMeta(**{**v, "array": arr(v["array"])}) for k, v in d.items()}

        ntypes = {
            k: NodeTypeMeta(**{**v, "features": arrays(v["features"]), "labels": labels(v["labels"]),
                               "masks": arrays(v["masks"])})
            for k, v in obj["node_types"].items()
        }
        etypes = [
            EdgeTypeMeta(**{**v, "structure": arrays(v["structure"]), "features": arrays(v["features"]),
                            "labels": labels(v["labels"]), "masks": arrays(v["masks"])})
            for v in obj["edge_types"]
        ]
        p = obj.get("partition")  # absent in unpartitioned graphs
        partition = None if p is None else PartitionInfo(**{
            **p, "node_local_to_global": arrays(p["node_local_to_global"]),
            "edge_local_to_global": arrays(p["edge_local_to_global"])})
        return GraphMeta(graph_name=obj["graph_name"], node_types=ntypes, edge_types=etypes,
                         construction=obj["construction"], partition=partition)


def read_graph_meta(graph_dir: str) -> GraphMeta:
    path = os.path.join(graph_dir, META_FILE)
    if not os.path.exists(path):
        raise GraphkitError(f"no {META_FILE} here: not a graphkit graph directory.", file=graph_dir,
                            hint="Create one with `graphkit construct`.")
    with open(path, encoding="utf-8") as f:
        return GraphMeta.from_json(json.load(f), file=path)


def write_graph_meta(graph_dir: str, meta: GraphMeta) -> None:
    with open(os.path.join(graph_dir, META_FILE), "w", encoding="utf-8") as f:
        json.dump(meta.to_json(), f, indent=1)
