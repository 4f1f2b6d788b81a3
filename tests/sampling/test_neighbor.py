"""Neighbour sampler, edge-seed sampler and loading pipeline on tiny hand-built graphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphkit.errors import ConfigError
from graphkit.loading import EdgeSeeds, FeatureStore, NodeSeeds
from graphkit.sampling.edges import EdgeSeedSampler
from graphkit.sampling.fanout import parse_fanout
from graphkit.sampling.negative import UniformNegativeSampler
from graphkit.sampling.neighbor import NeighborSampler, layerwise_batches
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph

RATES = ("user", "rates", "item")
REV = ("item", "rates-rev", "user")


@pytest.fixture()
def bipartite(tmp_path) -> Graph:
    """6 users, 4 items; item i is rated by users listed below (edge IDs in order)."""
    src = np.array([0, 1, 2, 3, 4, 5, 0, 1, 2, 0, 3, 5])
    dst = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    feats = {"user": {"f": np.arange(12, dtype=np.float32).reshape(6, 2)},
             "item": {"f": 100 + np.arange(4, dtype=np.float32).reshape(4, 1)}}
    graph_from_arrays(str(tmp_path / "g"), {"user": 6, "item": 4}, {RATES: (src, dst)}, node_features=feats,
                      add_reverse_edges=True)
    return Graph(str(tmp_path / "g"))


def _edges_of(block, etype, graph):
    """Global (src, dst, eid) triples of a block's edges."""
    ei = block.edge_index(etype)
    s = block.src_nodes[etype[0]][ei[0]]
    d = block.src_nodes[etype[2]][ei[1]]
    return list(zip(s.tolist(), d.tolist(), block.eids[etype].tolist()))


def test_fanout_respected_no_duplicates_and_edges_real(bipartite):
    g = bipartite
    src, dst = (np.asarray(a) for a in g.edges(RATES))
    sampler = NeighborSampler(g, [2], edge_types=[RATES])
    for seed in range(20):
        block = sampler.sample_from_nodes({"item": np.array([0, 1, 2, 3])}, seed=seed).blocks[0]
        counts = block.indptr[RATES].diff().tolist()
        assert counts == [2, 2, 2, 0]  # min(fanout, in-degree)
        triples = _edges_of(block, RATES, g)
        for s, d, e in triples:
            assert (src[e], dst[e]) == (s, d)  # every sampled edge is a real edge with its own ID
        for item in range(3):
            eids = [e for s, d, e in triples if d == item]
            assert len(set(eids)) == len(eids)  # without replacement
        # dst nodes come first among an item's local nodes, in seed order
        assert block.dst_nodes("item").tolist() == [0, 1, 2, 3]


def test_all_neighbours_and_uniformity(bipartite):
    g = bipartite
    block = NeighborSampler(g, [-1], edge_types=[RATES]).sample_from_nodes({"item": np.array([0, 2])}).blocks[0]
    assert sorted(e for _, _, e in _edges_of(block, RATES, g)) == [0, 1, 2, 3, 4, 5, 9, 10, 11]
    # Uniform without replacement: each of item 0's six in-edges is drawn with probability 2/6.
    sampler = NeighborSampler(g, [2], edge_types=[RATES])
    hits = np.zeros(6)
    n = 3000
    for seed in range(n):
        b = sampler.sample_from_nodes({"item": np.array([0])}, seed=seed).blocks[0]
        hits[b.eids[RATES].numpy()] += 1
    assert np.allclose(hits / n, 2 / 6, atol=0.03)


def test_deterministic_given_seed(bipartite):
    sampler = NeighborSampler(bipartite, "2,2")
    a = sampler.sample_from_nodes({"item": np.array([0, 1])}, seed=7)
    b = sampler.sample_from_nodes({"item": np.array([0, 1])}, seed=7)
    c = sampler.sample_from_nodes({"item": np.array([0, 1])}, seed=8)
    same = [torch.equal(x.eids[e], y.eids[e]) for x, y in zip(a.blocks, b.blocks) for e in x.eids]
    assert all(same)
    assert any(not torch.equal(x.eids[e], y.eids[e]) for x, y in zip(a.blocks, c.blocks) for e in x.eids)


def test_two_layers_relabel_and_chain(bipartite):
    g = bipartite
    sub = NeighborSampler(g, "-1,-1").sample_from_nodes({"item": np.array([1])})
    first, last = sub.blocks
    # Layer 2 (output): item 1 <- users 0, 1, 2.
    assert last.dst_nodes("item").tolist() == [1]
    assert sorted(last.src_nodes["user"].tolist()) == [0, 1, 2]
    # The input block's dst nodes are exactly the output block's src nodes, in the same order.
    for t in last.src_nodes:
        assert first.dst_nodes(t).tolist() == last.src_nodes[t].tolist()
    # Layer 1: users 0,1,2 <- items they rated (via the reverse type), item 1 <- users 0,1,2.
    rev_edges = _edges_of(first, REV, g)
    assert sorted((s, d) for s, d, _ in rev_edges) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]
    assert sub.seeds == {"item": torch.tensor([1])}


def test_per_etype_fanout_parsing(bipartite):
    layers = parse_fanout("rates:3@rates-rev:1,rates:2", bipartite.edge_types)
    assert layers == [{RATES: 3, REV: 1}, {RATES: 2, REV: 0}]
    assert parse_fanout("5,-1", [RATES]) == [{RATES: 5}, {RATES: -1}]
    assert parse_fanout("user,rates,item:4", bipartite.edge_types) == [{RATES: 4, REV: 0}]
    with pytest.raises(ConfigError, match="not an edge type"):
        parse_fanout("ratez:3", bipartite.edge_types)
    with pytest.raises(ConfigError, match="invalid"):
        parse_fanout("-2", bipartite.edge_types)


