"""Every registered encoder on a tiny heterogeneous and a tiny homogeneous graph.

The strongest check here: layer-wise full-graph inference (one layer at a time
over every node) equals the mini-batch forward with full neighbourhoods, node
for node — including isolated nodes, alone in their batch, with randomised
parameters (so zero-initialised biases cannot hide a path that skips them).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graphkit.inference.embeddings import node_embeddings
from graphkit.loading.features import FeatureStore
from graphkit.models.encoders import ENCODERS, GraphSchema
from graphkit.models.input import InputLayer
from graphkit.models.model import GraphModel
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph
from graphkit.training.builder import in_degrees

HIDDEN = 8
ALL = sorted(ENCODERS)


def test_every_builtin_encoder_is_covered():
    assert {"rgcn", "sage", "gcn", "gat", "gatv2", "rgat", "hgt", "mlp"} <= set(ENCODERS)


def _hetero(path) -> Graph:
    """7 users, 6 items, ``rates`` + ``rates-rev``; user 6 and item 5 are isolated; features of different widths."""
    rng = np.random.default_rng(0)
    src = np.array([0, 0, 1, 2, 3, 4, 5, 5, 1])
    dst = np.array([0, 1, 1, 2, 3, 4, 0, 2, 3])
    meta = graph_from_arrays(str(path), {"user": 7, "item": 6}, {("user", "rates", "item"): (src, dst)},
                             node_features={"user": {"feat": rng.normal(size=(7, 3)).astype(np.float32)},
                                            "item": {"feat": rng.normal(size=(6, 4)).astype(np.float32)}},
                             add_reverse_edges=True)
    return Graph(str(path), meta)


def _homo(path) -> Graph:
    """One node type, ``cites`` + ``cites-rev`` (an undirected 6-cycle with a chord); node 6 is isolated."""
    rng = np.random.default_rng(1)
    src = np.array([0, 1, 2, 3, 4, 5, 0])
    dst = np.array([1, 2, 3, 4, 5, 0, 3])
    meta = graph_from_arrays(str(path), {"node": 7}, {("node", "cites", "node"): (src, dst)},
                             node_features={"node": {"feat": rng.normal(size=(7, 3)).astype(np.float32)}},
                             add_reverse_edges=True)
    return Graph(str(path), meta)


@pytest.fixture(scope="module", params=["hetero", "homo"])
def graph(request, tmp_path_factory) -> Graph:
    make = _hetero if request.param == "hetero" else _homo
    return make(tmp_path_factory.mktemp(request.param) / "g")


def _model(name: str, graph: Graph, store: FeatureStore, num_layers: int = 2, perturb: bool = True) -> GraphModel:
    torch.manual_seed(0)
    schema = GraphSchema(tuple(graph.node_types), tuple(graph.edge_types))
    encoder = ENCODERS[name](schema, HIDDEN, num_layers, dropout=0.0, num_heads=2, num_bases=-1, use_self_loop=True,
                             attn_dropout=0.0, norm=None, degrees=in_degrees(graph, graph.edge_types))
    inputs = InputLayer({t: store.dim(t) for t in graph.node_types}, {t: graph.num_nodes(t) for t in graph.node_types},
                        HIDDEN)
    model = GraphModel(inputs, encoder, {})
    if perturb:  # biases start at zero: move every parameter so that a skipped term shows
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return model


def _store(graph: Graph) -> FeatureStore:
    return FeatureStore(graph, {t: ["feat"] for t in graph.node_types})


def _forward(model: GraphModel, graph: Graph, store: FeatureStore, seeds: dict, fanout) -> dict:
    num_layers = model.num_layers
    sampler = NeighborSampler(graph, [fanout] * num_layers if num_layers else [])
    sub = sampler.sample_from_nodes(seeds, seed=5)
    return model.embed(sub, store.fetch(sub.input_nodes))


@pytest.mark.parametrize("name", ALL)
def test_output_shapes_per_destination_type(name, graph):
    store = _store(graph)
    model = _model(name, graph, store)
    seeds = {t: np.arange(graph.num_nodes(t))[::2] for t in graph.node_types}
    out = _forward(model, graph, store, seeds, fanout=2)
    assert set(out) == set(graph.node_types)
    for t, ids in seeds.items():
        assert out[t].shape == (len(ids), model.encoder.out_dim) == (len(ids), HIDDEN)
        assert torch.isfinite(out[t]).all()
    # seeds of one type only: outputs for that type only, one row per seed, in seed order
    t0 = graph.node_types[-1]
    one = _forward(model, graph, store, {t0: np.array([2, 0])}, fanout=2)
    assert list(one) == [t0] and one[t0].shape == (2, HIDDEN)


@pytest.mark.parametrize("name", ALL)
def test_layerwise_inference_equals_full_neighbour_minibatch(name, graph):
    store = _store(graph)
    model = _model(name, graph, store).eval()
    full = node_embeddings(model, graph, store, batch_size=3)  # chunks of 3: neighbours cross chunk borders
    assert {t: tuple(v.shape) for t, v in full.items()} == {t: (graph.num_nodes(t), HIDDEN) for t in graph.node_types}
    with torch.no_grad():
        for t in graph.node_types:
            n = graph.num_nodes(t)
            batches = [np.arange(n), np.arange(n)[::-1].copy()] + [np.array([i]) for i in range(n)]
            for ids in batches:  # every node alone too: isolated nodes have batches with no edges at all
                out = _forward(model, graph, store, {t: ids}, fanout=-1)[t]
                assert torch.allclose(out, full[t][ids], atol=1e-5), (name, t, ids.tolist())


def test_gcn_layer_equals_dense_normalised_adjacency(tmp_path):
    graph = _homo(tmp_path / "g")
    n = graph.num_nodes("node")
    a = torch.zeros(n, n)
    for e in graph.edge_types:  # cites + cites-rev: the undirected graph
        src, dst = (np.asarray(x) for x in graph.edges(e))
        for u, v in zip(src, dst):
            a[v, u] += 1.0
    assert torch.equal(a, a.T) and a.sum() == 14
    d_inv_sqrt = torch.diag((a.sum(1) + 1.0).rsqrt())
    a_hat = d_inv_sqrt @ (a + torch.eye(n)) @ d_inv_sqrt
    assert a_hat[6, 6] == pytest.approx(1.0)  # the isolated node keeps itself only

    schema = GraphSchema(tuple(graph.node_types), tuple(graph.edge_types))
    torch.manual_seed(0)
    enc = ENCODERS["gcn"](schema, 4, 1, degrees=in_degrees(graph, graph.edge_types))
    layer = enc.layers[0]
    w = layer.weights["node__*__node"].weight  # [out, in]
    x = torch.randn(n, 4)
    expected = a_hat @ x @ w.T
    for seeds in (np.arange(n), np.array([3, 6, 0])):
        block = NeighborSampler(graph, [-1]).sample_from_nodes({"node": seeds}).blocks[0]
        with torch.no_grad():
            out = enc([block], {"node": x[block.src_nodes["node"]]})["node"]
        assert torch.allclose(out, expected[seeds], atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_gradients_reach_every_parameter(name, graph):
    store = _store(graph)
    model = _model(name, graph, store, perturb=False).train()
    seeds = {t: np.arange(graph.num_nodes(t)) for t in graph.node_types}
    out = _forward(model, graph, store, seeds, fanout=2)
    loss = sum((v * torch.linspace(-1, 1, v.shape[1])).sum() + v.pow(2).sum() for v in out.values())
    loss.backward()
    params = dict(model.named_parameters())
    assert params
    missing = [k for k, p in params.items() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert missing == []
