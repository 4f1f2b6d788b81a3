"""Build the feature store and the model that a training config asks for, from the graph's metadata.

The same function re-creates the model at inference time from the config
saved in a checkpoint, so a model file never needs pickled Python objects.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from graphkit.errors import ConfigError, did_you_mean
from graphkit.loading.features import FeatureStore
from graphkit.models.encoders import ENCODERS, GraphSchema
from graphkit.models.input import InputLayer
from graphkit.models.model import GraphModel
from graphkit.storage.graph import Graph
from graphkit.training.config import TrainConfig
from graphkit.training.tasks.base import Task


def feature_names(cfg: TrainConfig, graph: Graph) -> dict[str, list[str]]:
    """GraphStorm's ``node_feat_name``: ``["user:feat", "item:feat1,feat2"]`` or one name for every type."""
    spec = cfg.node_feat_name
    if spec is None:
        return {t: list(m.features) for t, m in graph.meta.node_types.items()
                if m.features and all(len(a.shape) == 2 and a.dtype.startswith("float") for a in m.features.values())}
    items = [spec] if isinstance(spec, str) else list(spec)
    out: dict[str, list[str]] = {}
    for item in items:
        if ":" in item:
            ntype, names = item.split(":", 1)
            graph.meta.node_type(ntype)
            out[ntype] = [n for n in names.split(",") if n]
        else:
            for t, m in graph.meta.node_types.items():
                if item in m.features:
                    out.setdefault(t, []).append(item)
    return out


def edge_feature_names(cfg: TrainConfig, graph: Graph) -> dict[tuple, list[str]]:
    """GraphStorm's ``edge_feat_name``: ``["user,rates,item:weight", ...]`` (edge type, colon, feature names)."""
    spec = cfg.edge_feat_name
    if not spec:
        return {}
    out: dict[tuple, list[str]] = {}
    for item in [spec] if isinstance(spec, str) else spec:
        if ":" not in item:
            raise ConfigError(f"edge_feat_name entry '{item}' is not 'src,rel,dst:feat1,feat2'.", key="edge_feat_name")
        etype_text, names = item.rsplit(":", 1)
        etype = tuple(p.strip() for p in etype_text.split(","))
        graph.meta.edge_type(etype)  # type: ignore[arg-type]
        out[etype] = [n for n in names.split(",") if n]
    return out


def in_degrees(graph: Graph, etypes: Sequence) -> dict[str, torch.Tensor]:
    """Whole-graph in-degree of every node, summed over edge types (for GCN normalisation)."""
    deg = {t: np.zeros(graph.num_nodes(t), dtype=np.float32) for t in graph.node_types}
    for e in etypes:
        indptr = np.asarray(graph.csc(e)[0])
        deg[e[2]] += np.diff(indptr).astype(np.float32)
    return {t: torch.from_numpy(v) for t, v in deg.items()}


def _encoder_out_dim(tasks: Sequence[Task]) -> dict:
    """A single node task with ``decoder_type: none`` makes the encoder's last layer emit its outputs."""
    if len(tasks) == 1 and getattr(tasks[0].cfg, "decoder_type", None) == "none":
        return {"out_dim": int(getattr(tasks[0], "num_classes"))}
    return {}


def _edge_feats(cfg: TrainConfig, store: FeatureStore, encoder: str) -> dict:
    dims = store.edge_dims()
    if not dims:
        return {}
    if encoder != "rgcn":
        raise ConfigError(f"edge features in message passing are supported by the rgcn encoder, not '{encoder}'.",
                          key="edge_feat_name")
    return {"edge_feat_dims": dims, "edge_feat_mp_op": cfg.edge_feat_mp_op}


def build_model(cfg: TrainConfig, graph: Graph, store: FeatureStore, tasks: Sequence[Task]) -> GraphModel:
    name = cfg.model_encoder_type
    if name not in ENCODERS:
        raise ConfigError(f"unknown model_encoder_type '{name}'.", key="model_encoder_type",
                          hint=f"{did_you_mean(name, ENCODERS)} A custom encoder is registered when its module "
                               "is imported (docs/custom-models.md).")
    schema = GraphSchema(tuple(graph.node_types), tuple(graph.edge_types))
    hidden = int(cfg.hidden_size)
    dims = {t: store.dim(t) for t in graph.node_types}
    in_dim = None
    if not cfg.input_projection:
        widths = set(dims.values())
        if len(widths) != 1 or 0 in widths or cfg.use_node_embeddings or name in ("hgt", "mlp"):
            raise ConfigError("input_projection: false needs every node type to have features of one width, "
                              "no node embeddings, and a gcn/gat/gatv2/sage/rgcn/rgat encoder.", key="input_projection",
                              hint=f"Feature widths: {dims}.")
        in_dim = widths.pop()
    encoder = ENCODERS[name](
        schema, hidden, int(cfg.num_layers), dropout=float(cfg.dropout), num_bases=int(cfg.num_bases),
        use_self_loop=bool(cfg.use_self_loop), num_heads=int(cfg.num_heads), attn_dropout=float(cfg.attn_dropout),
        norm=cfg.gnn_norm, degrees=in_degrees(graph, graph.edge_types) if name == "gcn" else None,
        **({"in_dim": in_dim} if in_dim else {}), **_encoder_out_dim(tasks), **_edge_feats(cfg, store, name))
    inputs = InputLayer(dims, {t: graph.num_nodes(t) for t in graph.node_types}, hidden,
                        use_node_embeddings=bool(cfg.use_node_embeddings), dropout=float(cfg.input_dropout),
                        project=bool(cfg.input_projection))
    out_dim = int(getattr(encoder, "out_dim", hidden))  # a custom encoder may change the width
    return GraphModel(inputs, encoder, {t.name: t.decoder(out_dim) for t in tasks})
