"""Control-variate neighbour sampling (VR-GCN, Chen et al., ICML 2018; DGL's giant-graph tutorial).

Each layer keeps a *history* ``H̄`` of its input activation for every node.
A dst node's neighbour mean is estimated as

    mean_{u in N(v)} H̄_u  +  mean_{u in N̂(v)} (h_u - H̄_u)

— the exact mean of the (cheap, stored) histories over the full
neighbourhood, plus a sampled correction with a tiny fanout (1-2). Only the
sampled neighbours are computed recursively, so a batch touches far fewer
nodes than plain neighbour sampling with the same accuracy. Histories are
refreshed with every activation a batch computes.

Applies to mean-aggregating encoders (``sage``, ``rgcn``). Memory grows with
the graph: ``num_layers x num_nodes x hidden`` floats of history. In a
multi-process job every rank keeps its own histories, refreshed by its own
batches only (staler histories: a larger correction, the same expectation).
"""

from __future__ import annotations

import torch
from torch import nn

from graphkit.errors import ConfigError
from graphkit.loading.pipeline import MiniBatch
from graphkit.models.aggregate import merged_csr, spmm
from graphkit.models.encoders.rgcn import RGCNLayer
from graphkit.sampling.base import Block
from graphkit.sampling.neighbor import NeighborSampler
from graphkit.storage.graph import Graph


class ControlVariate:
    """Histories and full-neighbourhood blocks for one model and graph."""

    def __init__(self, model: nn.Module, graph: Graph) -> None:
        layers = getattr(model.encoder, "layers", [])
        if not layers or not all(isinstance(layer, RGCNLayer) for layer in layers):
            raise ConfigError("control_variate needs a mean-aggregating encoder: model_encoder_type sage or rgcn.",
                              key="control_variate")
        self.layers = layers
        device = next(model.parameters()).device
        self.history = [{t: torch.zeros(graph.num_nodes(t), layer.in_dim, device=device) for t in graph.node_types}
                        for layer in layers]

    def embed(self, model: nn.Module, mb: MiniBatch) -> dict[str, torch.Tensor]:
        """The seeds' representations, with control-variate aggregation; refreshes the histories."""
        sub = mb.subgraph
        assert sub is not None
        h = model.input(sub.input_nodes, mb.x)
        for i, (layer, block, full) in enumerate(zip(self.layers, sub.blocks, mb.full_blocks)):
            hist = self.history[i]
            full = full.to(next(iter(hist.values())).device)  # the pipeline makes full blocks on the CPU
            block.history_src = {t: hist[t][ids] for t, ids in block.src_nodes.items()}
            block.history_agg = self._history_means(layer, full, hist)
            for t, x in h.items():  # refresh with what this batch computed (after reading the old values)
                hist[t][block.src_nodes[t]] = x.detach()
            h = layer(block, h)
            block.history_src, block.history_agg = {}, {}
        return h

    @staticmethod
    @torch.no_grad()
    def _history_means(layer: RGCNLayer, full: Block, hist: dict[str, torch.Tensor]) -> dict:
        out = {}
        for key, etypes in layer.groups.items():
            present = [e for e in etypes if e in full.indptr]
            d = key[2]
            if not present or full.num_dst.get(d, 0) == 0:
                continue
            indptr, indices, _ = merged_csr(full, present)
            out[key] = spmm(indptr, indices, hist[key[0]][full.src_nodes[key[0]]], full.num_dst[d], reduce="mean")
        return out



class FullBlocks:
    """Pipeline stage: for each sampled block, the full in-neighbourhood of its dst nodes (one hop)."""

    def __init__(self, graph: Graph) -> None:
        self.sampler = NeighborSampler(graph, [-1])

    def __call__(self, mb: MiniBatch) -> MiniBatch:
        assert mb.subgraph is not None
        mb.full_blocks = [self.sampler.sample_from_nodes(
            {t: b.dst_nodes(t).numpy() for t in b.num_dst if b.num_dst[t] > 0}).blocks[0]
            for b in mb.subgraph.blocks]
        return mb
