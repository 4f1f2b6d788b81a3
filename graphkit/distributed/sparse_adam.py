"""Adam for sharded node embeddings: gradient rows travel to their keepers, which update their rows.

``DistSparseAdam(embeddings, lr)`` is to :class:`DistEmbeddings` what
``torch.optim.SparseAdam`` is to ``nn.Embedding(sparse=True)``, and computes
the same update: on each step, for every table, every rank sends the IDs and
gradient rows of the lookups since the last step to the rows' keepers; a keeper
sums the rows of each ID (from all ranks) and applies Adam to those rows only
(lazy Adam: untouched rows and their moments do not move), with the table's
step count and bias corrections exactly as SparseAdam's.

**Gradient scale.** DDP *averages* dense gradients over the ranks, i.e. it
descends on the mean of the ranks' losses. To descend on the same objective,
the embedding gradients are averaged too: each rank's rows are divided by the
world size before they are summed at the keeper. W ranks stepping on their own
batches therefore update a table exactly as one process whose gradient is the
mean of the ranks' gradients (tests/distributed/test_sparse_embedding.py).

A table's step count advances when any rank looked it up with gradients
(SparseAdam advances when the parameter has a gradient).

``step`` is a collective (every rank calls it, also with nothing to send);
``zero_grad`` does nothing, since lookups are fresh leaf tensors and ``step``
forgets them. ``state_dict`` (collective) gathers the moments to rank 0 in
SparseAdam's own format, full tables in global row order, so an optimizer
state moves between world sizes and to and from ``torch.optim.SparseAdam``;
``load_state_dict`` keeps this rank's rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from graphkit.distributed.partition_book import split_by_rank
from graphkit.distributed.sparse_embedding import DistEmbeddings


class DistSparseAdam:
    """Lazy Adam over the tables of a :class:`DistEmbeddings`.

    Args:
        embeddings: the tables to update.
        lr, betas, eps: as in ``torch.optim.SparseAdam`` (defaults 1e-3, (0.9, 0.999), 1e-8).
    """

    def __init__(self, embeddings: DistEmbeddings, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if not 0.0 < lr:
            raise ValueError(f"invalid learning rate: {lr}")
        self.embeddings = embeddings
        self.exchange = embeddings.exchange
        self.param_groups = [{"lr": float(lr), "betas": tuple(betas), "eps": float(eps), "maximize": False}]
        tables = embeddings.tables()
        self.steps = [0] * len(tables)
        self.exp_avg = [torch.zeros_like(t.shard) for t in tables]
        self.exp_avg_sq = [torch.zeros_like(t.shard) for t in tables]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to do: each lookup is a fresh leaf, and ``step`` forgets the lookups it applied."""

    @torch.no_grad()
    def step(self) -> None:
        """Send this rank's gradient rows to their keepers and update the rows kept here. Collective."""
        tables = self.embeddings.tables()
        w = self.exchange.world_size
        traces, self.embeddings.traces = self.embeddings.traces, []
        ids: list[np.ndarray] = []
        grads: list[torch.Tensor] = []
        used = torch.zeros(len(tables), dtype=torch.int64)
        for k, tab in enumerate(tables):
            mine = [(u, leaf.grad) for j, u, leaf in traces if j == k and leaf.grad is not None]
            used[k] = len(mine)
            ids.append(np.concatenate([u for u, _ in mine]) if mine else np.zeros(0, dtype=np.int64))
            g = torch.cat([x.detach().to("cpu", torch.float32) for _, x in mine]) if mine \
                else torch.zeros(0, tab.dim)
            grads.append(g / w)  # DDP averages dense gradients over ranks; so do we
        if w > 1:
            dist.all_reduce(used, group=self.exchange.group)
        groups = [split_by_rank(tab.shards.keepers(i), w) for tab, i in zip(tables, ids)]
        id_msgs = [torch.from_numpy(np.concatenate([np.array([g[r].size for g in groups], dtype=np.int64)]
                                                   + [i[g[r]] for i, g in zip(ids, groups)])) for r in range(w)]
        row_msgs = [torch.cat([x[torch.from_numpy(g[r])].reshape(-1) for x, g in zip(grads, groups)]
                              + [torch.zeros(0)]) for r in range(w)]
        got_ids = self.exchange.all_to_all(id_msgs, "grad/ids")
        got_rows = self.exchange.all_to_all(row_msgs, "grad/rows")
        received: list[list[tuple[np.ndarray, torch.Tensor]]] = [[] for _ in tables]
        for q, rows in zip(got_ids, got_rows):
            q = q.numpy()
            start, row_start = len(tables), 0
            for k, tab in enumerate(tables):
                n = int(q[k])
                received[k].append((q[start:start + n], rows[row_start:row_start + n * tab.dim].reshape(n, tab.dim)))
                start += n
                row_start += n * tab.dim
        for k, tab in enumerate(tables):
            if int(used[k]) == 0:
                continue
            self.steps[k] += 1
            gid = np.concatenate([i for i, _ in received[k]])
            if gid.size == 0:
                continue
            g = torch.cat([r for _, r in received[k]])
            rows, inverse = np.unique(tab.shards.rows(gid), return_inverse=True)
            summed = torch.zeros(rows.size, tab.dim).index_add_(0, torch.from_numpy(inverse), g)
            self._adam(k, torch.from_numpy(rows), summed)

    def _adam(self, k: int, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """``torch.optim._functional.sparse_adam`` on the distinct ``rows`` of table ``k``, same operations."""
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        m, v, w = self.exp_avg[k], self.exp_avg_sq[k], self.embeddings.tables()[k].shard
        old_m, old_v = m[rows], v[rows]
        upd_m = grad.sub(old_m).mul_(1 - beta1)
        upd_v = grad.pow(2).sub_(old_v).mul_(1 - beta2)
        m[rows] = old_m + upd_m
        v[rows] = old_v + upd_v
        numer = upd_m.add_(old_m)
        denom = upd_v.add_(old_v).sqrt_().add_(group["eps"])
        step = self.steps[k]
        step_size = group["lr"] * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
        w[rows] = w[rows] + (-step_size * numer.div_(denom))

    # --- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """SparseAdam's format with full moment tables (on rank 0; empty rows elsewhere). Collective."""
        state = {}
        for k, tab in enumerate(self.embeddings.tables()):
            m, v = tab.gather(self.exp_avg[k]), tab.gather(self.exp_avg_sq[k])
            if self.steps[k]:
                state[k] = {"step": self.steps[k], "exp_avg": m, "exp_avg_sq": v}
        group = dict(self.param_groups[0], params=list(range(len(self.steps))))
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Full moment tables (this optimizer's or SparseAdam's ``state_dict``); this rank keeps its rows."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.steps):
            raise ValueError(f"optimizer state for {sum(len(g['params']) for g in groups)} table(s), "
                             f"expected {len(self.steps)}")
        g = groups[0]
        self.param_groups[0].update(lr=float(g["lr"]), betas=tuple(g["betas"]), eps=float(g["eps"]))
        for k, tab in enumerate(self.embeddings.tables()):
            s = state_dict["state"].get(k) or state_dict["state"].get(str(k))
            if s is None:
                self.steps[k] = 0
                self.exp_avg[k].zero_()
                self.exp_avg_sq[k].zero_()
                continue
            self.steps[k] = int(s["step"])
            self.exp_avg[k] = tab.take_shard(s["exp_avg"])
            self.exp_avg_sq[k] = tab.take_shard(s["exp_avg_sq"])
