r"""GraphSAINT subgraph samplers, from `"GraphSAINT: Graph Sampling Based
Inductive Learning Method" <https://arxiv.org/abs/1907.04931>`_ (Zeng et al., ICLR 2020).

A sampler draws a node set :math:`\mathcal{V}_s` of the homogenized graph
(every node type, global ID = the type's offset + its node ID; every edge
type, seen undirected) and returns the subgraph it induces in every edge type,
so full GNN layers run on it. The estimators are made unbiased by
coefficients estimated by pre-sampling :math:`N` subgraphs (Section 3.3),
counting :math:`C_v` (samples holding node :math:`v`) and :math:`C_{u,v}`
(samples holding edge :math:`(u, v)`):

* **aggregator norm** :math:`\alpha_{u,v} = C_{u,v} / C_v`, with :math:`v` the
  edge's *destination*, the node that aggregates. The block's ``edge_weight``
  is :math:`1 / \alpha_{u,v} = C_v / C_{u,v}`, so that
  :math:`\mathbb{E}[\sum_{u \in \mathcal{N}_s(v)} x_u / \alpha_{u,v} \mid v \in
  \mathcal{V}_s] = \sum_{u \in \mathcal{N}(v)} x_u` (the paper's
  :math:`\alpha_{u,v} = p_{u,v} / p_v`). PyG's ``GraphSAINTSampler`` divides
  by the count of ``edge_index[0]``, the message's source, instead.
* **loss norm** :math:`\lambda_v = C_v / N`; the node weight is
  :math:`N / (C_v |\mathcal{V}_t|)` for a node of type :math:`t`, so that
  :math:`\sum_{v \in \mathcal{V}_s} w_v L_v` estimates the mean loss over all
  nodes of type :math:`t` (PyG's ``node_norm`` in the one-type case; for the
  mean over a subset :math:`S`, e.g. the training nodes, scale by
  :math:`|\mathcal{V}_t| / |S|`).

Counts are clamped as in PyG: :math:`C_v = 0` counts as 0.1, edge weights are
clipped to :math:`[0, 10^4]`, and an edge whose destination was never sampled
weighs 0.1. Reverse edge types share their forward type's edge counts (an
induced edge is present iff both endpoints are), but aggregate at the other
endpoint.

Samplers keep the undirected homogenized adjacency in memory (``2|E|``
int64) and per-type scratch arrays; one sampler object serves one thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal, Mapping, Optional, Union

import numpy as np
import torch

from graphkit.sampling.base import Block, EdgeType, NodeType, SampledSubgraph
from graphkit.sampling.saint_kernels import frontier_walk, induce, random_walks
from graphkit.storage.graph import Graph

RngLike = Union[np.random.Generator, int]


@dataclass
class SaintNorm:
    """Pre-sampling counts: ``C_v`` per node type and ``C_e`` per edge type, over ``num_samples`` subgraphs."""

    num_samples: int
    node_count: dict[NodeType, np.ndarray]  # float64 [num_nodes]
    edge_count: dict[EdgeType, np.ndarray]  # float64 [num_edges]; a reverse type shares its forward type's array

    def node_weight(self, ntype: NodeType, nids: np.ndarray) -> np.ndarray:
        """Loss weights ``N / (C_v |V_t|)`` of nodes ``nids`` of type ``ntype``."""
        c = self.node_count[ntype]
        cv = c[nids]
        return self.num_samples / np.where(cv == 0, 0.1, cv) / max(c.size, 1)

    def edge_weight(self, etype: EdgeType, dst: np.ndarray, eids: np.ndarray) -> np.ndarray:
        """Aggregator weights ``C_v / C_{u,v}`` of edges ``eids`` whose destinations are ``dst``."""
        cv = self.node_count[etype[2]][dst]
        ce = self.edge_count[etype][eids]
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.clip(cv / ce, 0.0, 1e4)
        w[np.isnan(w)] = 0.1
        return w


@dataclass
class SaintSample:
    """A GraphSAINT subgraph and the loss weight of each of its nodes.

    ``subgraph.blocks`` are ``num_layers`` references to one :class:`Block`
    whose src and dst nodes are the sampled nodes of each type (sorted by ID);
    ``node_weight[t]`` (float32) is aligned with ``subgraph.input_nodes[t]``.
    """

    subgraph: SampledSubgraph
    node_weight: dict[NodeType, torch.Tensor]

    def to(self, device: Union[torch.device, str], non_blocking: bool = False) -> "SaintSample":
        block = self.subgraph.blocks[0].to(device, non_blocking)
        return SaintSample(SampledSubgraph([block] * len(self.subgraph.blocks)),
                           {t: w.to(device, non_blocking=non_blocking) for t, w in self.node_weight.items()})


class SaintSampler(ABC):
    r"""The GraphSAINT sampler base class: homogenization, induction, normalisation.

    Args:
        graph (Graph): The graph (or one partition opened as a graph).
        num_layers (int, optional): The number of (identical) blocks in each
            sample. (default: :obj:`2`)
    """

    def __init__(self, graph: Graph, num_layers: int = 2) -> None:
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        self.graph = graph
        self.num_layers = num_layers
        self.node_types = graph.node_types
        sizes = np.array([graph.num_nodes(t) for t in self.node_types], dtype=np.int64)
        self.bounds = np.concatenate([[0], np.cumsum(sizes)])
        self.offsets = {t: int(self.bounds[i]) for i, t in enumerate(self.node_types)}
        self.num_nodes = int(self.bounds[-1])
        self.edge_types = graph.edge_types
        self.forward = {e: (tuple(graph.meta.edge_type(e).reverse_of) if graph.meta.edge_type(e).reverse_of
                            else e) for e in self.edge_types}
        self.csc = {e: tuple(np.asarray(a) for a in graph.csc(e)) for e in self.edge_types}
        # the undirected homogenized edge list: every forward edge once
        src, dst = [], []
        for e in self.edge_types:
            if self.forward[e] == e:
                s, d = graph.edges(e)
                src.append(np.asarray(s, dtype=np.int64) + self.offsets[e[0]])
                dst.append(np.asarray(d, dtype=np.int64) + self.offsets[e[2]])
        self.edge_src = np.concatenate(src) if src else np.empty(0, dtype=np.int64)
        self.edge_dst = np.concatenate(dst) if dst else np.empty(0, dtype=np.int64)
        rows = np.concatenate([self.edge_src, self.edge_dst])
        cols = np.concatenate([self.edge_dst, self.edge_src])
        self.deg = np.bincount(rows, minlength=self.num_nodes).astype(np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(self.deg)]).astype(np.int64)
        self.nbr = cols[np.argsort(rows, kind="stable")]
        self._pos = {t: np.full(graph.num_nodes(t), -1, dtype=np.int64) for t in self.node_types}
        self.norm: Optional[SaintNorm] = None

    # --- to implement ---------------------------------------------------------
    @abstractmethod
    def sample_nodes(self, rng: np.random.Generator) -> np.ndarray:
        """One sampled node set: sorted, unique homogenized IDs."""

    # --- sampling -------------------------------------------------------------
    def split(self, gids: np.ndarray) -> dict[NodeType, np.ndarray]:
        """Sorted homogenized IDs -> node IDs of each type."""
        cut = np.searchsorted(gids, self.bounds)
        return {t: gids[cut[i]:cut[i + 1]] - self.bounds[i] for i, t in enumerate(self.node_types)}

    def induce(self, nodes: Mapping[NodeType, np.ndarray], etypes: Optional[list[EdgeType]] = None
               ) -> dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The edges among ``nodes``: per edge type a CSR over dst nodes (ptr, local src, eids)."""
        for t, ids in nodes.items():
            self._pos[t][ids] = np.arange(ids.size, dtype=np.int64)
        try:
            out = {}
            for e in self.edge_types if etypes is None else etypes:
                indptr, indices, eids = self.csc[e]
                out[e] = induce(indptr, indices, eids, nodes[e[2]], self._pos[e[0]])
        finally:
            for t, ids in nodes.items():
                self._pos[t][ids] = -1
        return out

    def sample(self, rng: RngLike) -> SaintSample:
        """One subgraph with its norms (edge weights only after :meth:`compute_norm`)."""
        nodes = self.split(self.sample_nodes(np.random.default_rng(rng)))
        csr = self.induce(nodes)
        weights: dict[EdgeType, torch.Tensor] = {}
        if self.norm is not None:
            for e, (ptr, _, eids) in csr.items():
                dst = np.repeat(nodes[e[2]], np.diff(ptr))
                weights[e] = torch.from_numpy(self.norm.edge_weight(e, dst, eids).astype(np.float32))
        block = Block(
            src_nodes={t: torch.from_numpy(ids) for t, ids in nodes.items()},
            num_dst={t: int(ids.size) for t, ids in nodes.items()},
            indptr={e: torch.from_numpy(c[0]) for e, c in csr.items()},
            indices={e: torch.from_numpy(c[1]) for e, c in csr.items()},
            eids={e: torch.from_numpy(c[2]) for e, c in csr.items()},
            edge_weight=weights,
        )
        node_weight = {t: torch.from_numpy(self.norm.node_weight(t, ids).astype(np.float32)) if self.norm
                       else torch.ones(ids.size) for t, ids in nodes.items()}
        return SaintSample(SampledSubgraph([block] * self.num_layers), node_weight)

    # --- normalisation --------------------------------------------------------
    def compute_norm(self, num_samples: Optional[int] = None, sample_coverage: Optional[float] = None,
                     rng: RngLike = 0) -> SaintNorm:
        r"""Estimate the normalisation counts by pre-sampling, and use them from now on.

        Args:
            num_samples (int, optional): The number of subgraphs :math:`N`.
            sample_coverage (float, optional): Instead, sample until the
                subgraphs hold ``sample_coverage`` times the graph's node count
                in all (PyG's ``sample_coverage``). Exactly one must be given.
            rng (np.random.Generator or int, optional): The seed. (default: :obj:`0`)
        """
        if (num_samples is None) == (sample_coverage is None):
            raise ValueError("give exactly one of num_samples and sample_coverage.")
        gen = np.random.default_rng(rng)
        node_count = np.zeros(self.num_nodes, dtype=np.float64)
        fwd = [e for e in self.edge_types if self.forward[e] == e]
        edge_count = {e: np.zeros(self.graph.num_edges(e), dtype=np.float64) for e in fwd}
        n = total = 0
        goal = np.inf if sample_coverage is None else sample_coverage * self.num_nodes
        while (n < num_samples) if num_samples is not None else (total < goal):
            gids = self.sample_nodes(gen)
            node_count[gids] += 1  # gids are unique, so are the eids below
            for e, (_, _, eids) in self.induce(self.split(gids), fwd).items():
                edge_count[e][eids] += 1
            n += 1
            total += gids.size
        self.norm = SaintNorm(n, {t: node_count[self.bounds[i]:self.bounds[i + 1]]
                                  for i, t in enumerate(self.node_types)},
                              {e: edge_count[self.forward[e]] for e in self.edge_types})
        return self.norm

    def _global(self, ids: Mapping[NodeType, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(v, dtype=np.int64) + self.offsets[t] for t, v in ids.items()]
                              + [np.empty(0, dtype=np.int64)])


