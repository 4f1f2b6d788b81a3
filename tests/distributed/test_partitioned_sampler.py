"""DistGraph, DistNeighborSampler and DistFeatureStore on a 2-partition toy graph, 2 ranks.

With fanout -1 the sampled blocks must equal, array for array, what the
single-process NeighborSampler gives on the whole graph for the same seeds (seeds
of both partitions on every rank, so half are sampled by the other rank); with a
finite fanout every sampled edge must be a real in-edge and each node gets
min(fanout, in-degree) of them. Features fetched must equal the whole graph's rows.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest
import torch
from ranks import run_ranks

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
from toy_graph import NUM_ITEMS, build_toy_graph  # noqa: E402

from graphkit.distributed.dist_graph import DistGraph  # noqa: E402
from graphkit.distributed.embedding_shards import initial_rows, table_seed  # noqa: E402
from graphkit.errors import GraphkitError  # noqa: E402
from graphkit.loading.features import FeatureStore  # noqa: E402
from graphkit.loading.pipeline import NodeSeeds  # noqa: E402
from graphkit.partition.stage import partition_graph  # noqa: E402
from graphkit.sampling.neighbor import NeighborSampler  # noqa: E402
from graphkit.storage.graph import Graph  # noqa: E402

FEATS = {"user": ["feat"], "item": ["feat"]}


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    base = tmp_path_factory.mktemp("partitioned")
    build_toy_graph(str(base / "graph"))
    partition_graph(str(base / "graph"), str(base / "parts2"), 2, "random", 0)
    partition_graph(str(base / "graph"), str(base / "parts1"), 1, "random", 0)
    return str(base / "graph"), str(base / "parts2"), str(base / "parts1")


def _blocks(sub) -> list:
    return [({t: v.numpy() for t, v in b.src_nodes.items()}, dict(b.num_dst),
             {e: (b.indptr[e].numpy(), b.indices[e].numpy(), b.eids[e].numpy()) for e in b.indptr})
            for b in sub.blocks]


def _rank_job(parts: str) -> dict:
    from graphkit.distributed.context import current

    rank = current().rank
    g = DistGraph(parts)
    seeds = {"item": np.random.default_rng(rank).choice(NUM_ITEMS, 40, replace=False)}
    full = g.neighbor_sampler([-1, -1]).sample_from_nodes(seeds, seed=5)
    x = g.feature_store(FEATS).fetch(full.input_nodes)
    g.exchange.take_traffic()
    sampled = g.neighbor_sampler("3,2").sample_from_nodes(seeds, seed=9)
    g.feature_store(FEATS).fetch(sampled.input_nodes)
    torch.manual_seed(3)
    emb = g.node_embeddings({"user": 200, "item": NUM_ITEMS}, 8, std=0.1)  # sharded by partition
    ids = torch.from_numpy(np.random.default_rng(rank).integers(0, NUM_ITEMS, 30))
    rows = emb({"item": ids})["item"]
    return {"emb": (rows.detach(), emb["item"].shard.shape[0], emb.state_dict()["item.weight"]), "ids": ids,
            "seeds": seeds, "full": _blocks(full), "x": {t: v.numpy() for t, v in x.items()},
            "sampled": _blocks(sampled), "train": np.flatnonzero(g.node_mask("item", "train_mask")),
            "labels": g.node_label("item", "label"), "shard": g.seed_shard(),
            "traffic": {k: vars(v) for k, v in g.exchange.traffic.items()}}


def test_two_ranks_sample_and_fetch_like_the_whole_graph(graphs: tuple[str, str, str]) -> None:
    graph_dir, parts, _ = graphs
    res = run_ranks(_rank_job, 2, os.path.join(parts, "partition.json"))
    whole = Graph(graph_dir)
    sampler, store = NeighborSampler(whole, [-1, -1]), FeatureStore(whole, FEATS)
    owner = np.load(os.path.join(parts, "node_part", "item.npy"))
    for rank, r in enumerate(res):
        assert len(set(owner[r["seeds"]["item"]])) == 2  # seeds of both partitions
        ref = sampler.sample_from_nodes(r["seeds"], seed=5)
        for (src, num_dst, adj), b in zip(r["full"], ref.blocks, strict=True):
            assert list(src) == list(b.src_nodes) and num_dst == b.num_dst and list(adj) == list(b.indptr)
            for t in src:
                np.testing.assert_array_equal(src[t], b.src_nodes[t].numpy())
            for e, arrays in adj.items():
                for got, want in zip(arrays, (b.indptr[e], b.indices[e], b.eids[e])):
                    np.testing.assert_array_equal(got, want.numpy())
        want_x = store.fetch(ref.input_nodes)
        for t in want_x:
            np.testing.assert_array_equal(r["x"][t], want_x[t].numpy())
        # Finite fanout: real in-edges, min(fanout, degree) per dst node, distinct edges.
        for (src, num_dst, adj), fanout in zip(r["sampled"], (3, 2)):
            for e, (ptr, idx, eids) in adj.items():
                s_all, d_all = (np.asarray(a) for a in whole.edges(e))
                dst_nodes = src[e[2]][:num_dst[e[2]]]
                deg = np.diff(np.asarray(whole.csc(e)[0]))[dst_nodes]
                np.testing.assert_array_equal(np.diff(ptr), np.minimum(deg, fanout))
                np.testing.assert_array_equal(s_all[eids], src[e[0]][idx])
                np.testing.assert_array_equal(d_all[eids], np.repeat(dst_nodes, np.diff(ptr)))
                assert all(len(set(eids[a:b])) == b - a for a, b in itertools.pairwise(ptr))
        # Seeds are the rank's own: owned train nodes, labels right where it has them.
        assert (owner[r["train"]] == rank).all()
        labels = np.asarray(whole.node_label("item", "label"))
        np.testing.assert_array_equal(r["labels"][owner == rank], labels[owner == rank])
        assert r["shard"] == {"rank": 0, "world_size": 1}
        t = r["traffic"]
        assert t["sample/ask"]["rounds"] == 2 and t["features/ask"]["rounds"] == 1 and t["sample/answer"]["bytes"] > 0
        # Embedding rows kept by the partition owning the node, initialised independently of the sharding.
        rows, keeps, table = r["emb"]
        init = initial_rows(np.arange(NUM_ITEMS), 8, table_seed(3, "item"), 0.1)
        np.testing.assert_array_equal(rows.numpy(), init[r["ids"].numpy()])
        assert keeps == int((owner == rank).sum())
        assert table.shape == ((NUM_ITEMS, 8) if rank == 0 else (0, 8))
        if rank == 0:
            np.testing.assert_array_equal(table.numpy(), init)
    trains = [r["train"] for r in res]
    assert not set(trains[0]) & set(trains[1])
    np.testing.assert_array_equal(np.sort(np.concatenate(trains)),
                                  np.flatnonzero(np.asarray(whole.node_mask("item", "train_mask"))))


def test_one_partition_in_one_process(graphs: tuple[str, str, str]) -> None:
    graph_dir, _, parts1 = graphs
    g, whole = DistGraph(parts1), Graph(graph_dir)
    assert g.num_nodes("item") == NUM_ITEMS and g.edge_types == whole.edge_types
    np.testing.assert_array_equal(g.node_mask("item", "val_mask"), np.asarray(whole.node_mask("item", "val_mask")) != 0)
    np.testing.assert_array_equal(g.to_local("user", np.array([5, 0, 199])), [5, 0, 199])
    sub = g.neighbor_sampler("4,4").sample_from_nodes({"item": np.arange(10)}, seed=1)
    assert sub.blocks[-1].num_dst["item"] == 10
    x = g.feature_store(FEATS).fetch({"user": torch.tensor([3, 1])})["user"]
    np.testing.assert_array_equal(x.numpy(), np.asarray(whole.node_feature("user", "feat"))[[3, 1]])
    train = g.equal_batches(NodeSeeds({"item": np.arange(10)}, 4))
    assert len(train) == 3
    with pytest.raises(GraphkitError, match="one training task at a time"):
        g.equal_batches(NodeSeeds({"item": np.arange(10)}, 4))


@pytest.mark.parametrize("call", [
    lambda g: g.edges(("user", "rates", "item")),
    lambda g: g.csc(("user", "rates", "item")),
    lambda g: g.feature_store(FEATS, construct=["item"]),
    lambda g: g.feature_store(FEATS, edge_features={("user", "rates", "item"): ["w"]}),
    lambda g: g.neighbor_sampler("2", static_exclude={("user", "rates", "item"): np.arange(3)}),
])
def test_what_partitions_cannot_do_says_so(graphs: tuple[str, str, str], call) -> None:
    with pytest.raises(GraphkitError, match="not supported on a partitioned graph"):
        call(DistGraph(graphs[2]))


def test_ranks_must_match_partitions(graphs: tuple[str, str, str]) -> None:
    with pytest.raises(GraphkitError, match="cannot be trained by 1 rank"):
        DistGraph(graphs[1])
