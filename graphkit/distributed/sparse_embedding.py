"""Learnable node embeddings sharded over the ranks: each rank keeps a slice, rows are fetched per batch.

In one process a featureless node type gets ``nn.Embedding(N, d, sparse=True)``.
Across ranks, a table of ``N x d`` on every rank would cost ``W`` copies and an
all-reduce of every touched row; here each row has one keeper rank
(:mod:`graphkit.distributed.embedding_shards`) and:

1. ``forward`` (:class:`DistEmbeddings`): the distinct IDs of every table are
   sent to their keepers, which answer with the rows; the rows become a fresh
   **leaf tensor requiring grad**, and the batch gets ``leaf[inverse]``.
   One request/response round for all tables, in a fixed table order, so ranks
   whose batches lack a node type still make the same collectives.
2. ``backward`` fills the leaf's ``.grad`` (duplicates already summed by autograd).
3. :class:`graphkit.distributed.sparse_adam.DistSparseAdam` sends ``(ids,
   grad rows)`` to the keepers, which apply Adam to their rows.

The shards are plain tensors, not parameters or buffers: DDP neither broadcasts
nor all-reduces them, and ``model.to(device)`` leaves them in host memory (rows
move to the IDs' device per batch).

Checkpoints: ``state_dict()`` is a collective that gathers every table to
rank 0 under the same key as in one process (``<prefix><ntype>.weight``, global
row order), so a model trained on W ranks loads into a one-process model
(``graphkit infer``) and into any other number of ranks; other ranks get an
empty ``[0, d]`` placeholder and must not write it. ``load_state_dict`` takes
the full table on every rank and keeps its shard.

Where they are used: partitioned training (the input layer's tables come from
:meth:`graphkit.distributed.dist_graph.DistGraph.node_embeddings`, sharded by
partition). Training on the whole graph under torchrun keeps replicated
``nn.Embedding`` tables (:mod:`graphkit.distributed.sparse_sync`), which
one-process and multi-rank inference read directly; ``RangeShards`` (contiguous
rows per rank) is the sharding for that case when tables outgrow a machine.

Every forward with gradients enabled is remembered until the optimizer's next
``step`` (which clears it), so several forwards per step (multi-task) add up.
"""

from __future__ import annotations

import logging
from typing import Mapping, Optional

import numpy as np
import torch
from torch import nn

from graphkit.distributed.context import current
from graphkit.distributed.embedding_shards import RangeShards, Shards, initial_rows, table_seed
from graphkit.distributed.exchange import Exchange
from graphkit.distributed.partition_book import split_by_rank

log = logging.getLogger(__name__)


