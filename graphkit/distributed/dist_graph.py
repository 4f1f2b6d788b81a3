"""A partitioned graph as one rank of a training job sees it: its own partition, global IDs everywhere.

:class:`DistGraph` opens ``parts/partition.json`` (``docs/partition-format.md``)
and this rank's partition, and answers what node tasks ask a
:class:`graphkit.storage.graph.Graph`: ``meta`` with the *whole* graph's
counts, ``node_types``/``edge_types``, ``num_nodes`` (global),
``node_label``/``node_mask`` by global node ID. Masks are True only for nodes
this partition *owns*, so a task's seeds on this rank are its own partition's
(split among the ranks sharing it by :meth:`DistGraph.seed_shard`). Its
factories make the samplers and the feature store that fetch what lives
elsewhere: :meth:`neighbor_sampler` (:class:`DistNeighborSampler`) and
:meth:`feature_store` (:class:`DistFeatureStore`).

What grows with the whole graph on every rank (the rest is this partition's):

- the partition book, 4 bytes per node (memory-mapped ``node_part``);
- ``node_label`` / ``node_mask`` answers: a global-sized array per call
  (label width x N, and 1 byte x N per mask), as tasks index labels by global
  ID. Only the local rows (owned + halo) hold values: other rows are -1 (integer
  labels) or NaN (float labels).

Not supported on partitions (clear errors): edge tasks and link prediction
(``edges``, ``csr``, edge masks and features), whole-graph structure or
features (``csc``, ``node_feature``: GCN degree normalisation,
``construct_feat_ntype``, control-variate training), raw ID maps. For those,
train on the unpartitioned graph directory with ``torchrun`` on one machine.

Global -> local IDs are binary searches in the partition's sorted owned and
halo ID lists: no global-sized map.
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from typing import Any, Mapping, NoReturn, Optional, Sequence

import numpy as np

from graphkit.distributed.context import DistContext, current
from graphkit.distributed.exchange import Exchange, TrafficMeter
from graphkit.distributed.partition_book import PartitionBook, RankLayout
from graphkit.errors import GraphkitError
from graphkit.partition.meta import PARTITION_FILE, read_partition_meta
from graphkit.schema.graph_meta import EdgeType, GraphMeta
from graphkit.storage.graph import Graph, GraphSizes
from graphkit.storage.shared import place_in_shared_memory

log = logging.getLogger(__name__)

def _unsupported(what: str) -> NoReturn:
    raise GraphkitError(f"{what} is not supported on a partitioned graph.",
                        hint="Partitioned training supports node classification and regression. For edge tasks, "
                             "link prediction and whole-graph features, train on the unpartitioned graph "
                             "directory (torchrun --nproc-per-node=N on one machine).")


def partition_root(part_config: str) -> str:
    """The folder of a ``partition.json`` (given as the file or the folder)."""
    root = os.path.dirname(os.path.abspath(part_config)) if os.path.isfile(part_config) else part_config
    if not os.path.exists(os.path.join(root, PARTITION_FILE)):
        raise GraphkitError(f"no {PARTITION_FILE} here.", file=part_config,
                            hint="Create one with `graphkit partition`.")
    return root


def is_partitioned(part_config: str) -> bool:
    """Whether ``part_config`` is a ``partition.json`` (or its folder) of more than one partition."""
    path = part_config if os.path.isfile(part_config) else os.path.join(part_config, PARTITION_FILE)
    if os.path.basename(path) != PARTITION_FILE or not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as f:
        return int(json.load(f).get("num_parts", 1)) > 1


class DistGraph(GraphSizes):
    """This rank's view of a partitioned graph.

    Args:
        part_config: ``partition.json`` or its folder.
        ctx: the job (default: :func:`graphkit.distributed.context.current`).
        shm_root: where partitions shared by a machine's ranks are placed
            (default ``/dev/shm``).
    """

    def __init__(self, part_config: str, ctx: Optional[DistContext] = None, shm_root: Optional[str] = None) -> None:
        self.ctx = ctx or current()
        self.root = partition_root(part_config)
        self.partitions = read_partition_meta(self.root)
        self.layout = RankLayout.of(self.partitions.num_parts, self.ctx)
        with open(os.path.join(self.root, self.partitions.source_graph_meta), encoding="utf-8") as f:
            self.meta: GraphMeta = GraphMeta.from_json(json.load(f), file=self.partitions.source_graph_meta)
        part_dir = self.partitions.part_dir(self.root, self.layout.part_id)
        if self.layout.ranks_per_part > 1:
            part_dir = place_in_shared_memory(part_dir, shm_root)
        self.part = Graph(part_dir)
        info = self.part.meta.partition
        if info is None or info.part_id != self.layout.part_id:
            raise GraphkitError(f"{part_dir} is not partition {self.layout.part_id} of this partitioning.",
                                file=part_dir)
        self.book = PartitionBook(self.root, self.partitions, self.layout)
        self.num_owned = dict(info.num_owned_nodes)
        self.local_to_global = {t: np.asarray(self.part.load(a)) for t, a in info.node_local_to_global.items()}
        self._edge_l2g = {tuple(k.split(",")): np.asarray(self.part.load(a))
                          for k, a in info.edge_local_to_global.items()}
        self.exchange = Exchange("graph", self.ctx)
        self.traffic = TrafficMeter(self.ctx.rank)  # what crosses the network, per batch, logged per phase
        self.traffic.watch(self.exchange)
        self._train_loaders: weakref.WeakSet = weakref.WeakSet()
        log.info("rank %d: partition %d of %d (%s)%s", self.ctx.rank, self.layout.part_id, self.layout.num_parts,
                 ", ".join(f"{t}: {self.num_owned[t]} owned + {len(v) - self.num_owned[t]} halo"
                           for t, v in self.local_to_global.items()),
                 f", shared by {self.layout.ranks_per_part} ranks" if self.layout.ranks_per_part > 1 else "")

    # --- what a Graph answers (types and sizes: GraphSizes) --------------------
    def node_label(self, ntype: str, name: str) -> np.ndarray:
        """A global-sized label array holding this partition's rows (owned + halo); -1 / NaN elsewhere."""
        local = np.asarray(self.part.node_label(ntype, name))
        fill: Any = np.nan if np.issubdtype(local.dtype, np.floating) else (False if local.dtype == bool else -1)
        out = np.full((self.num_nodes(ntype),) + local.shape[1:], fill, dtype=local.dtype)
        out[self.local_to_global[ntype]] = local
        return out

    def node_mask(self, ntype: str, name: str) -> np.ndarray:
        """A global-sized boolean mask, True for the nodes this partition owns and the mask selects."""
        n_own = self.num_owned[ntype]
        out = np.zeros(self.num_nodes(ntype), dtype=bool)
        out[self.local_to_global[ntype][:n_own]] = np.asarray(self.part.node_mask(ntype, name))[:n_own] != 0
        return out

    def seed_shard(self) -> dict[str, int]:
        """``rank``/``world_size`` for seed sources: the ranks sharing this partition split its seeds."""
        return {"rank": self.layout.part_rank, "world_size": self.layout.ranks_per_part}

    @property
    def transforms(self) -> dict:
        return self.part.transforms

    # --- factories the training code picks up ----------------------------------
    def neighbor_sampler(self, fanouts: Any, edge_types: Optional[Sequence[EdgeType]] = None,
                         reverse_types: Optional[Mapping[EdgeType, EdgeType]] = None,
                         static_exclude: Optional[Mapping[EdgeType, np.ndarray]] = None):
        """A :class:`DistNeighborSampler` (``NeighborSampler``'s arguments)."""
        from graphkit.distributed.dist_sampler import DistNeighborSampler

        return DistNeighborSampler(self, fanouts, edge_types, reverse_types, static_exclude)

    def feature_store(self, features: Mapping[str, Sequence[str]], construct: Sequence[str] = (),
                      edge_features: Optional[Mapping[tuple, Sequence[str]]] = None):
        """A :class:`DistFeatureStore` (``FeatureStore``'s arguments, the graph aside)."""
        from graphkit.distributed.dist_features import DistFeatureStore

        return DistFeatureStore(self, features, construct, edge_features)

    def node_embeddings(self, num_nodes: Mapping[str, int], dim: int, std: float):
        """Learnable node embeddings sharded by partition (:class:`DistEmbeddings`); the input layer's tables."""
        from graphkit.distributed.embedding_shards import PartitionShards
        from graphkit.distributed.sparse_embedding import DistEmbeddings

        tables = DistEmbeddings(num_nodes, dim, std, shards={t: PartitionShards(self, t) for t in num_nodes})
        self.traffic.watch(tables.exchange)
        return tables

    def equal_batches(self, loader: Any):
        """A training pipeline padded to as many batches as the longest rank's (a collective)."""
        from graphkit.distributed.equal_batches import EqualBatches

        if len(self._train_loaders):
            raise GraphkitError("partitioned training runs one training task at a time.",
                                hint="Two training pipelines would interleave their collectives. Train the tasks "
                                     "separately, or on the unpartitioned graph directory.")
        n = self.exchange.all_max(len(loader), "train batches")
        out = EqualBatches(loader, n, on_pass=lambda: self.traffic.start("training epoch", n))
        self._train_loaders.add(out)
        return out

    def eval_batches(self, source: Any):
        """An evaluation seed source: all of this rank's batches, padded to the longest rank's (a collective)."""
        from graphkit.distributed.equal_batches import EqualEvalBatches

        n = self.exchange.all_max(len(source), "eval batches")
        if self.traffic._name != "evaluation":
            self.traffic.start("evaluation")
        self.traffic.batches += n
        return EqualEvalBatches(source, n)

    def close(self) -> None:
        """At the end of a run: with a machine's ranks sharing the partition, remove its shared-memory copy
        once all of them are done (every rank calls this)."""
        self.traffic.start(None)
        if self.layout.ranks_per_part > 1:
            self.ctx.barrier()
            if self.layout.part_rank == 0:
                import shutil

                shutil.rmtree(self.part.root, ignore_errors=True)
            self.ctx.barrier()

    # --- IDs --------------------------------------------------------------------
    def to_local(self, ntype: str, gids: np.ndarray) -> np.ndarray:
        """Local IDs of global ``gids`` in this partition (owned or halo); -1 for nodes it does not hold."""
        l2g, n_own = self.local_to_global[ntype], self.num_owned[ntype]
        gids = np.asarray(gids, dtype=np.int64)
        out = np.full(gids.shape, -1, dtype=np.int64)
        for lo, seg in ((0, l2g[:n_own]), (n_own, l2g[n_own:])):
            if seg.size == 0:
                continue
            pos = np.minimum(np.searchsorted(seg, gids), seg.size - 1)
            hit = seg[pos] == gids
            out[hit] = lo + pos[hit]
        return out

    def owned_local(self, ntype: str, gids: np.ndarray) -> np.ndarray:
        """Local IDs of nodes this partition owns; raises if one is not owned."""
        local = self.to_local(ntype, gids)
        bad = (local < 0) | (local >= self.num_owned[ntype])
        if bad.any():
            raise GraphkitError(f"partition {self.layout.part_id} was asked about {int(bad.sum())} node(s) of "
                                f"'{ntype}' it does not own (e.g. {int(np.asarray(gids)[bad][0])}).",
                                hint="The partition book and the partitions disagree: re-run `graphkit partition`.")
        return local

    def edge_local_to_global(self, etype: EdgeType) -> np.ndarray:
        return self._edge_l2g[tuple(etype)]  # type: ignore[index]

    # --- what a partition cannot answer ---------------------------------------------
    def edges(self, etype: EdgeType) -> NoReturn:
        _unsupported("the edge list (edge tasks, link prediction)")

    def csr(self, etype: EdgeType) -> NoReturn:
        _unsupported("out-edge structure (link prediction, edge tasks)")

    def csc(self, etype: EdgeType) -> NoReturn:
        _unsupported("whole-graph in-edge structure (GCN degrees, control_variate, construct_feat_ntype)")

    def edge_mask(self, etype: EdgeType, name: str) -> NoReturn:
        _unsupported("edge masks (edge tasks, link prediction)")

    def edge_feature(self, etype: EdgeType, name: str) -> NoReturn:
        _unsupported("edge features (edge_feat_name)")

    def node_feature(self, ntype: str, name: str) -> NoReturn:
        _unsupported("whole-graph node features (construct_feat_ntype, LM inputs)")

    def id_map(self, ntype: str) -> NoReturn:
        _unsupported("the raw ID map (inference)")

    def load(self, a: Any) -> NoReturn:
        _unsupported("reading whole-graph arrays")
