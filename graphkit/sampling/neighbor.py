"""Multi-layer neighbour sampling into per-layer bipartite blocks (GraphSAGE-style).

``NeighborSampler(graph, "10,10").sample_from_nodes({"item": ids}, seed=3)``
samples, for every layer from the output back to the input, up to ``fanout``
in-neighbours of each dst node along every edge type, uniformly without
replacement, and relabels sources to local IDs (dst nodes first). Edge-seeded
batches (edge tasks, link prediction) are in :mod:`graphkit.sampling.edges`.

Samplers are cheap to create, hold no per-batch state between calls, and are
safe to use from several threads (scratch space is per thread).
"""

from __future__ import annotations

import threading
from typing import Callable, Mapping, Optional, Sequence

import numba
import numpy as np
import torch

from graphkit.sampling.base import Block, EdgeType, NodeType, SampledSubgraph
from graphkit.sampling.fanout import FanoutSpec, parse_fanout
from graphkit.sampling.kernels import relabel, sample_in_neighbors, sample_in_neighbors_serial, set_bits
from graphkit.storage.graph import Graph

_EMPTY_I64 = np.zeros(0, dtype=np.int64)
_EMPTY_U8 = np.zeros(0, dtype=np.uint8)
_MASK64 = (1 << 64) - 1


def mix_seed(*parts: int) -> np.uint64:
    """Combine integers into one well-mixed 64-bit seed (SplitMix64), independent of PYTHONHASHSEED."""
    z = 0
    for p in parts:
        z = (z + (p & _MASK64) + 0x9E3779B97F4A7C15) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        z ^= z >> 31
    return np.uint64(z)


class NeighborSampler:
    """Sample ``len(fanouts)`` layers of in-neighbours.

    Args:
        graph: the graph (or one partition of it) to sample from.
        fanouts: per-layer fanouts, input layer first; see :mod:`graphkit.sampling.fanout`.
        edge_types: edge types to message-pass along (default: all).
        reverse_types: extra ``{etype: reverse etype}`` pairs whose edges share
            edge IDs (GraphStorm's ``reverse_edge_types_map``); types created by
            ``--add-reverse-edges`` are paired automatically.
        static_exclude: ``{etype: edge IDs}`` never used for message passing
            (e.g. validation/test edges of link prediction). Applies to exactly
            the edge types given: list reverse types too to remove them there.
    """

    _STATIC, _BATCH = np.uint8(1), np.uint8(2)

    def __init__(self, graph: Graph, fanouts: FanoutSpec, edge_types: Optional[Sequence[EdgeType]] = None,
                 reverse_types: Optional[Mapping[EdgeType, EdgeType]] = None,
                 static_exclude: Optional[Mapping[EdgeType, np.ndarray]] = None) -> None:
        self.graph = graph
        self.edge_types: list[EdgeType] = list(edge_types) if edge_types is not None else graph.edge_types
        # An empty fanout list is the no-GNN case: batches are just their seeds.
        self.fanouts = [] if (isinstance(fanouts, (list, tuple)) and len(fanouts) == 0) \
            else parse_fanout(fanouts, self.edge_types)
        self.num_layers = len(self.fanouts)
        self._csc = {e: tuple(np.asarray(a) for a in graph.csc(e)) for e in self.edge_types}
        # Edge types sharing an edge-ID space (a type and its reverses) exclude a batch's targets together.
        base: dict[EdgeType, EdgeType] = {}
        for e in graph.edge_types:
            rev = graph.meta.edge_type(e).reverse_of
            base[e] = tuple(rev) if rev else e  # type: ignore[assignment]
        for fwd, rev in (reverse_types or {}).items():
            base[tuple(rev)] = base.get(tuple(fwd), tuple(fwd))  # type: ignore[arg-type]
        self._group = {e: [g for g in graph.edge_types if base[g] == base[e]] for e in graph.edge_types}
        self._static: dict[EdgeType, np.ndarray] = {}
        for e, eids in (static_exclude or {}).items():
            m = np.zeros(graph.num_edges(e), dtype=np.uint8)
            m[np.asarray(eids, dtype=np.int64)] = self._STATIC
            self._static[tuple(e)] = m  # type: ignore[index]
        self._local = threading.local()

    # --- per-thread scratch space ------------------------------------------
    def _scratch(self, ntype: NodeType) -> np.ndarray:
        store = self._local.__dict__.setdefault("scratch", {})
        if ntype not in store:
            store[ntype] = np.full(self.graph.num_nodes(ntype), -1, dtype=np.int64)
        return store[ntype]

    def _mask(self, etype: EdgeType) -> np.ndarray:
        store = self._local.__dict__.setdefault("masks", {})
        if etype not in store:
            static = self._static.get(etype)
            store[etype] = static.copy() if static is not None else np.zeros(self.graph.num_edges(etype), np.uint8)
        return store[etype]

    # --- sampling ----------------------------------------------------------
    def sample_from_nodes(self, seeds: Mapping[NodeType, np.ndarray | torch.Tensor], seed: int = 0,
                          exclude_eids: Optional[Mapping[EdgeType, np.ndarray]] = None) -> SampledSubgraph:
        """Blocks whose last layer outputs ``seeds`` (distinct per type, order kept).

        ``exclude_eids`` removes edges from message passing (e.g. the target
        edges of a link-prediction batch); edges sharing their IDs in reverse
        edge types are removed too.
        """
        dst = {t: np.ascontiguousarray(np.asarray(v), dtype=np.int64) for t, v in seeds.items()}
        masks = self._apply_exclusions(exclude_eids, 1)
        try:
            blocks = []
            for layer in range(self.num_layers - 1, -1, -1):
                block = self._sample_layer(dst, self.fanouts[layer], mix_seed(seed, layer), masks)
                blocks.append(block)
                dst = {t: v.numpy() for t, v in block.src_nodes.items()}
        finally:
            self._apply_exclusions(exclude_eids, 0)
        blocks.reverse()
        return SampledSubgraph(blocks, {t: torch.from_numpy(np.ascontiguousarray(np.asarray(v), dtype=np.int64))
                                        for t, v in seeds.items()})

    def _apply_exclusions(self, exclude: Optional[Mapping[EdgeType, np.ndarray]], on: int) -> dict:
        """Masks to sample with: static exclusions plus this batch's (set ``on``, cleared after)."""
        masks: dict[EdgeType, np.ndarray] = {e: self._mask(e) for e in self._static}
        for e, eids in (exclude or {}).items():
            ids = np.ascontiguousarray(eids, dtype=np.int64)
            for g in self._group.get(tuple(e), [tuple(e)]):  # type: ignore[arg-type]
                masks[g] = self._mask(g)
                set_bits(masks[g], ids, self._BATCH, bool(on))
        return masks

    def _sample_layer(self, dst: dict[NodeType, np.ndarray], fanout: dict[EdgeType, int], layer_seed: np.uint64,
                      masks: dict[EdgeType, np.ndarray]) -> Block:
        sampled: dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for i, e in enumerate(self.edge_types):
            f = fanout[e]
            d_nodes = dst.get(e[2])
            if f == 0 or d_nodes is None or d_nodes.size == 0:
                continue
            indptr, indices, eids = self._csc[e]
            mask = masks.get(e, _EMPTY_U8)
            # one thread: the serial twin, which never enters numba's OpenMP pool (not fork-safe)
            kernel = sample_in_neighbors if numba.get_num_threads() > 1 else sample_in_neighbors_serial
            sampled[e] = kernel(indptr, indices, eids, d_nodes, f, mix_seed(int(layer_seed), i), mask)
        return assemble_block(dst, sampled, lambda t, d, src: relabel(self._scratch(t), d, src))