class DistEmbedding(nn.Module):
    """One node type's table: ``num_nodes x dim``, this rank keeping ``shards.ids``.

    Use it through :class:`DistEmbeddings`, which looks up all tables in one collective.
    """

    def __init__(self, ntype: str, num_nodes: int, dim: int, shards: Shards, exchange: Exchange,
                 std: float, seed: int) -> None:
        super().__init__()
        self.ntype, self.num_nodes, self.dim = ntype, num_nodes, dim
        self.shards, self.exchange = shards, exchange
        self.shard = torch.from_numpy(initial_rows(shards.ids, dim, table_seed(seed, ntype), std))

    def extra_repr(self) -> str:
        return f"'{self.ntype}', {self.num_nodes}, {self.dim}, keeps {self.shard.shape[0]} rows"

    def gather(self, state: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The full table (or a per-row state of the same shape) on rank 0, ``[0, d]`` elsewhere. Collective."""
        local = self.shard if state is None else state
        w = self.exchange.world_size
        ids = [torch.from_numpy(self.shards.ids) if r == 0 else torch.zeros(0, dtype=torch.int64) for r in range(w)]
        rows = [local if r == 0 else local[:0] for r in range(w)]
        got_ids = self.exchange.all_to_all(ids, "gather/ids")
        got_rows = self.exchange.all_to_all(rows, "gather/rows")
        if self.exchange.rank != 0:
            return local.new_zeros(0, self.dim)
        full = local.new_zeros(self.num_nodes, self.dim)
        for i, r in zip(got_ids, got_rows):
            full[i] = r
        return full

    def take_shard(self, full: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a full ``[num_nodes, dim]`` table."""
        if tuple(full.shape) != (self.num_nodes, self.dim):
            raise ValueError(f"embedding table of '{self.ntype}' is {tuple(full.shape)}, expected "
                             f"{(self.num_nodes, self.dim)}")
        return full[torch.from_numpy(self.shards.ids)].to(torch.float32).clone()

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        destination[prefix + "weight"] = self.gather()

    def _load_from_state_dict(self, state_dict: Mapping, prefix: str, local_metadata, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
        key = prefix + "weight"
        if key not in state_dict:
            missing_keys.append(key)
            return
        try:
            self.shard = self.take_shard(state_dict[key])
        except ValueError as e:
            error_msgs.append(str(e))


class DistEmbeddings(nn.ModuleDict):
    """The sharded tables of several node types, looked up together.

    Args:
        num_nodes: ``{node type: number of nodes}``, one table per type.
        dim: embedding width.
        std: initial values ~ N(0, std^2).
        seed: initialisation seed (default: ``torch.initial_seed()``, the run's seed).
        shards: ``{node type: Shards}`` (default: contiguous ranges;
            :meth:`DistGraph.node_embeddings` passes partition shards).

    Creating it creates a process group (collective): do it at the same point on every rank.
    """

    def __init__(self, num_nodes: Mapping[str, int], dim: int, std: float, seed: Optional[int] = None,
                 shards: Optional[Mapping[str, Shards]] = None) -> None:
        super().__init__()
        ctx = current()
        self.exchange = Exchange("embeddings", ctx)
        seed = int(torch.initial_seed()) if seed is None else seed
        for t, n in num_nodes.items():
            s = shards[t] if shards is not None else RangeShards(n, ctx.rank, ctx.world_size)
            self[t] = DistEmbedding(t, n, dim, s, self.exchange, std, seed)
        self.traces: list[tuple[int, np.ndarray, torch.Tensor]] = []  # (table index, distinct IDs, leaf rows)

    def tables(self) -> list[DistEmbedding]:
        return list(self.values())  # type: ignore[arg-type]

    def forward(self, nodes: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{ntype: rows [len(ids), dim]}`` for the types among ``nodes`` that have a table. Collective."""
        tables = self.tables()
        w = self.exchange.world_size
        uniq, inverse, groups = [], [], []
        for tab in tables:
            ids = nodes.get(tab.ntype)
            flat = np.zeros(0, dtype=np.int64) if ids is None else ids.detach().cpu().numpy().astype(np.int64)
            u, inv = np.unique(flat, return_inverse=True)
            uniq.append(u)
            inverse.append(inv)
            groups.append(split_by_rank(tab.shards.keepers(u), w))
        requests = [torch.from_numpy(np.concatenate([np.array([g[r].size for g in groups], dtype=np.int64)]
                                                    + [u[g[r]] for u, g in zip(uniq, groups)])) for r in range(w)]
        answers = self.exchange.request(requests, self._serve, "embeddings")
        grad = torch.is_grad_enabled()
        out: dict[str, torch.Tensor] = {}
        starts = [0] * w
        for k, tab in enumerate(tables):
            rows = torch.empty(uniq[k].size, tab.dim, dtype=torch.float32)
            for r in range(w):
                pos = groups[k][r]
                n = pos.size * tab.dim
                rows[torch.from_numpy(pos)] = answers[r][starts[r]:starts[r] + n].reshape(pos.size, tab.dim)
                starts[r] += n
            ids = nodes.get(tab.ntype)
            if ids is None:
                continue
            leaf = rows.to(ids.device).requires_grad_(grad)
            if grad:
                self.traces.append((k, uniq[k], leaf))
            out[tab.ntype] = leaf[torch.from_numpy(inverse[k]).to(ids.device)]
        return out

    def _serve(self, asker: int, request: torch.Tensor) -> torch.Tensor:
        q = request.numpy()
        tables = self.tables()
        counts, start, rows = q[:len(tables)], len(tables), []
        for tab, n in zip(tables, counts):
            ids = q[start:start + n]
            start += n
            rows.append(tab.shard[torch.from_numpy(tab.shards.rows(ids))].reshape(-1))
        return torch.cat(rows) if rows else torch.zeros(0, dtype=torch.float32)

