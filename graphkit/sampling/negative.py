"""Negative samplers for link prediction.

Given ``B`` positive edges ``(src[i], dst[i])`` of an edge type ``(s, r, d)``,
a sampler returns a :class:`NegativeSample`: corrupted destinations (and, for
evaluation, corrupted sources) as global node IDs of type ``d`` (``s``), in
one of two layouts:

* **per positive** ``[B, K]``: row ``i`` holds the negatives of positive ``i``
  (score ``(src[i], dst[i, j])``);
* **joint** ``[K]``: ``K`` nodes shared by the whole batch, every positive is
  scored against each of them (GraphStorm's joint samplers; the decoder
  computes a ``[B, K]`` score matrix from ``K`` embeddings instead of ``B·K``).

Negatives are drawn with replacement and are not filtered against the graph
(a uniform negative can be a true edge, as in DGL and GraphStorm). Every
sampler is deterministic given ``rng`` (a seed or a ``np.random.Generator``).

GraphStorm's ``train_negative_sampler`` / ``eval_negative_sampler`` names map
to these classes through :func:`build_negative_sampler`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Mapping, Optional, Union

import numpy as np
import torch

from graphkit.errors import ConfigError, GraphkitError, did_you_mean
from graphkit.storage.graph import Graph

EdgeType = tuple[str, str, str]
RngLike = Union[np.random.Generator, int]
IdArray = Union[np.ndarray, torch.Tensor]


@dataclass
class NegativeSample:
    """Negatives of a batch of ``B`` positive edges of one edge type.

    ``dst`` (and ``src``, when sources are corrupted too) is int64, either
    ``[B, K]`` (per positive) or ``[K]`` (joint: shared by the batch).
    """

    dst: torch.Tensor
    src: Optional[torch.Tensor] = None

    @property
    def joint(self) -> bool:
        return self.dst.dim() == 1

    def per_positive(self, num_pos: int) -> "NegativeSample":
        """The same negatives in the ``[B, K]`` layout (a joint sample broadcast, as a view)."""
        def expand(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None or t.dim() == 2 else t.unsqueeze(0).expand(num_pos, -1)

        return NegativeSample(expand(self.dst), expand(self.src))  # type: ignore[arg-type]


def _ids(x: IdArray) -> np.ndarray:
    a = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return a.astype(np.int64, copy=False).reshape(-1)


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def in_batch_index(num_pos: int) -> np.ndarray:
    """``[B, B-1]`` positions of the in-batch negatives: row ``i`` is ``0..B-1`` without ``i``.

    Equivalently, the off-diagonal of a ``B x B`` score matrix: column ``j`` of
    row ``i`` is positive ``j`` if ``j < i``, else positive ``j + 1``.
    """
    if num_pos < 2:
        return np.empty((num_pos, 0), dtype=np.int64)
    j = np.arange(num_pos - 1, dtype=np.int64)[None, :]
    return j + (j >= np.arange(num_pos, dtype=np.int64)[:, None])


class NegativeSampler(ABC):
    r"""Draws negatives for positive edges of any edge type.

    Args:
        num_nodes (Mapping[str, int]): The number of nodes of every node type.
        k (int): The number of negatives per positive edge (``K``).
        corrupt_src (bool, optional): Also corrupt the sources, as GraphStorm's
            evaluation does (each positive is ranked against ``K`` corrupted
            sources and ``K`` corrupted destinations). (default: :obj:`False`)
    """

    def __init__(self, num_nodes: Mapping[str, int], k: int, corrupt_src: bool = False) -> None:
        if k < 0:
            raise ConfigError(f"the number of negatives must be >= 0, got {k}.")
        self.num_nodes = dict(num_nodes)
        self.k = int(k)
        self.corrupt_src = corrupt_src

    def __call__(self, etype: EdgeType, src: IdArray, dst: IdArray, eids: Optional[IdArray] = None, *,
                 rng: RngLike) -> NegativeSample:
        """Negatives of the positives ``(src[i], dst[i])`` (edge IDs ``eids``, needed by hard negatives)."""
        s, d = _ids(src), _ids(dst)
        if s.shape != d.shape:
            raise ValueError(f"src and dst differ in length ({s.size} vs {d.size}).")
        e = None if eids is None else _ids(eids)
        gen = np.random.default_rng(rng)
        neg_dst = self._corrupt(etype, etype[2], d, e, gen)
        neg_src = self._corrupt(etype, etype[0], s, e, gen) if self.corrupt_src else None
        return NegativeSample(_tensor(neg_dst), None if neg_src is None else _tensor(neg_src))

    @abstractmethod
    def _corrupt(self, etype: EdgeType, ntype: str, pos: np.ndarray, eids: Optional[np.ndarray],
                 rng: np.random.Generator) -> np.ndarray:
        """Negatives replacing the ``pos`` endpoints (of node type ``ntype``)."""

    def _n(self, ntype: str) -> int:
        n = self.num_nodes[ntype]
        if n == 0:
            raise GraphkitError(f"cannot draw negatives of node type '{ntype}': it has no nodes.")
        return n

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k}, corrupt_src={self.corrupt_src})"


class UniformNegativeSampler(NegativeSampler):
    r"""``K`` negatives per positive, uniform over all nodes of the type: ``[B, K]``."""

    def _corrupt(self, etype, ntype, pos, eids, rng):
        return rng.integers(0, self._n(ntype), size=(pos.size, self.k), dtype=np.int64)


class JointNegativeSampler(NegativeSampler):
    r"""``K`` uniform negatives shared by the whole batch: ``[K]``.

    Each positive still sees ``K`` uniform negatives, so its loss has the same
    expectation as with :class:`UniformNegativeSampler`, at ``K`` instead of
    ``B·K`` extra nodes per batch.
    """

    def _corrupt(self, etype, ntype, pos, eids, rng):
        return rng.integers(0, self._n(ntype), size=self.k, dtype=np.int64)


class _PoolMixin:
    pool: dict[str, np.ndarray]

    def __init__(self, num_nodes: Mapping[str, int], k: int, pool: Mapping[str, IdArray],
                 corrupt_src: bool = False) -> None:
        super().__init__(num_nodes, k, corrupt_src)  # type: ignore[call-arg]
        self._set_pool(pool, num_nodes)

    def _set_pool(self, pool: Mapping[str, IdArray], num_nodes: Mapping[str, int]) -> None:
        self.pool = {}
        for t, ids in pool.items():
            a = _ids(ids)
            if t not in num_nodes:
                raise GraphkitError(f"negative-sampling pool for unknown node type '{t}'.")
            if a.size == 0:
                raise GraphkitError(f"the negative-sampling pool of node type '{t}' is empty.")
            if a.min() < 0 or a.max() >= num_nodes[t]:
                raise GraphkitError(f"the negative-sampling pool of node type '{t}' has IDs outside "
                                    f"[0, {num_nodes[t]}).")
            self.pool[t] = a

    def _from_pool(self, ntype: str, size: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        if ntype not in self.pool:
            raise GraphkitError(f"no local negative-sampling pool for node type '{ntype}'.",
                                hint=f"Pools given for: {', '.join(sorted(self.pool)) or 'none'}.")
        p = self.pool[ntype]
        return p[rng.integers(0, p.size, size=size, dtype=np.int64)]


class LocalUniformNegativeSampler(_PoolMixin, NegativeSampler):
    r"""``K`` negatives per positive, uniform over a pool of allowed nodes: ``[B, K]``.

    GraphStorm's ``localuniform``: the pool is the nodes this trainer's
    partition owns, so negatives need no remote feature fetch.

    Args:
        pool (Mapping[str, array]): Allowed negative node IDs of each node type.
    """

    def _corrupt(self, etype, ntype, pos, eids, rng):
        return self._from_pool(ntype, (pos.size, self.k), rng)


class LocalJointNegativeSampler(_PoolMixin, NegativeSampler):
    r"""``K`` negatives shared by the batch, uniform over a pool of allowed nodes: ``[K]``.

    GraphStorm's ``localjoint``.

    Args:
        pool (Mapping[str, array]): Allowed negative node IDs of each node type.
    """

    def _corrupt(self, etype, ntype, pos, eids, rng):
        return self._from_pool(ntype, (self.k,), rng)


class InBatchNegativeSampler(NegativeSampler):
    r"""The other positives' destinations as negatives, plus ``K`` joint uniform ones.

    Returns the per-positive layout ``[B, K + B - 1]``: the first ``K`` columns
    are the same ``K`` uniform nodes in every row (joint), then row ``i`` holds
    ``dst[j]`` for every ``j != i`` in batch order (see :func:`in_batch_index`).
    ``k=0`` is pure in-batch sampling (``[B, B - 1]``); ``k>0`` is GraphStorm's
    ``inbatch_joint``. A destination repeated in the batch is a false negative
    for the positives that share it; like GraphStorm, it is not removed.
    """

    def _corrupt(self, etype, ntype, pos, eids, rng):
        b = pos.size
        joint = rng.integers(0, self._n(ntype), size=self.k, dtype=np.int64)
        return np.concatenate([np.broadcast_to(joint, (b, self.k)), pos[in_batch_index(b)]], axis=1)


class HardNegativeSampler(NegativeSampler):
    r"""Hard negatives of each positive edge first, the rest from a base sampler.

    The hard negatives of edge ``e`` are row ``e`` of an edge feature made by
    the ``edge_dst_hard_negative`` transform (int64 ``[E, M]`` destination IDs,
    padded with ``-1``). Row ``i`` of the result holds ``min(num_hard, K, h_i)``
    of positive ``i``'s ``h_i`` hard negatives, in random order, followed by the
    base sampler's negatives (broadcast if the base is joint): ``[B, K]``.
    Padding is never returned. Edge types without hard negatives use the base
    sampler alone. This is GraphStorm's ``GSHardEdgeDstNegativeSampler``.

    Args:
        base (NegativeSampler): Fills the columns that hard negatives do not.
        hard (Mapping[EdgeType, np.ndarray]): The hard-negative feature of each
            edge type (see :func:`hard_negative_arrays`).
        num_hard (int or Mapping[EdgeType, int], optional): The most hard
            negatives per positive. (default: :obj:`None` = ``K``)
    """

    def __init__(self, base: NegativeSampler, hard: Mapping[EdgeType, np.ndarray],
                 num_hard: Union[int, Mapping[EdgeType, int], None] = None) -> None:
        super().__init__(base.num_nodes, base.k, base.corrupt_src)
        self.base = base
        self.hard = {tuple(e): a for e, a in hard.items()}
        for e, a in self.hard.items():
            if a.ndim != 2:
                raise GraphkitError(f"hard negatives of {','.join(e)} must be a 2-D [edges, max] array.")
        self.num_hard = num_hard

    def _max_hard(self, etype: EdgeType) -> int:
        if self.num_hard is None:
            return self.k
        if isinstance(self.num_hard, int):
            return self.num_hard
        return int(self.num_hard.get(etype, 0))

    def _corrupt(self, etype, ntype, pos, eids, rng):
        neg = self.base._corrupt(etype, ntype, pos, eids, rng)
        table = self.hard.get(tuple(etype))
        if ntype != etype[2] or table is None or self._max_hard(etype) <= 0:
            return neg  # sources are never hard-corrupted
        if eids is None:
            raise ValueError(f"hard negatives of {','.join(etype)} need the positives' edge IDs.")
        neg = np.array(np.broadcast_to(neg, (pos.size, self.k)) if neg.ndim == 1 else neg)
        cand = np.asarray(table[eids], dtype=np.int64).reshape(pos.size, -1)  # [B, M]
        keys = rng.random(cand.shape)
        keys[cand < 0] = np.inf  # padding sorts last
        cand = np.take_along_axis(cand, np.argsort(keys, axis=1, kind="stable"), axis=1)
        width = min(cand.shape[1], self.k)
        take = np.minimum((cand >= 0).sum(axis=1), min(self._max_hard(etype), self.k))
        fill = np.arange(width)[None, :] < take[:, None]
        neg[:, :width][fill] = cand[:, :width][fill]
        return neg

    def __repr__(self) -> str:
        return f"HardNegativeSampler(base={self.base!r}, num_hard={self.num_hard})"


class FixedNegativeSampler(NegativeSampler):
    r"""Predefined negatives for evaluation: row ``e`` of the hard-negative feature, ``[B, M]``.

    GraphStorm's evaluation with ``eval_etypes_negative_dstnode``: every positive
    must have all ``M`` negatives (no ``-1`` padding). ``k`` is ignored.
    """

    def __init__(self, num_nodes: Mapping[str, int], fixed: Mapping[EdgeType, np.ndarray]) -> None:
        super().__init__(num_nodes, 0, corrupt_src=False)
        self.fixed = {tuple(e): a for e, a in fixed.items()}

    def _corrupt(self, etype, ntype, pos, eids, rng):
        table = self.fixed.get(tuple(etype))
        if table is None:
            raise GraphkitError(f"edge type {','.join(etype)} has no predefined negatives.")
        if eids is None:
            raise ValueError(f"predefined negatives of {','.join(etype)} need the positives' edge IDs.")
        neg = np.asarray(table[eids], dtype=np.int64).reshape(pos.size, -1)
        if (neg < 0).any():
            raise GraphkitError(f"some edges of {','.join(etype)} have fewer predefined negatives than "
                                f"{neg.shape[1]} (padding -1).",
                                hint="Evaluation with fixed negatives needs the same number for every edge.")
        return neg


# --- names ------------------------------------------------------------------------

# GraphStorm's train_negative_sampler values -> ours. The all_etype_* variants only
# change batching (at least one positive of every edge type per batch: the loader's
# job, see ALL_ETYPE_NEGATIVE_SAMPLERS); fast_* only change how neighbour sampling
# applies the edge mask. Hard negatives are not a name in GraphStorm: they wrap the
# sampler when train_etypes_negative_dstnode is set (pass ``hard=`` here).
TRAIN_NEGATIVE_SAMPLERS: dict[str, str] = {
    "uniform": "uniform", "joint": "joint", "inbatch_joint": "inbatch_joint",
    "localuniform": "local_uniform", "localjoint": "local_joint",
    "all_etype_uniform": "uniform", "all_etype_joint": "joint",
    "fast_uniform": "uniform", "fast_joint": "joint",
    "fast_localuniform": "local_uniform", "fast_localjoint": "local_joint",
    # graphkit's own spellings
    "local_uniform": "local_uniform", "local_joint": "local_joint", "in_batch": "in_batch",
}
# GraphStorm's eval_negative_sampler values; "fixed" is what eval_etypes_negative_dstnode selects.
EVAL_NEGATIVE_SAMPLERS: dict[str, str] = {"uniform": "uniform", "joint": "joint", "fixed": "fixed"}
ALL_ETYPE_NEGATIVE_SAMPLERS = frozenset({"all_etype_uniform", "all_etype_joint"})


def build_negative_sampler(name: str, num_nodes: Mapping[str, int], k: int, *, evaluation: bool = False,
                           pool: Optional[Mapping[str, IdArray]] = None,
                           hard: Optional[Mapping[EdgeType, np.ndarray]] = None,
                           num_hard: Union[int, Mapping[EdgeType, int], None] = None) -> NegativeSampler:
    r"""The negative sampler a GraphStorm (or graphkit) sampler name stands for.

    Args:
        name (str): A ``train_negative_sampler`` (or, with ``evaluation``, an
            ``eval_negative_sampler``) value, see :data:`TRAIN_NEGATIVE_SAMPLERS`.
        num_nodes (Mapping[str, int]): The number of nodes of every node type.
        k (int): Negatives per positive (``num_negative_edges[_eval]``).
        evaluation (bool, optional): Build an evaluation sampler, which
            corrupts sources and destinations. (default: :obj:`False`)
        pool (Mapping[str, array], optional): Allowed negatives per node type,
            required by the local samplers. (default: :obj:`None`)
        hard (Mapping[EdgeType, np.ndarray], optional): Hard-negative features;
            in training they wrap the sampler in :class:`HardNegativeSampler`,
            ``fixed`` evaluation reads them. (default: :obj:`None`)
        num_hard (int or Mapping[EdgeType, int], optional): The most hard
            negatives per positive (``num_train_hard_negatives``). (default: :obj:`None` = ``k``)
    """
    names = EVAL_NEGATIVE_SAMPLERS if evaluation else TRAIN_NEGATIVE_SAMPLERS
    key = "eval_negative_sampler" if evaluation else "train_negative_sampler"
    if name not in names:
        raise ConfigError(f"unknown {'evaluation' if evaluation else 'training'} negative sampler '{name}'.",
                          key=key, hint=did_you_mean(name, names))
    kind = names[name]
    if kind == "fixed":
        if hard is None:
            raise ConfigError("the 'fixed' evaluation negative sampler needs predefined negatives.", key=key,
                              hint="Set eval_etypes_negative_dstnode to an edge_dst_hard_negative feature.")
        return FixedNegativeSampler(num_nodes, hard)
    if k < 1 and kind in ("uniform", "joint", "local_uniform", "local_joint"):
        raise ConfigError(f"the '{name}' negative sampler needs at least one negative per positive, got {k}.",
                          key="num_negative_edges_eval" if evaluation else "num_negative_edges")
    if kind in ("local_uniform", "local_joint") and pool is None:
        raise ConfigError(f"the '{name}' negative sampler needs a pool of local nodes per node type.", key=key)
    sampler: NegativeSampler
    if kind == "uniform":
        sampler = UniformNegativeSampler(num_nodes, k, corrupt_src=evaluation)
    elif kind == "joint":
        sampler = JointNegativeSampler(num_nodes, k, corrupt_src=evaluation)
    elif kind == "local_uniform":
        sampler = LocalUniformNegativeSampler(num_nodes, k, pool)  # type: ignore[arg-type]
    elif kind == "local_joint":
        sampler = LocalJointNegativeSampler(num_nodes, k, pool)  # type: ignore[arg-type]
    elif kind == "in_batch":
        sampler = InBatchNegativeSampler(num_nodes, 0)
    else:
        sampler = InBatchNegativeSampler(num_nodes, k)
    if hard is not None and not evaluation:
        sampler = HardNegativeSampler(sampler, hard, num_hard)
    return sampler


def hard_negative_arrays(graph: Graph, field: Union[str, Mapping[EdgeType, str]]) -> dict[EdgeType, np.ndarray]:
    """The (memory-mapped) hard-negative features of a graph: one name for every edge type
    that has it, or a name per edge type (GraphStorm's ``train_etypes_negative_dstnode``)."""
    if isinstance(field, str):
        return {e: graph.edge_feature(e, field) for e in graph.edge_types
                if field in graph.meta.edge_type(e).features and graph.meta.edge_type(e).reverse_of is None}
    return {tuple(e): graph.edge_feature(tuple(e), f) for e, f in field.items()}  # type: ignore[misc]
