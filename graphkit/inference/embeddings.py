"""Layer-wise full-graph inference: every node's embedding, one GNN layer at a time.

Per-node neighbour sampling recomputes shared neighbourhoods many times;
layer-wise inference computes layer 1 for every node (full in-neighbourhood,
in chunks), then layer 2 from those, and so on — each node once per layer.

With several ranks (``ctx``, under torchrun), each rank computes its share of
every node type per layer and the shares are all-gathered before the next
layer (:mod:`graphkit.inference.ranks`): every rank ends with every node's
embedding, using O(N x hidden) memory like one process.

``device``: where the model computes (it must already be there). Each chunk's
block and inputs go to it and its output comes back, so the per-layer
embeddings of the whole graph stay in host memory whatever the GPU's size.
"""

from __future__ import annotations

import logging
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from graphkit.distributed.context import DistContext
from graphkit.inference.ranks import gather_shares, share
from graphkit.loading.features import FeatureStore
from graphkit.models.model import GraphModel
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.graph import Graph

log = logging.getLogger(__name__)


def _to(values: dict, device: torch.device) -> dict:
    """A dict of tensors (or :class:`~graphkit.loading.features.TextFeatures`) on ``device``."""
    return {k: v.to(device) for k, v in values.items()}


@torch.no_grad()
def input_embeddings(model: GraphModel, graph: Graph, store: FeatureStore, batch_size: int,
                     ctx: Optional[DistContext] = None,
                     device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """``{node type: [num_nodes, hidden]}``: the input layer over every node (this rank's share, gathered)."""
    ctx, dev = ctx or DistContext(), torch.device(device)
    out = {}
    for t in graph.node_types:
        if graph.num_nodes(t) == 0:
            out[t] = torch.zeros(0, model.input.hidden)
            continue
        parts = []
        for ids in _chunks(graph, t, batch_size, ctx):
            nodes = {t: torch.from_numpy(ids)}
            parts.append(model.input(_to(nodes, dev), _to(store.fetch(nodes), dev))[t].cpu())
        out[t] = _gather(parts, graph, t, ctx)
    return out


@torch.no_grad()
def node_embeddings(model: GraphModel, graph: Graph, store: FeatureStore, batch_size: int = 4096,
                    node_types: Optional[Sequence[str]] = None, ctx: Optional[DistContext] = None,
                    device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """``{node type: [num_nodes, out_dim]}`` from the trained encoder, over the whole graph.

    Layer-wise when the encoder has ``layer_forward(i, block, h)``; otherwise each
    chunk of nodes runs the whole encoder on its full ``num_layers``-hop neighbourhood.
    ``ctx``: the ranks sharing the work (every rank must call this; default: one process). ``device``:
    where ``model`` is. The result is on the CPU.
    """
    ctx, dev = ctx or DistContext(), torch.device(device)
    model.eval()
    num_layers = model.num_layers
    if num_layers == 0:  # no message passing (e.g. the MLP encoder): per node, so chunk by chunk
        h0 = input_embeddings(model, graph, store, batch_size, ctx, dev)
        h = {t: torch.cat([model.encoder([], {t: v[a:a + batch_size].to(dev)})[t].cpu()
                           for a in range(0, v.shape[0], batch_size)]) if v.shape[0] else v
             for t, v in h0.items()}
    elif hasattr(model.encoder, "layer_forward"):
        h = _layerwise(model, graph, store, batch_size, num_layers, ctx, dev)
    else:
        h = _full_neighbourhoods(model, graph, store, batch_size, num_layers, ctx, dev)
    return {t: v for t, v in h.items() if node_types is None or t in node_types}


def _chunks(graph: Graph, ntype: str, batch_size: int, ctx: DistContext) -> Iterator[np.ndarray]:
    """Node IDs of this rank's share of ``ntype``, ``batch_size`` at a time."""
    lo, hi = share(graph.num_nodes(ntype), ctx.rank, ctx.world_size)
    for start in range(lo, hi, batch_size):
        yield np.arange(start, min(start + batch_size, hi), dtype=np.int64)


def _progress(graph: Graph, batch_size: int, desc: str, ctx: DistContext) -> tqdm:
    total = sum(len(range(*share(graph.num_nodes(t), ctx.rank, ctx.world_size), batch_size))
                for t in graph.node_types)
    return tqdm(total=total, desc=desc, unit="batch", leave=False,
                disable=not (ctx.is_main and log.isEnabledFor(logging.INFO)))


def _gather(local: list[torch.Tensor], graph: Graph, ntype: str, ctx: DistContext) -> torch.Tensor:
    """All of ``ntype``'s rows from this rank's chunks (a rank may have none: its share is empty)."""
    return gather_shares(torch.cat(local) if local else None, graph.num_nodes(ntype), ctx)


def _layerwise(model: GraphModel, graph: Graph, store: FeatureStore, batch_size: int,
               num_layers: int, ctx: DistContext, dev: torch.device) -> dict[str, torch.Tensor]:
    h = input_embeddings(model, graph, store, batch_size, ctx, dev)
    sampler = NeighborSampler(graph, [-1])
    for i in range(num_layers):
        nxt: dict[str, torch.Tensor] = {}
        with _progress(graph, batch_size, f"inference layer {i + 1}/{num_layers}", ctx) as bar:
            for t in graph.node_types:
                if graph.num_nodes(t) == 0:
                    continue
                local = []
                for ids in _chunks(graph, t, batch_size, ctx):
                    block = sampler.sample_from_nodes({t: ids}).blocks[0]
                    store.attach_edge_features(block)
                    h_in = {s: h[s][nodes].to(dev) for s, nodes in block.src_nodes.items()}
                    out = model.encoder.layer_forward(i, block.to(dev), h_in)
                    local.append(out[t].cpu() if t in out else h[t][ids])
                    bar.update(1)
                nxt[t] = _gather(local, graph, t, ctx)
        h = nxt
    return h


def _full_neighbourhoods(model: GraphModel, graph: Graph, store: FeatureStore, batch_size: int,
                         num_layers: int, ctx: DistContext, dev: torch.device) -> dict[str, torch.Tensor]:
    sampler = NeighborSampler(graph, [-1] * num_layers)
    out: dict[str, torch.Tensor] = {}
    with _progress(graph, batch_size, "inference", ctx) as bar:
        for t in graph.node_types:
            if graph.num_nodes(t) == 0:
                continue
            local = []
            for ids in _chunks(graph, t, batch_size, ctx):
                sub = sampler.sample_from_nodes({t: ids})
                local.append(model.embed(sub.to(dev), _to(store.fetch(sub.input_nodes), dev))[t].cpu())
                bar.update(1)
            out[t] = _gather(local, graph, t, ctx)
    return out
