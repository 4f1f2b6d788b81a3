"""Which nodes and edges each partition holds, in which local order.

- Owned nodes: those the assignment gives the partition, in increasing global ID.
- Owned edges: those whose destination is owned (each edge in exactly one
  partition), in increasing edge ID.
- Halo edges: a forward edge type with reverse types is stored once and its
  reverse types reuse its arrays swapped, so the stored edges must also hold
  the reverse types' in-edges of owned nodes: the forward edges whose *source*
  is owned and destination is not. They follow the owned edges.
- Halo nodes: endpoints of stored edges that are not owned (exactly the
  sources of in-edges of owned nodes, over all edge types including reverse
  ones), in increasing global ID, after the owned nodes.

Grouping nodes and edges by partition is one counting sort each (O(N + E) for
all partitions); cutting out one partition then costs O(N) for its ID maps plus
the size of what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from graphkit.partition.homogenize import is_forward
from graphkit.schema.graph_meta import EdgeType, EdgeTypeMeta
from graphkit.storage.csr import compress
from graphkit.storage.graph import Graph


@dataclass
class EdgeGroup:
    """A forward edge type and the reverse types sharing its edge IDs."""

    forward: EdgeTypeMeta
    reverses: list[EdgeTypeMeta]
    src: np.ndarray  # int64 global source of every edge
    dst: np.ndarray
    by_dst_part: tuple[np.ndarray, np.ndarray]  # (indptr [P + 1], edge IDs grouped by destination's part)
    by_src_part: Optional[tuple[np.ndarray, np.ndarray]]  # same by source's part; only with reverse types
    dst_part: np.ndarray


@dataclass
class PartLayout:
    part_id: int
    node_ids: dict[str, np.ndarray]  # local -> global node ID, owned first
    num_owned_nodes: dict[str, int]
    edge_ids: dict[EdgeType, np.ndarray]  # per forward type: local -> global edge ID, owned first
    num_owned_edges: dict[EdgeType, int]  # per forward type
    local_edges: dict[EdgeType, tuple[np.ndarray, np.ndarray]]  # per forward type: local (src, dst)


def _group(keys: np.ndarray, num_parts: int) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, items): the indices ``i`` with ``keys[i] == p`` are ``items[indptr[p]:indptr[p+1]]``, increasing."""
    c = compress(keys, keys, num_parts)
    return c.indptr, c.eids


def _members(grouped: tuple[np.ndarray, np.ndarray], p: int) -> np.ndarray:
    indptr, items = grouped
    return items[indptr[p]:indptr[p + 1]]


class PartitionPlan:
    """The groupings shared by all partitions; :meth:`layout` cuts out one partition."""

    def __init__(self, graph: Graph, node_part: dict[str, np.ndarray], num_parts: int) -> None:
        self.graph = graph
        self.num_parts = num_parts
        self.node_part = node_part
        self.nodes_by_part = {t: _group(node_part[t], num_parts) for t in graph.node_types}
        forward = {e.etype: e for e in graph.meta.edge_types if is_forward(graph, e)}
        reverses: dict[EdgeType, list[EdgeTypeMeta]] = {k: [] for k in forward}
        for e in graph.meta.edge_types:
            if e.etype not in forward:
                reverses[tuple(e.reverse_of)].append(e)  # type: ignore[arg-type,index]
        self.groups = [self._edge_group(em, reverses[k]) for k, em in forward.items()]

    def _edge_group(self, em: EdgeTypeMeta, reverses: list[EdgeTypeMeta]) -> EdgeGroup:
        src, dst = self.graph.edges(em.etype)
        src, dst = np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)
        dst_part = self.node_part[em.dst_type][dst]
        by_src = _group(self.node_part[em.src_type][src], self.num_parts) if reverses else None
        return EdgeGroup(forward=em, reverses=reverses, src=src, dst=dst, dst_part=dst_part,
                         by_dst_part=_group(dst_part, self.num_parts), by_src_part=by_src)

    def layout(self, p: int) -> PartLayout:
        owned_nodes = {t: _members(g, p) for t, g in self.nodes_by_part.items()}
        edge_ids: dict[EdgeType, np.ndarray] = {}
        num_owned_edges: dict[EdgeType, int] = {}
        needed = {t: np.zeros(self.graph.num_nodes(t), dtype=bool) for t in self.graph.node_types}
        for g in self.groups:
            owned = _members(g.by_dst_part, p)
            halo = np.zeros(0, dtype=np.int64)
            if g.by_src_part is not None:
                out = _members(g.by_src_part, p)
                halo = out[g.dst_part[out] != p]
            eids = np.concatenate([owned, halo])
            edge_ids[g.forward.etype] = eids
            num_owned_edges[g.forward.etype] = len(owned)
            needed[g.forward.src_type][g.src[eids]] = True
            needed[g.forward.dst_type][g.dst[eids]] = True
        node_ids, g2l = {}, {}
        for t, owned in owned_nodes.items():
            needed[t][owned] = False
            node_ids[t] = np.concatenate([owned, np.flatnonzero(needed[t])])
            g2l[t] = np.full(self.graph.num_nodes(t), -1, dtype=np.int64)
            g2l[t][node_ids[t]] = np.arange(len(node_ids[t]), dtype=np.int64)
        local_edges = {}
        for g in self.groups:
            eids = edge_ids[g.forward.etype]
            local_edges[g.forward.etype] = (g2l[g.forward.src_type][g.src[eids]],
                                            g2l[g.forward.dst_type][g.dst[eids]])
        return PartLayout(part_id=p, node_ids=node_ids, num_owned_nodes={t: len(o) for t, o in owned_nodes.items()},
                          edge_ids=edge_ids, num_owned_edges=num_owned_edges, local_edges=local_edges)