Sampled = dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]]  # per edge type: (indptr, src IDs, edge IDs)


def assemble_block(dst: Mapping[NodeType, np.ndarray], sampled: Sampled,
                   relabel_fn: Callable[[NodeType, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]) -> Block:
    """A :class:`Block` from one layer's sampled in-edges: per source type, ``relabel_fn(type, dst IDs,
    sampled source IDs)`` gives the block's source nodes (destinations first) and the local index of
    every sampled source. Shared by the single-process and the distributed sampler."""
    src_types = list(dict.fromkeys(list(dst) + [e[0] for e in sampled]))
    src_nodes: dict[NodeType, torch.Tensor] = {}
    local: dict[EdgeType, np.ndarray] = {}
    for t in src_types:
        ets = [e for e in sampled if e[0] == t]
        cat = np.concatenate([sampled[e][1] for e in ets]) if ets else _EMPTY_I64
        nodes, loc = relabel_fn(t, dst.get(t, _EMPTY_I64), cat)
        src_nodes[t] = torch.from_numpy(nodes)
        start = 0
        for e in ets:
            n = sampled[e][1].size
            local[e] = loc[start:start + n]
            start += n
    return Block(
        src_nodes=src_nodes,
        num_dst={t: int(dst[t].size) if t in dst else 0 for t in src_types},
        indptr={e: torch.from_numpy(v[0]) for e, v in sampled.items()},
        indices={e: torch.from_numpy(np.ascontiguousarray(local[e])) for e in sampled},
        eids={e: torch.from_numpy(np.ascontiguousarray(v[2])) for e, v in sampled.items()},
    )


def layerwise_batches(graph: Graph, batch_size: int, edge_types: Optional[Sequence[EdgeType]] = None):
    """Full-neighbour, one-layer blocks covering every node, for layer-wise inference.

    Yields ``(ntype, dst node IDs, Block)`` in node-ID order per type: compute
    layer 1 for every node from these blocks, then layer 2, and so on.
    """
    sampler = NeighborSampler(graph, [-1], edge_types)
    for t in graph.node_types:
        n = graph.num_nodes(t)
        for start in range(0, n, batch_size):
            ids = np.arange(start, min(start + batch_size, n), dtype=np.int64)
            yield t, ids, sampler.sample_from_nodes({t: ids}).blocks[0]
