"""Layer-wise full-graph inference: every node's embedding, one GNN layer at a time.

Per-node neighbour sampling recomputes shared neighbourhoods many times;
layer-wise inference computes layer 1 for every node (full in-neighbourhood,
in chunks), then layer 2 from those, and so on — each node once per layer.
"""

from __future__ import annotations

import logging
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from graphkit.loading.features import FeatureStore
from graphkit.models.model import GraphModel
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.graph import Graph

log = logging.getLogger(__name__)


@torch.no_grad()
def input_embeddings(model: GraphModel, graph: Graph, store: FeatureStore, batch_size: int) -> dict[str, torch.Tensor]:
    out = {}
    for t in graph.node_types:
        n = graph.num_nodes(t)
        parts = []
        for start in range(0, n, batch_size):
            ids = torch.arange(start, min(start + batch_size, n))
            parts.append(model.input({t: ids}, store.fetch({t: ids}))[t])
        out[t] = torch.cat(parts) if parts else torch.zeros(0, model.input.hidden)
    return out


@torch.no_grad()
def node_embeddings(model: GraphModel, graph: Graph, store: FeatureStore, batch_size: int = 4096,
                    node_types: Optional[Sequence[str]] = None) -> dict[str, torch.Tensor]:
    """``{node type: [num_nodes, out_dim]}`` from the trained encoder, over the whole graph.

    Layer-wise when the encoder has ``layer_forward(i, block, h)``; otherwise each
    chunk of nodes runs the whole encoder on its full ``num_layers``-hop neighbourhood.
    """
    model.eval()
    num_layers = model.num_layers
    if num_layers == 0:  # no message passing (e.g. the MLP encoder)
        h = model.encoder([], input_embeddings(model, graph, store, batch_size))
    elif hasattr(model.encoder, "layer_forward"):
        h = _layerwise(model, graph, store, batch_size, num_layers)
    else:
        h = _full_neighbourhoods(model, graph, store, batch_size, num_layers)
    return {t: v for t, v in h.items() if node_types is None or t in node_types}


def _chunks(graph: Graph, batch_size: int) -> Iterator[tuple[str, np.ndarray]]:
    for t in graph.node_types:
        n = graph.num_nodes(t)
        for start in range(0, n, batch_size):
            yield t, np.arange(start, min(start + batch_size, n), dtype=np.int64)


def _progress(graph: Graph, batch_size: int, desc: str) -> tqdm:
    total = sum(-(-graph.num_nodes(t) // batch_size) for t in graph.node_types)
    return tqdm(total=total, desc=desc, unit="batch", leave=False, disable=not log.isEnabledFor(logging.INFO))


def _layerwise(model: GraphModel, graph: Graph, store: FeatureStore, batch_size: int,
               num_layers: int) -> dict[str, torch.Tensor]:
    h = input_embeddings(model, graph, store, batch_size)
    sampler = NeighborSampler(graph, [-1])
    for i in range(num_layers):
        nxt: dict[str, list[torch.Tensor]] = {}
        with _progress(graph, batch_size, f"inference layer {i + 1}/{num_layers}") as bar:
            for t, ids in _chunks(graph, batch_size):
                block = sampler.sample_from_nodes({t: ids}).blocks[0]
                store.attach_edge_features(block)
                h_in = {s: h[s][nodes] for s, nodes in block.src_nodes.items()}
                out = model.encoder.layer_forward(i, block, h_in)
                nxt.setdefault(t, []).append(out[t] if t in out else h[t][ids])
                bar.update(1)
        h = {t: torch.cat(v) for t, v in nxt.items()}
    return h


def _full_neighbourhoods(model: GraphModel, graph: Graph, store: FeatureStore, batch_size: int,
                         num_layers: int) -> dict[str, torch.Tensor]:
    sampler = NeighborSampler(graph, [-1] * num_layers)
    out: dict[str, list[torch.Tensor]] = {}
    with _progress(graph, batch_size, "inference") as bar:
        for t, ids in _chunks(graph, batch_size):
            sub = sampler.sample_from_nodes({t: ids})
            out.setdefault(t, []).append(model.embed(sub, store.fetch(sub.input_nodes))[t])
            bar.update(1)
    return {t: torch.cat(v) for t, v in out.items()}
