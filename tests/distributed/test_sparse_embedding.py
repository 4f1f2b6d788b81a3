"""DistEmbeddings + DistSparseAdam update a table exactly as nn.Embedding + torch.optim.SparseAdam.

The 2-rank test runs the same three steps on every rank's own lookups and compares
the gathered table and optimizer state with one process stepping SparseAdam on the
*mean* of the two ranks' gradients (DDP's convention). Gradients are small dyadic
numbers, so sums are exact whatever their order and the tables must be bit-equal.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ranks import run_ranks

from graphkit.distributed.embedding_shards import RangeShards, initial_rows, table_seed
from graphkit.distributed.sparse_adam import DistSparseAdam
from graphkit.distributed.sparse_embedding import DistEmbeddings

N, DIM, STEPS, LR, SEED = 23, 4, 3, 0.05, 7


def _lookups(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s IDs at ``step`` (with duplicates) and the dyadic weights of its loss."""
    rng = np.random.default_rng(100 * rank + step)
    ids = torch.from_numpy(rng.integers(0, N, 9))
    coef = torch.from_numpy(rng.integers(-4, 5, (9, DIM)).astype(np.float32) / 4)
    return ids, coef


def _reference(world: int) -> tuple[torch.nn.Embedding, torch.optim.SparseAdam]:
    """One process, SparseAdam on the mean over ``world`` ranks' losses."""
    emb = torch.nn.Embedding(N, DIM, sparse=True)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(initial_rows(np.arange(N), DIM, table_seed(SEED, "user"), DIM ** -0.5)))
    opt = torch.optim.SparseAdam([emb.weight], lr=LR)
    for step in range(STEPS):
        loss = sum((emb(ids) * coef).sum() for ids, coef in (_lookups(r, step) for r in range(world))) / world
        opt.zero_grad()
        loss.backward()
        opt.step()
    return emb, opt


def _train(shards=None) -> tuple[DistEmbeddings, DistSparseAdam]:
    from graphkit.distributed.context import current

    emb = DistEmbeddings({"user": N}, DIM, std=DIM ** -0.5, seed=SEED, shards=shards)
    opt = DistSparseAdam(emb, lr=LR)
    for step in range(STEPS):
        ids, coef = _lookups(current().rank, step)
        rows = emb({"user": ids})["user"]
        opt.zero_grad()
        (rows * coef).sum().backward()
        opt.step()
    return emb, opt


def test_one_process_matches_sparse_adam() -> None:
    emb, opt = _train()
    ref, ref_opt = _reference(1)
    assert torch.equal(emb.state_dict()["user.weight"], ref.weight.detach())
    assert emb["user"].shard.shape == (N, DIM)
    state = opt.state_dict()
    assert state["state"][0]["step"] == STEPS == ref_opt.state_dict()["state"][0]["step"]
    assert torch.equal(state["state"][0]["exp_avg_sq"], ref_opt.state_dict()["state"][0]["exp_avg_sq"])


def test_initial_rows_do_not_depend_on_sharding() -> None:
    ids = np.arange(50)
    full = initial_rows(ids, 6, np.uint64(3), 0.5)
    assert np.array_equal(full[10:20], initial_rows(ids[10:20], 6, np.uint64(3), 0.5))
    assert abs(float(full.std()) - 0.5) < 0.1 and abs(float(full.mean())) < 0.1
    assert not np.array_equal(full, initial_rows(ids, 6, np.uint64(4), 0.5))


def _two_ranks() -> dict:
    from graphkit.distributed.context import current

    ctx = current()
    emb, opt = _train()
    keeps = emb["user"].shard.shape[0]
    table, state = emb.state_dict()["user.weight"], opt.state_dict()
    # Restore on every rank from rank 0's checkpoint; one more lookup must see the restored rows.
    full = torch.arange(N * DIM, dtype=torch.float32).reshape(N, DIM)
    emb.load_state_dict({"user.weight": full})
    rows = emb({"user": torch.tensor([0, N - 1, 5])})["user"].detach()
    return {"rank": ctx.rank, "keeps": keeps, "table": table, "state": state, "restored": rows,
            "traffic": {k: vars(v) for k, v in emb.exchange.traffic.items()}}


def test_two_ranks_match_sparse_adam_on_mean_gradients() -> None:
    res = run_ranks(_two_ranks, 2)
    ref, ref_opt = _reference(2)
    r0, r1 = res
    assert (r0["keeps"], r1["keeps"]) == (12, 11)  # RangeShards: ceil(23 / 2) rows on rank 0
    assert torch.equal(r0["table"], ref.weight.detach())
    assert r1["table"].shape == (0, DIM)  # only rank 0 holds the gathered table
    ours, theirs = r0["state"]["state"][0], ref_opt.state_dict()["state"][0]
    assert ours["step"] == theirs["step"] == STEPS
    assert torch.equal(ours["exp_avg"], theirs["exp_avg"]) and torch.equal(ours["exp_avg_sq"], theirs["exp_avg_sq"])
    for r in res:
        assert torch.equal(r["restored"], torch.arange(N * DIM, dtype=torch.float32).reshape(N, DIM)[[0, N - 1, 5]])
        assert r["traffic"]["grad/rows"]["rounds"] == STEPS
    # SparseAdam continues from the gathered state exactly as from its own.
    fresh = torch.nn.Embedding(N, DIM, sparse=True)
    with torch.no_grad():
        fresh.weight.copy_(r0["table"])
    opt = torch.optim.SparseAdam([fresh.weight], lr=LR)
    opt.load_state_dict(r0["state"])
    for e, o in ((fresh, opt), (ref, ref_opt)):
        o.zero_grad()
        e(torch.tensor([1, 2, 2])).sum().backward()
        o.step()
    assert torch.equal(fresh.weight, ref.weight)


def test_shards_are_contiguous_ranges() -> None:
    a, b = RangeShards(5, 0, 2), RangeShards(5, 1, 2)
    assert a.ids.tolist() == [0, 1, 2] and b.ids.tolist() == [3, 4]
    assert a.keepers(np.array([4, 0, 3])).tolist() == [1, 0, 1]
    assert b.rows(np.array([4, 3])).tolist() == [1, 0]
    with pytest.raises(ValueError):
        b.rows(np.array([1]))
