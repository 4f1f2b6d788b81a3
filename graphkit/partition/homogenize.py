"""A heterogeneous graph as one undirected simple graph, the input METIS wants.

Node ``i`` of type ``t`` gets the global ID ``offsets[t] + i`` (types in
``graph.json`` order). Every edge of every forward edge type becomes an
undirected edge; self-loops and duplicates are dropped, so the adjacency is
symmetric with each neighbour listed once. Reverse edge types repeat their
forward type's edges and are skipped. Built in O(N + E) by a numba counting
sort followed by a per-row de-duplication with a marker array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from graphkit.schema.graph_meta import EdgeTypeMeta
from graphkit.storage.graph import Graph


@dataclass(frozen=True)
class Homogenized:
    offsets: dict[str, int]  # global ID of node 0 of each type
    num_nodes: int
    indptr: np.ndarray  # int64 [num_nodes + 1]
    indices: np.ndarray  # int64 neighbours: symmetric, no self-loops, no duplicates

    def split(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Per-type views of an array indexed by global node ID."""
        ends = list(self.offsets.values())[1:] + [self.num_nodes]
        return {t: values[o:e] for (t, o), e in zip(self.offsets.items(), ends)}


def is_forward(graph: Graph, em: EdgeTypeMeta) -> bool:
    """Not a reverse type whose forward type is in the graph (its edges are that type's, reversed)."""
    return em.reverse_of is None or tuple(em.reverse_of) not in graph.edge_types


def node_offsets(graph: Graph) -> dict[str, int]:
    """Global ID of the first node of each type: the types' sizes, accumulated."""
    offsets, total = {}, 0
    for t in graph.node_types:
        offsets[t] = total
        total += graph.num_nodes(t)
    return offsets


def homogenize(graph: Graph) -> Homogenized:
    offsets = node_offsets(graph)
    num_nodes = sum(graph.num_nodes(t) for t in graph.node_types)
    us, vs = [], []
    for em in graph.meta.edge_types:
        if not is_forward(graph, em):
            continue
        src, dst = graph.edges(em.etype)
        us.append(np.asarray(src, dtype=np.int64) + offsets[em.src_type])
        vs.append(np.asarray(dst, dtype=np.int64) + offsets[em.dst_type])
    u = np.concatenate(us) if us else np.zeros(0, dtype=np.int64)
    v = np.concatenate(vs) if vs else np.zeros(0, dtype=np.int64)
    del us, vs
    indptr, indices = _symmetric_simple_csr(u, v, num_nodes)
    return Homogenized(offsets=offsets, num_nodes=num_nodes, indptr=indptr, indices=indices)


@numba.njit(cache=True, nogil=True)
def _symmetric_simple_csr(u: np.ndarray, v: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.zeros(n + 1, dtype=np.int64)
    for e in range(u.shape[0]):
        if u[e] != v[e]:
            indptr[u[e] + 1] += 1
            indptr[v[e] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    pos = indptr[:-1].copy()
    adj = np.empty(indptr[n], dtype=np.int64)
    for e in range(u.shape[0]):
        a, b = u[e], v[e]
        if a != b:
            adj[pos[a]] = b
            pos[a] += 1
            adj[pos[b]] = a
            pos[b] += 1
    # De-duplicate each row in place: mark[y] == x once y has been kept in row x.
    mark = np.full(n, -1, dtype=np.int64)
    out = np.zeros(n + 1, dtype=np.int64)
    k = 0
    for x in range(n):
        for j in range(indptr[x], indptr[x + 1]):
            y = adj[j]
            if mark[y] != x:
                mark[y] = x
                adj[k] = y
                k += 1
        out[x + 1] = k
    return out, adj[:k].copy()
