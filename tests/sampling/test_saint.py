"""GraphSAINT samplers on a graph small enough to enumerate.

The graph: users u0..u3, items i0..i3 (i3 isolated); ``rates`` u0-i0, u1-i0,
u1-i1, u2-i1, u3-i2; ``follows`` u0-u1, u2-u3, u3-u0; both with reverse types.
Homogenized IDs: users 0..3, items 4..7. For the node, edge and random-walk
samplers the inclusion probabilities of nodes and induced edges are computed
exactly (closed forms, or enumeration of every walk), and the pre-sampled
counts, the aggregator norms and the normalised estimators are checked
against them.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from graphkit.construct.construct import construct_graph
from graphkit.sampling.saint import (
    SaintEdgeSampler,
    SaintMultiDimRandomWalkSampler,
    SaintNodeSampler,
    SaintNorm,
    SaintRandomWalkSampler,
    SaintSampler,
)
from graphkit.storage.graph import Graph

RATES = [("u0", "i0"), ("u1", "i0"), ("u1", "i1"), ("u2", "i1"), ("u3", "i2")]
FOLLOWS = [("u0", "u1"), ("u2", "u3"), ("u3", "u0")]
UND = [(0, 4), (1, 4), (1, 5), (2, 5), (3, 6), (0, 1), (2, 3), (3, 0)]  # the same edges, homogenized
N = 8
NBRS = [[v for a, b in UND for x, v in ((a, b), (b, a)) if x == u] for u in range(N)]
DEG = np.array([len(n) for n in NBRS], dtype=float)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    d: Path = tmp_path_factory.mktemp("saint")
    pq.write_table(pa.table({"id": [f"u{i}" for i in range(4)]}), d / "user.parquet")
    pq.write_table(pa.table({"id": [f"i{i}" for i in range(4)]}), d / "item.parquet")
    for name, rows in (("rates", RATES), ("follows", FOLLOWS)):
        pq.write_table(pa.table({"src": [r[0] for r in rows], "dst": [r[1] for r in rows]}), d / f"{name}.parquet")
    conf = {
        "version": "gconstruct-v0.1",
        "nodes": [{"node_type": t, "node_id_col": "id", "format": {"name": "parquet"}, "files": [f"{t}.parquet"]}
                  for t in ("user", "item")],
        "edges": [{"relation": rel, "source_id_col": "src", "dest_id_col": "dst", "format": {"name": "parquet"},
                   "files": [f"{rel[1]}.parquet"]}
                  for rel in (["user", "rates", "item"], ["user", "follows", "user"])],
    }
    (d / "conf.json").write_text(json.dumps(conf))
    construct_graph(str(d / "conf.json"), str(d / "g"), "g", add_reverse_edges=True)
    return Graph(str(d / "g"))


# --- exact inclusion probabilities -------------------------------------------------------

def _from_misses(miss1: Callable[[int], float], miss2: Callable[[int, int], float]):
    """p_v = 1 - P(v out); p_uv = 1 - P(u out) - P(v out) + P(both out)."""
    def p(u: int, v: int | None = None) -> float:
        if v is None:
            return 1 - miss1(u)
        return 1 - miss1(u) - miss1(v) + miss2(u, v)
    return p


def node_exact(budget: int):
    w = np.array([sum(1 / DEG[u] ** 2 for u in NBRS[v]) for v in range(N)])
    P = w / w.sum()
    return _from_misses(lambda v: (1 - P[v]) ** budget, lambda u, v: (1 - P[u] - P[v]) ** budget)


def edge_exact(budget: int):
    P = np.array([1 / DEG[a] + 1 / DEG[b] for a, b in UND])
    P /= P.sum()

    def touch(*vs: int) -> float:
        return sum(p for (a, b), p in zip(UND, P, strict=True) if a in vs or b in vs)
    return _from_misses(lambda v: (1 - touch(v)) ** budget, lambda u, v: (1 - touch(u, v)) ** budget)


def walk_exact(num_roots: int, length: int, roots: tuple[int, ...] = tuple(range(N))):
    paths: list[tuple[set, float]] = []

    def walk(v: int, seen: set, p: float, left: int) -> None:
        if left == 0:
            paths.append((seen, p))
        elif not NBRS[v]:
            walk(v, seen, p, left - 1)
        else:
            for u in NBRS[v]:
                walk(u, seen | {u}, p / len(NBRS[v]), left - 1)
    for r in roots:
        walk(r, {r}, 1 / len(roots), length)

    def miss(*vs: int) -> float:
        return sum(p for seen, p in paths if not seen & set(vs))
    return _from_misses(lambda v: miss(v) ** num_roots, lambda u, v: miss(u, v) ** num_roots)


SAMPLERS = {
    "node": (lambda g: SaintNodeSampler(g, budget=3), node_exact(3)),
    "edge": (lambda g: SaintEdgeSampler(g, budget=2), edge_exact(2)),
    "walk": (lambda g: SaintRandomWalkSampler(g, num_roots=2, walk_length=2), walk_exact(2, 2)),
    "frontier": (lambda g: SaintMultiDimRandomWalkSampler(g, budget=5, frontier_size=2), None),
}


def _pairs(g: Graph, s: SaintSampler, etype) -> np.ndarray:
    src, dst = g.edges(etype)
    return np.stack([np.asarray(src) + s.offsets[etype[0]], np.asarray(dst) + s.offsets[etype[2]]], 1)


def exact_norm(g: Graph, s: SaintSampler, p) -> SaintNorm:
    """The limit of the pre-sampled counts: C_v / N -> p_v, C_e / N -> p_uv."""
    nodes = {t: np.array([p(s.offsets[t] + i) for i in range(g.num_nodes(t))]) for t in g.node_types}
    edges = {e: np.array([p(int(a), int(b)) for a, b in _pairs(g, s, e)]) for e in g.edge_types}
    return SaintNorm(1, nodes, edges)


# --- structure --------------------------------------------------------------------------

def test_homogenized_structure(graph: Graph) -> None:
    s = SaintNodeSampler(graph, budget=3)
    assert s.offsets == {"user": 0, "item": 4} and s.num_nodes == N
    assert s.deg.tolist() == DEG.tolist()
    assert [sorted(s.nbr[s.indptr[v]:s.indptr[v + 1]].tolist()) for v in range(N)] == [sorted(n) for n in NBRS]
    w = np.array([sum(1 / DEG[u] ** 2 for u in NBRS[v]) for v in range(N)])  # ||A~_{:,v}||^2, A~ = D^-1 A
    assert np.allclose(s.prob, w / w.sum()) and s.prob[7] == 0


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_induced_subgraph_is_exact(graph: Graph, kind: str) -> None:
    s = SAMPLERS[kind][0](graph)
    rng = np.random.default_rng(0)
    for _ in range(100):
        out = s.sample(rng)
        blocks = out.subgraph.blocks
        assert len(blocks) == 2 and blocks[0] is blocks[1]
        b = blocks[0]
        assert b.edge_weight == {} and all(torch.equal(w, torch.ones(len(w))) for w in out.node_weight.values())
        sampled = {}
        for t in graph.node_types:
            ids = b.src_nodes[t].numpy()
            assert b.num_dst[t] == ids.size and np.all(np.diff(ids) > 0) and torch.equal(b.dst_nodes(t), b.src_nodes[t])
            sampled[t] = set(ids.tolist())
        assert sum(map(len, sampled.values())) >= 1
        for e in graph.edge_types:
            src, dst = (np.asarray(a) for a in graph.edges(e))
            want = {(int(src[i]), int(dst[i]), i) for i in range(src.size)
                    if src[i] in sampled[e[0]] and dst[i] in sampled[e[2]]}
            ptr = b.indptr[e].numpy()
            local_dst = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
            got = set(zip(b.src_nodes[e[0]].numpy()[b.indices[e].numpy()].tolist(),
                          b.dst_nodes(e[2]).numpy()[local_dst].tolist(), b.eids[e].tolist(), strict=True))
            assert got == want and b.num_edges(e) == len(want)
            assert b.indptr[e].numel() == b.num_dst[e[2]] + 1


def test_random_walk_roots(graph: Graph) -> None:
    s = SaintRandomWalkSampler(graph, num_roots=1, walk_length=1, roots={"item": np.array([3])})
    for seed in range(5):  # item 3 is isolated: the walk stays there
        b = s.sample(seed).subgraph.blocks[0]
        assert b.src_nodes["item"].tolist() == [3] and b.src_nodes["user"].numel() == 0


def test_frontier_sample_sizes(graph: Graph) -> None:
    s = SaintMultiDimRandomWalkSampler(graph, budget=5, frontier_size=2)
    rng = np.random.default_rng(1)
    for _ in range(200):
        v = s.sample_nodes(rng)
        assert 1 <= v.size <= 5 and np.all(np.diff(v) > 0) and v.max() < N
    with pytest.raises(ValueError, match="frontier_size"):
        SaintMultiDimRandomWalkSampler(graph, budget=3, frontier_size=4)


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_deterministic_given_a_seed(graph: Graph, kind: str) -> None:
    s = SAMPLERS[kind][0](graph)
    a, b = s.sample(5).subgraph.blocks[0], s.sample(5).subgraph.blocks[0]
    assert all(torch.equal(a.src_nodes[t], b.src_nodes[t]) for t in a.src_nodes)
    assert all(torch.equal(a.eids[e], b.eids[e]) for e in a.eids)
    n1, n2 = s.compute_norm(num_samples=300, rng=3), s.compute_norm(num_samples=300, rng=3)
    assert all(np.array_equal(n1.edge_count[e], n2.edge_count[e]) for e in graph.edge_types)
    assert not np.array_equal(n1.node_count["user"], s.compute_norm(num_samples=300, rng=4).node_count["user"])


# --- normalisation ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["node", "edge", "walk"])
def test_presampled_counts_converge_to_exact_probabilities(graph: Graph, kind: str) -> None:
    make, p = SAMPLERS[kind]
    s = make(graph)
    num = 40000
    norm = s.compute_norm(num_samples=num, rng=0)
    exact = exact_norm(graph, s, p)
    for t in graph.node_types:
        pv, est = exact.node_count[t], norm.node_count[t] / num
        assert np.all(np.abs(est - pv) <= 5 * np.sqrt(pv * (1 - pv) / num) + 1e-12), (t, est, pv)
    for e in graph.edge_types:
        pe, est = exact.edge_count[e], norm.edge_count[e] / num
        assert np.all(np.abs(est - pe) <= 5 * np.sqrt(pe * (1 - pe) / num) + 1e-12), (e, est, pe)
        # aggregator weights C_v / C_uv -> p_v / p_uv, v the destination (also for reverse types)
        dst = np.asarray(graph.edges(e)[1])
        w, w_exact = norm.edge_weight(e, dst, np.arange(dst.size)), exact.edge_weight(e, dst, np.arange(dst.size))
        assert np.allclose(w, w_exact, rtol=6 / np.sqrt(num * pe.min()))
    rev = ("item", "rates-rev", "user")
    assert norm.edge_count[rev] is norm.edge_count[("user", "rates", "item")]
    # the isolated item is never drawn by the node and edge samplers
    assert (norm.node_count["item"][3] == 0) == (kind != "walk")


def test_sample_coverage(graph: Graph) -> None:
    s = SaintNodeSampler(graph, budget=3)
    norm = s.compute_norm(sample_coverage=20, rng=0)
    assert sum(c.sum() for c in norm.node_count.values()) >= 20 * N
    assert sum(c.sum() for c in norm.node_count.values()) < 20 * N + 3
    with pytest.raises(ValueError, match="exactly one"):
        s.compute_norm()


def _aggregate(sample, etype, x: np.ndarray, weighted: bool = True) -> np.ndarray:
    """sum over sampled in-neighbours u of v of w_uv x_u, for every sampled dst v (numpy)."""
    b = sample.subgraph.blocks[0]
    ptr, src = b.indptr[etype].numpy(), b.indices[etype].numpy()
    dst = np.repeat(np.arange(ptr.size - 1), np.diff(ptr))
    w = b.edge_weight[etype].numpy() if weighted else np.ones(src.size)
    return np.bincount(dst, weights=w * x[b.src_nodes[etype[0]].numpy()[src]], minlength=b.num_dst[etype[2]])


def _check_unbiased(graph: Graph, s: SaintSampler, rtol: float, samples: int = 6000) -> None:
    feats = {t: np.random.default_rng(9).normal(1.0, 1.0, graph.num_nodes(t)) for t in graph.node_types}
    stats = {(e, wt): np.zeros((3, graph.num_nodes(e[2]))) for e in graph.edge_types for wt in (True, False)}
    rng = np.random.default_rng(2)
    for _ in range(samples):
        out = s.sample(rng)
        for (e, wt), acc in stats.items():
            z = _aggregate(out, e, feats[e[0]], wt)
            ids = out.subgraph.blocks[0].dst_nodes(e[2]).numpy()
            acc[0, ids] += 1
            acc[1, ids] += z
            acc[2, ids] += z * z
    biased = 0
    for (e, wt), (cnt, tot, sq) in stats.items():
        src, dst = (np.asarray(a) for a in graph.edges(e))
        full = np.bincount(dst, weights=feats[e[0]][src], minlength=graph.num_nodes(e[2]))
        seen = cnt > 0
        mean = tot[seen] / cnt[seen]
        se = np.sqrt(np.maximum(sq[seen] / cnt[seen] - mean ** 2, 0) / cnt[seen])
        ok = np.abs(mean - full[seen]) <= 5 * se + rtol * np.abs(full[seen]) + 1e-9
        if wt:
            assert ok.all(), (e, mean, full[seen], se)
        else:
            biased += int((~ok).sum())
    assert biased > 0  # without the norms the estimate is off


@pytest.mark.parametrize("kind", ["node", "edge", "walk"])
def test_normalised_aggregation_is_unbiased(graph: Graph, kind: str) -> None:
    make, p = SAMPLERS[kind]
    s = make(graph)
    s.norm = exact_norm(graph, s, p)
    _check_unbiased(graph, s, rtol=0.0)


def test_frontier_normalised_aggregation_is_unbiased(graph: Graph) -> None:
    s = SAMPLERS["frontier"][0](graph)
    a = s.compute_norm(num_samples=10000, rng=1)
    b = s.compute_norm(num_samples=10000, rng=2)
    for t in graph.node_types:  # two independent estimates agree
        pa_, pb = a.node_count[t] / 10000, b.node_count[t] / 10000
        assert np.all(np.abs(pa_ - pb) <= 5 * np.sqrt(2 * pa_ * (1 - pa_) / 10000) + 1e-12)
    s.compute_norm(num_samples=40000, rng=3)
    _check_unbiased(graph, s, rtol=0.03)


def test_loss_norm_is_unbiased(graph: Graph) -> None:
    make, p = SAMPLERS["walk"]
    s = make(graph)
    s.norm = exact_norm(graph, s, p)
    loss = {t: np.random.default_rng(4).uniform(0, 2, graph.num_nodes(t)) for t in graph.node_types}
    est = {t: [] for t in graph.node_types}
    rng = np.random.default_rng(0)
    for _ in range(8000):
        out = s.sample(rng)
        for t, ids in out.subgraph.input_nodes.items():
            est[t].append(float((out.node_weight[t].double().numpy() * loss[t][ids.numpy()]).sum()))
    for t in graph.node_types:
        x = np.array(est[t])
        assert abs(x.mean() - loss[t].mean()) <= 5 * x.std() / np.sqrt(x.size), t


def test_sample_carries_norms_for_pyg_layers(graph: Graph) -> None:
    s = SaintRandomWalkSampler(graph, num_roots=3, walk_length=2, num_layers=3)
    norm = s.compute_norm(num_samples=2000, rng=0)
    out = s.sample(7)
    assert len(out.subgraph.blocks) == 3
    b = out.subgraph.blocks[0]
    for t in graph.node_types:
        ids = b.src_nodes[t].numpy()
        assert torch.allclose(out.node_weight[t], torch.tensor(norm.node_weight(t, ids), dtype=torch.float32))
    for e in graph.edge_types:
        x = torch.randn(graph.num_nodes(e[0]), 2, dtype=torch.float64)
        want = np.stack([_aggregate(out, e, x[:, j].numpy()) for j in range(2)], 1)
        got = b.adj(e, b.edge_weight[e].double()) @ x[b.src_nodes[e[0]]]  # what a PyG layer computes
        assert np.allclose(got.numpy(), want) and got.shape == (b.num_dst[e[2]], 2)
        dst_nodes = np.repeat(b.dst_nodes(e[2]).numpy(), b.indptr[e].diff().numpy())
        assert torch.allclose(b.edge_weight[e], torch.tensor(norm.edge_weight(e, dst_nodes, b.eids[e].numpy()),
                                                              dtype=torch.float32))
    moved = out.to("cpu")
    assert moved.subgraph.blocks[0] is moved.subgraph.blocks[2]


def test_isolated_counts_and_clamps() -> None:
    norm = SaintNorm(10, {"a": np.array([0.0, 5.0, 10.0])}, {("a", "r", "a"): np.array([0.0, 0.0, 1e-6, 5.0])})
    assert norm.node_weight("a", np.array([0, 1])).tolist() == [10 / 0.1 / 3, 10 / 5 / 3]
    w = norm.edge_weight(("a", "r", "a"), np.array([0, 1, 2, 2]), np.arange(4))
    assert w.tolist() == [0.1, 1e4, 1e4, 2.0]


@pytest.mark.parametrize("kind", ["node", "edge", "walk"])
def test_exact_probabilities_are_consistent(kind: str) -> None:
    """Sanity of the closed forms and the enumeration: 0 <= p_uv <= min(p_u, p_v) <= 1."""
    p = SAMPLERS[kind][1]
    for u, v in itertools.combinations(range(N), 2):
        assert -1e-12 <= p(u, v) <= min(p(u), p(v)) + 1e-12 and p(u) <= 1
