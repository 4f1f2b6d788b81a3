"""``partition.json``: what ties the partitions of a graph together, as typed data.

See ``docs/partition-format.md``. Each ``part<i>/`` is itself a graph directory
whose ``graph.json`` carries a :class:`graphkit.schema.graph_meta.PartitionInfo`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from graphkit.errors import GraphkitError
from graphkit.schema.graph_meta import ArrayMeta

FORMAT = "graphkit-partitions"
FORMAT_VERSION = 1
PARTITION_FILE = "partition.json"
SOURCE_GRAPH_FILE = "source_graph.json"  # copy of the partitioned graph's graph.json


@dataclass
class PartMeta:
    part_id: int
    path: str  # the partition's graph directory, relative to the partition.json folder
    num_owned_nodes: dict[str, int]
    num_halo_nodes: dict[str, int]
    num_owned_edges: dict[str, int]  # keyed "src,rel,dst"
    num_local_edges: dict[str, int]  # owned + halo edges stored in the partition


@dataclass
class PartitionSetMeta:
    graph_name: str
    num_parts: int
    method: str  # metis | random
    seed: int
    source_graph_dir: str  # absolute path of the graph that was partitioned (informative)
    source_graph_meta: str  # relative path of the copy of its graph.json
    node_part: dict[str, ArrayMeta]  # int32 partition of every node, per type
    parts: list[PartMeta]
    edge_cut: float  # fraction of edges whose endpoints are in different partitions
    balance: dict[str, float]  # max/mean partition size, see graphkit.partition.metrics
    counts: dict[str, list[int]]  # per-partition counts behind ``balance``
    edge_cut_per_etype: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # method facts, timings, graphkit version
    format: str = FORMAT
    version: int = FORMAT_VERSION

    def part_dir(self, root: str, part_id: int) -> str:
        return os.path.join(root, self.parts[part_id].path)

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(obj: dict, file: Optional[str] = None) -> "PartitionSetMeta":
        if obj.get("format") != FORMAT or obj.get("version") != FORMAT_VERSION:
            raise GraphkitError(f"not a graphkit partitioning of a supported version (format "
                                f"{obj.get('format')!r}, version {obj.get('version')!r}).", file=file)
        return PartitionSetMeta(**{
            **obj,
            "node_part": {k: ArrayMeta(**v) for k, v in obj["node_part"].items()},
            "parts": [PartMeta(**p) for p in obj["parts"]],
        })


def read_partition_meta(root: str) -> PartitionSetMeta:
    path = os.path.join(root, PARTITION_FILE)
    if not os.path.exists(path):
        raise GraphkitError(f"no {PARTITION_FILE} here: not a graphkit partitioning.", file=root,
                            hint="Create one with `graphkit partition`.")
    with open(path, encoding="utf-8") as f:
        return PartitionSetMeta.from_json(json.load(f), file=path)


def write_partition_meta(root: str, meta: PartitionSetMeta) -> None:
    with open(os.path.join(root, PARTITION_FILE), "w", encoding="utf-8") as f:
        json.dump(meta.to_json(), f, indent=1)
