"""Open a constructed graph: metadata in memory, every array memory-mapped.

Nothing is copied into RAM until it is indexed; node type ``t`` with ``n``
nodes has IDs ``0..n-1`` and its raw IDs are in ``id_map(t)``.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphkit.schema.graph_meta import (
    TRANSFORMS_FILE,
    ArrayMeta,
    EdgeType,
    GraphMeta,
    read_graph_meta,
)


class GraphSizes:
    """Types and sizes, read from ``self.meta`` (a :class:`GraphMeta` of the whole graph); shared by
    :class:`Graph` and the partitioned :class:`~graphkit.distributed.dist_graph.DistGraph`."""

    meta: GraphMeta

    @property
    def node_types(self) -> list[str]:
        return list(self.meta.node_types)

    @property
    def edge_types(self) -> list[EdgeType]:
        return [e.etype for e in self.meta.edge_types]

    def num_nodes(self, ntype: str) -> int:
        """Nodes of ``ntype`` in the whole graph."""
        return self.meta.node_type(ntype).num_nodes

    def num_edges(self, etype: EdgeType) -> int:
        """Edges of ``etype`` in the whole graph."""
        return self.meta.edge_type(etype).num_edges


class Graph(GraphSizes):
    """A graph directory written by ``graphkit construct`` (or ``idmap``)."""

    def __init__(self, root: str, meta: Optional[GraphMeta] = None) -> None:
        self.root = os.path.abspath(root)
        self.meta = meta if meta is not None else read_graph_meta(root)

    # --- arrays ----------------------------------------------------------
    def load(self, a: ArrayMeta) -> np.ndarray:
        return np.load(os.path.join(self.root, a.path), mmap_mode="r")

    def node_feature(self, ntype: str, name: str) -> np.ndarray:
        return self.load(self.meta.node_type(ntype).features[name])

    def node_label(self, ntype: str, name: str) -> np.ndarray:
        arr = self.meta.node_type(ntype).labels[name].array
        assert arr is not None
        return self.load(arr)

    def node_mask(self, ntype: str, name: str) -> np.ndarray:
        return self.load(self.meta.node_type(ntype).masks[name])

    def edge_feature(self, etype: EdgeType, name: str) -> np.ndarray:
        return self.load(self.meta.edge_type(etype).features[name])

    def edge_mask(self, etype: EdgeType, name: str) -> np.ndarray:
        return self.load(self.meta.edge_type(etype).masks[name])

    def edges(self, etype: EdgeType) -> tuple[np.ndarray, np.ndarray]:
        """(src, dst) of every edge, in edge-ID order."""
        s = self.meta.edge_type(etype).structure
        return self.load(s["src"]), self.load(s["dst"])

    def csc(self, etype: EdgeType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """In-edges grouped by destination: (indptr, source IDs, edge IDs)."""
        s = self.meta.edge_type(etype).structure
        return self.load(s["csc_indptr"]), self.load(s["csc_indices"]), self.load(s["csc_eids"])

    def csr(self, etype: EdgeType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Out-edges grouped by source: (indptr, destination IDs, edge IDs)."""
        s = self.meta.edge_type(etype).structure
        return self.load(s["csr_indptr"]), self.load(s["csr_indices"]), self.load(s["csr_eids"])

    def id_map(self, ntype: str) -> pa.Array:
        """Raw IDs of the nodes of ``ntype``: element ``i`` is the user's ID of node ``i``."""
        t = pq.read_table(os.path.join(self.root, self.meta.node_type(ntype).id_map), columns=["id"])
        return t.column("id").combine_chunks()

    @cached_property
    def transforms(self) -> dict:
        import json

        with open(os.path.join(self.root, TRANSFORMS_FILE), encoding="utf-8") as f:
            return json.load(f)