def test_excluded_edges_absent_in_both_directions(bipartite):
    g = bipartite
    sampler = NeighborSampler(g, "-1,-1")
    excluded = np.array([0, 6, 9])  # user 0's ratings of items 0, 1, 2
    sub = sampler.sample_from_nodes({"item": np.array([0, 1, 2]), "user": np.array([0])},
                                    exclude_eids={RATES: excluded})
    for block in sub.blocks:
        for e in block.eids:
            assert not set(block.eids[e].tolist()) & set(excluded.tolist()), e
    # The exclusion is undone afterwards.
    again = sampler.sample_from_nodes({"item": np.array([0])})
    assert 0 in again.blocks[-1].eids[RATES].tolist()


def test_edge_seed_sampler_positions_and_exclusion(bipartite):
    g = bipartite
    es = EdgeSeedSampler(NeighborSampler(g, "-1"))
    neg = np.array([[3, 2], [1, 3]])
    batch = es.sample_from_edges(RATES, np.array([6, 10]), seed=0, neg_dst=neg)
    seeds = batch.subgraph.seeds
    assert seeds["user"][batch.src_index].tolist() == [0, 3]
    assert seeds["item"][batch.dst_index].tolist() == [1, 2]
    assert seeds["item"][batch.neg_dst_index].tolist() == neg.tolist()
    block = batch.subgraph.blocks[0]
    for e in block.eids:
        assert not {6, 10} & set(block.eids[e].tolist())


def test_layerwise_batches_cover_every_edge_once(bipartite):
    g = bipartite
    seen = {e: [] for e in g.edge_types}
    nodes = {t: [] for t in g.node_types}
    for t, ids, block in layerwise_batches(g, batch_size=3):
        nodes[t].extend(ids.tolist())
        for e in block.eids:
            seen[e].extend(block.eids[e].tolist())
    assert nodes == {"user": list(range(6)), "item": list(range(4))}
    for e in g.edge_types:
        assert sorted(seen[e]) == list(range(g.num_edges(e)))


def test_pipeline_nodes_features_prefetch_deterministic(bipartite):
    g = bipartite
    store = FeatureStore(g, {"user": ["f"], "item": ["f"]})

    def run(depth):
        loader = (NodeSeeds({"item": np.arange(4)}, batch_size=3, shuffle=True, seed=1)
                  .sample(NeighborSampler(g, "2,2")).fetch(store).prefetch(depth))
        out, last = [], None
        for epoch in range(2):
            loader.set_epoch(epoch)
            batches = list(loader)
            out.append([(mb.seeds["item"].tolist(), [b.eids[e].tolist() for b in mb.subgraph.blocks for e in b.eids])
                        for mb in batches])
            last = batches[-1]
        return out, last

    plain, mb = run(0)
    prefetched, _ = run(2)
    assert plain == prefetched
    assert plain[0] != plain[1]  # a new shuffle each epoch
    assert sorted(i for batch in plain[0] for i in batch[0]) == [0, 1, 2, 3]
    # Features are the rows of the input nodes.
    ids = mb.subgraph.input_nodes["user"].numpy()
    assert torch.equal(mb.x["user"], torch.from_numpy(np.arange(12, dtype=np.float32).reshape(6, 2)[ids]))


def test_pipeline_edges_with_negatives(bipartite):
    g = bipartite

    negative = UniformNegativeSampler({"user": 6, "item": 4}, k=2)
    loader = EdgeSeeds(RATES, np.arange(12), batch_size=5).sample(NeighborSampler(g, "2"), negative=negative)
    batches = list(loader)
    assert [b.eids.numel() for b in batches] == [5, 5, 2]
    src, dst = (np.asarray(a) for a in g.edges(RATES))
    for mb in batches:
        seeds = mb.subgraph.seeds
        assert seeds["user"][mb.edges.src_index].tolist() == src[mb.eids.numpy()].tolist()
        assert seeds["item"][mb.edges.dst_index].tolist() == dst[mb.eids.numpy()].tolist()
        assert mb.edges.neg_dst_index.shape == (mb.eids.numel(), 2)


def test_pipeline_error_in_worker_surfaces(bipartite):
    def boom(mb):
        raise RuntimeError("bad batch")

    loader = NodeSeeds({"item": np.arange(4)}, batch_size=2).map(boom).prefetch(2)
    with pytest.raises(RuntimeError, match="bad batch"):
        list(loader)


def test_static_exclusion_removes_edges_and_only_named_types(bipartite):
    g = bipartite
    held_out = np.array([0, 6])
    leak_free = NeighborSampler(g, "-1", static_exclude={RATES: held_out, REV: held_out})
    leaky = NeighborSampler(g, "-1", static_exclude={RATES: held_out})
    seeds = {"item": np.arange(4), "user": np.arange(6)}
    for _ in range(2):  # exclusions persist across batches, batch exclusions add to them
        b = leak_free.sample_from_nodes(seeds, exclude_eids={RATES: np.array([1])}).blocks[0]
        assert not {0, 1, 6} & set(b.eids[RATES].tolist()) and not {0, 1, 6} & set(b.eids[REV].tolist())
    b = leak_free.sample_from_nodes(seeds).blocks[0]
    assert 1 in b.eids[RATES].tolist() and 0 not in b.eids[REV].tolist()
    b = leaky.sample_from_nodes(seeds).blocks[0]
    assert 0 not in b.eids[RATES].tolist() and {0, 6} <= set(b.eids[REV].tolist())
