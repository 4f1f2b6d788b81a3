"""Build the feature store and the model that a training config asks for, from the graph's metadata.

The same function re-creates the model at inference time from the config
saved in a checkpoint, so a model file never needs pickled Python objects.
Text node types (``node_lm_configs``) get a language model as input encoder,
loaded from its ``model_name`` (at inference too; the checkpoint then overwrites
its weights with the co-trained ones).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from graphkit.errors import ConfigError, did_you_mean
from graphkit.loading.features import FeatureStore
from graphkit.models.encoders import ENCODERS, GraphSchema
from graphkit.models.input import InputLayer
from graphkit.models.lm_input import LMNodeEncoder
from graphkit.models.model import GraphModel
from graphkit.schema.tokens import TOKEN_FEATURES
from graphkit.storage.graph import Graph
from graphkit.training.config import TrainConfig
from graphkit.training.lm_config import NodeLMConfig, parse_node_lm_configs
from graphkit.training.tasks.base import Task

log = logging.getLogger(__name__)


def feature_names(cfg: TrainConfig, graph: Graph) -> dict[str, list[str]]:
    """GraphStorm's ``node_feat_name``: ``["user:feat", "item:feat1,feat2"]`` or one name for every type.
    The text types of ``node_lm_configs`` also get their token features."""
    out = _float_feature_names(cfg, graph)
    for t in lm_node_types(cfg, graph):
        feats = graph.meta.node_type(t).features
        if cfg.node_feat_name is None:  # the text type's float features, beside its tokens
            out[t] = [n for n, a in feats.items() if len(a.shape) == 2 and a.dtype.startswith("float")]
        out[t] = [n for n in out.get(t, []) if n not in TOKEN_FEATURES] + [n for n in TOKEN_FEATURES if n in feats]
    return out


def lm_node_types(cfg: TrainConfig, graph: Graph) -> list[str]:
    """The text node types of ``node_lm_configs``, each checked to be in the graph with token features."""
    types = []
    for i, c in enumerate(_lm_configs(cfg)):
        for t in c.node_types:
            key = f"node_lm_configs[{i}].node_types"
            if t not in graph.meta.node_types:
                raise ConfigError(f"node type '{t}' is not in the graph.", key=key,
                                  hint=did_you_mean(t, graph.meta.node_types))
            missing = [n for n in TOKEN_FEATURES[:2] if n not in graph.meta.node_type(t).features]
            if missing:
                raise ConfigError(f"node type '{t}' has no token features ({', '.join(missing)} missing), so a "
                                  "language model cannot encode it.", key=key,
                                  hint="Tokenise its text at construction with the tokenize_hf transform: "
                                       '{"feature_col": "text", "transform": {"name": "tokenize_hf", '
                                       '"bert_model": "<model>", "max_seq_length": 128}}.')
            types.append(t)
    return types


def _lm_configs(cfg: TrainConfig) -> list[NodeLMConfig]:
    return [] if cfg.node_lm_configs is None else parse_node_lm_configs(cfg.node_lm_configs)


def _float_feature_names(cfg: TrainConfig, graph: Graph) -> dict[str, list[str]]:
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


def build_lm_encoders(cfg: TrainConfig, graph: Graph, store: FeatureStore) -> list[LMNodeEncoder]:
    """One :class:`LMNodeEncoder` per ``node_lm_configs`` entry, its model loaded from ``model_name``."""
    from graphkit.lm.loading import load_model  # transformers is only needed when a config asks for an LM
    from graphkit.lm.lora import LoraOptions, apply_lora

    configs = _lm_configs(cfg)
    covered = {t for c in configs for t in c.node_types}
    stray = [t for t in store.text_types if t not in covered]
    if stray:
        raise ConfigError(f"node type(s) {stray} have token features (input_ids) but no language model.",
                          key="node_feat_name", hint="Add them to a node_lm_configs entry's node_types, or leave "
                                                     "input_ids out of node_feat_name.")
    out = []
    for i, c in enumerate(configs):
        lm = load_model(c.model_name, key=f"node_lm_configs[{i}].model_name")
        if c.lora_rank:
            lm = apply_lora(lm, LoraOptions(c.lora_rank, c.lora_alpha, c.lora_dropout, c.lora_targets),
                            targets_option=f"node_lm_configs[{i}].lora_targets")
        enc = LMNodeEncoder(lm, c.node_types, {t: graph.num_nodes(t) for t in c.node_types},
                            train_nodes=int(cfg.lm_train_nodes), infer_batch_size=int(cfg.lm_infer_batch_size),
                            pooling=c.pooling, freeze_epochs=int(cfg.freeze_lm_encoder_epochs),
                            cache=bool(cfg.cache_lm_embed), gradient_checkpoint=c.gradient_checkpoint,
                            max_seq_length=c.max_seq_length, precision=c.precision)
        log.info("node type(s) %s: language model %s (%s, %.1fM parameters, %s pooling); lm_train_nodes %d, "
                 "freeze_lm_encoder_epochs %d, cache_lm_embed %s", ",".join(c.node_types), c.model_name,
                 getattr(lm.config, "model_type", c.lm_type), sum(p.numel() for p in lm.parameters()) / 1e6,
                 c.pooling, enc.train_nodes, enc.freeze_epochs, enc.use_cache)
        out.append(enc)
    return out


def build_model(cfg: TrainConfig, graph: Graph, store: FeatureStore, tasks: Sequence[Task]) -> GraphModel:
    name = cfg.model_encoder_type
    if name not in ENCODERS:
        raise ConfigError(f"unknown model_encoder_type '{name}'.", key="model_encoder_type",
                          hint=f"{did_you_mean(name, ENCODERS)} A custom encoder is registered when its module "
                               "is imported (docs/custom-models.md).")
    schema = GraphSchema(tuple(graph.node_types), tuple(graph.edge_types))
    hidden = int(cfg.hidden_size)
    lm_encoders = build_lm_encoders(cfg, graph, store)
    dims = {t: store.dim(t) for t in graph.node_types}
    for enc in lm_encoders:
        for t in enc.node_types:
            dims[t] += enc.out_dim
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
                        project=bool(cfg.input_projection), lm_encoders=lm_encoders,
                        embedding_factory=getattr(graph, "node_embeddings", None))  # partitioned: sharded tables
    out_dim = int(getattr(encoder, "out_dim", hidden))  # a custom encoder may change the width
    return GraphModel(inputs, encoder, {t.name: t.decoder(out_dim) for t in tasks})