def _draw(cdf: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` indices drawn with replacement, index ``i`` with weight ``cdf[i] - cdf[i-1]``."""
    return np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right")


class SaintNodeSampler(SaintSampler):
    r"""Draws ``budget`` nodes with replacement, :math:`P(v) \propto \|\tilde{A}_{:,v}\|^2`.

    With :math:`\tilde{A} = D^{-1} A` the random-walk normalised (undirected)
    adjacency, :math:`\|\tilde{A}_{:,v}\|^2 = \sum_{u \in \mathcal{N}(v)}
    \deg(u)^{-2}` (the paper's choice, Section 3.4; parallel edges count once
    each). ``weighting="degree"`` uses :math:`P(v) \propto \deg(v)` instead
    (the official code's and PyG's node sampler). Isolated nodes are never
    drawn. The inclusion probability is :math:`1 - (1 - P(v))^{budget}`.

    Args:
        graph (Graph): The graph.
        budget (int): The number of draws (nodes before de-duplication).
        num_layers (int, optional): Blocks per sample. (default: :obj:`2`)
        weighting (str, optional): ``"paper"`` or ``"degree"``. (default: :obj:`"paper"`)
    """

    def __init__(self, graph: Graph, budget: int, num_layers: int = 2,
                 weighting: Literal["paper", "degree"] = "paper") -> None:
        super().__init__(graph, num_layers)
        if weighting == "paper":
            inv2 = np.zeros(self.num_nodes)
            np.divide(1.0, self.deg.astype(np.float64) ** 2, out=inv2, where=self.deg > 0)
            rows = np.repeat(np.arange(self.num_nodes), self.deg)
            w = np.bincount(rows, weights=inv2[self.nbr], minlength=self.num_nodes)
        elif weighting == "degree":
            w = self.deg.astype(np.float64)
        else:
            raise ValueError(f"weighting must be 'paper' or 'degree', got {weighting!r}.")
        if w.sum() <= 0:
            raise ValueError("the graph has no edges to sample from.")
        self.budget = budget
        self.prob = w / w.sum()
        self._cdf = np.cumsum(w)

    def sample_nodes(self, rng: np.random.Generator) -> np.ndarray:
        return np.unique(_draw(self._cdf, self.budget, rng))


class SaintEdgeSampler(SaintSampler):
    r"""Draws ``budget`` edges with replacement, :math:`P(u, v) \propto 1/\deg(u) + 1/\deg(v)`,
    and keeps their endpoints (Section 3.4; degrees in the undirected homogenized graph).

    Args:
        graph (Graph): The graph.
        budget (int): The number of edge draws.
        num_layers (int, optional): Blocks per sample. (default: :obj:`2`)
    """

    def __init__(self, graph: Graph, budget: int, num_layers: int = 2) -> None:
        super().__init__(graph, num_layers)
        if self.edge_src.size == 0:
            raise ValueError("the graph has no edges to sample from.")
        w = 1.0 / self.deg[self.edge_src] + 1.0 / self.deg[self.edge_dst]
        self.budget = budget
        self.prob = w / w.sum()
        self._cdf = np.cumsum(w)

    def sample_nodes(self, rng: np.random.Generator) -> np.ndarray:
        e = _draw(self._cdf, self.budget, rng)
        return np.unique(np.concatenate([self.edge_src[e], self.edge_dst[e]]))


class SaintRandomWalkSampler(SaintSampler):
    r"""``num_roots`` random walks of ``walk_length`` steps from uniform roots; keeps every visited node.

    A step goes to a uniform neighbour in the undirected homogenized graph.

    Args:
        graph (Graph): The graph.
        num_roots (int): Walks per sample (:math:`r`).
        walk_length (int): Steps per walk (:math:`h`).
        num_layers (int, optional): Blocks per sample. (default: :obj:`2`)
        roots (Mapping[str, array], optional): Candidate roots per node type,
            e.g. the training nodes. (default: :obj:`None` = every node)
    """

    def __init__(self, graph: Graph, num_roots: int, walk_length: int, num_layers: int = 2,
                 roots: Optional[Mapping[NodeType, np.ndarray]] = None) -> None:
        super().__init__(graph, num_layers)
        self.num_roots, self.walk_length = num_roots, walk_length
        self.roots = np.arange(self.num_nodes, dtype=np.int64) if roots is None else self._global(roots)
        if self.roots.size == 0:
            raise ValueError("no root candidates.")

    def sample_nodes(self, rng: np.random.Generator) -> np.ndarray:
        start = self.roots[rng.integers(0, self.roots.size, self.num_roots)]
        u = rng.random((self.num_roots, self.walk_length))
        return np.unique(random_walks(self.indptr, self.nbr, start, u))


class SaintMultiDimRandomWalkSampler(SaintSampler):
    r"""The multi-dimensional random walk ("frontier") sampler (Ribeiro & Towsley, 2010).

    Starts from a frontier of ``frontier_size`` distinct uniform nodes, then
    ``budget - frontier_size`` times replaces a frontier node :math:`v`, chosen
    with probability :math:`\deg(v) / \sum_{u \in FS} \deg(u)`, by a uniform
    neighbour, which joins the sample. The sample is the initial frontier and
    every node that joined it (the paper's Algorithm 2).

    Args:
        graph (Graph): The graph.
        budget (int): Node draws per sample (:math:`n`), frontier included.
        frontier_size (int): The frontier size (:math:`m`).
        num_layers (int, optional): Blocks per sample. (default: :obj:`2`)
    """

    def __init__(self, graph: Graph, budget: int, frontier_size: int, num_layers: int = 2) -> None:
        super().__init__(graph, num_layers)
        if not 0 < frontier_size <= min(budget, self.num_nodes):
            raise ValueError(f"frontier_size must be in [1, min(budget, num_nodes)], got {frontier_size}.")
        self.budget, self.frontier_size = budget, frontier_size

    def sample_nodes(self, rng: np.random.Generator) -> np.ndarray:
        frontier = rng.choice(self.num_nodes, self.frontier_size, replace=False).astype(np.int64)
        u = rng.random((self.budget - self.frontier_size, 2))
        return np.unique(frontier_walk(self.indptr, self.nbr, frontier, u))
