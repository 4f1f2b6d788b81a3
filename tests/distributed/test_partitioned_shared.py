"""One partition per machine: the machine's ranks share it from shared memory and split its seeds.

Two ranks on one "machine" train on a 1-partition partitioning: both open the
same shared-memory copy, take alternate shares of the seeds, and keep the
embedding rows of alternate node IDs (node ``g`` on local rank ``g % 2``).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from ranks import run_ranks

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
from toy_graph import NUM_ITEMS, build_toy_graph  # noqa: E402

from graphkit.distributed.embedding_shards import initial_rows, table_seed  # noqa: E402
from graphkit.partition.stage import partition_graph  # noqa: E402
from graphkit.storage.graph import Graph  # noqa: E402


def _rank_job(parts: str, shm: str) -> dict:
    from graphkit.distributed.dist_graph import DistGraph
    from graphkit.distributed.sparse_adam import DistSparseAdam

    g = DistGraph(parts, shm_root=shm)
    torch.manual_seed(1)
    emb = g.node_embeddings({"item": NUM_ITEMS}, 4, std=0.5)
    opt = DistSparseAdam(emb, lr=0.1)
    ids = torch.arange(NUM_ITEMS)
    (emb({"item": ids})["item"].sum()).backward()
    opt.step()
    sub = g.neighbor_sampler([-1]).sample_from_nodes({"item": np.arange(5)})
    out = {"root": g.part.root, "shard": g.seed_shard(), "kept": emb["item"].shards.ids,
            "table": emb.state_dict()["item.weight"], "edges": sub.blocks[0].num_edges()}
    g.close()
    out["removed"] = not os.path.exists(out["root"])
    return out


def test_ranks_of_a_machine_share_one_partition(tmp_path) -> None:
    build_toy_graph(str(tmp_path / "graph"))
    partition_graph(str(tmp_path / "graph"), str(tmp_path / "parts"), 1, "random", 0)
    shm = tmp_path / "shm"
    shm.mkdir()
    r0, r1 = run_ranks(_rank_job, 2, str(tmp_path / "parts"), str(shm), local_world_size=2)
    assert r0["root"] == r1["root"] and r0["root"].startswith(str(shm))
    assert r0["removed"] and r1["removed"]  # close() removed the shared copy
    assert (r0["shard"], r1["shard"]) == ({"rank": 0, "world_size": 2}, {"rank": 1, "world_size": 2})
    np.testing.assert_array_equal(r0["kept"], np.arange(0, NUM_ITEMS, 2))
    np.testing.assert_array_equal(r1["kept"], np.arange(1, NUM_ITEMS, 2))
    # Every row got the gradient 1 from both ranks, averaged: Adam's first step moves it by -lr.
    init = initial_rows(np.arange(NUM_ITEMS), 4, table_seed(1, "item"), 0.5)
    np.testing.assert_allclose(r0["table"].numpy(), init - 0.1, atol=1e-6)
    whole = Graph(str(tmp_path / "graph"))
    assert r0["edges"] == r1["edges"] == sum(int(np.diff(np.asarray(whole.csc(e)[0]))[:5].sum())
                                             for e in whole.edge_types if e[2] == "item")

