"""``graphkit lm-embed``: the text of chosen node types, embedded by a language model, as a node feature.

For every chosen node type the stored token rows (``tokenize_hf``) go through the encoder
chunk by chunk (:func:`graphkit.lm.chunked.embed_chunks`: cached by model and text, so reruns
and restarts skip finished chunks) straight into a memory-mapped ``.npy``; then the feature
is added to the graph in place or to a new graph directory, all or nothing
(:class:`graphkit.lm.feature_writer.NodeFeatureWriter`). ``graph.json`` records where the
feature came from under ``construction.node_feature_sources.<feature>``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Optional

import numpy as np

from graphkit.errors import GraphkitError
from graphkit.lm.cache import EmbeddingCache, default_cache_dir
from graphkit.lm.chunked import DEFAULT_CHUNK_SIZE, ChunkStats, embed_chunks
from graphkit.lm.encoder import TextEncoder, check_pooling
from graphkit.lm.feature_writer import NodeFeatureWriter
from graphkit.lm.tokens import check_text_node_types, node_tokens
from graphkit.schema.tokens import TOKEN_FEATURES
from graphkit.storage.graph import Graph

log = logging.getLogger(__name__)

OUT_DTYPES = ("float32", "float16")


@dataclass
class LMEmbedConfig:
    """What ``graphkit lm-embed`` does; every field is a CLI option of the same name."""

    graph_dir: str
    lm_model: str  # a local Hugging Face folder, or a hub name where the hub is reachable
    ntypes: Optional[list[str]] = None  # default: every node type with token features
    feature_name: str = "lm_emb"
    pooling: str = "mean"
    batch_size: int = 64
    max_seq_length: Optional[int] = None  # cut the stored tokens to this many
    chunk_size: int = DEFAULT_CHUNK_SIZE
    output_dir: Optional[str] = None  # default: add the feature in place
    cache_dir: Optional[str] = field(default_factory=default_cache_dir)  # None: no cache
    device: str = "auto"
    precision: str = "auto"
    out_dtype: str = "float32"
    overwrite: bool = False

    def validate(self) -> None:
        check_pooling(self.pooling, key="--pooling")
        if self.batch_size < 1:
            raise GraphkitError(f"--batch-size must be >= 1, got {self.batch_size}.")
        if self.chunk_size < 1:
            raise GraphkitError(f"--chunk-size must be >= 1, got {self.chunk_size}.")
        if self.max_seq_length is not None and self.max_seq_length < 1:
            raise GraphkitError(f"--max-seq-length must be >= 1, got {self.max_seq_length}.")
        if self.out_dtype not in OUT_DTYPES:
            raise GraphkitError(f"--out-dtype must be one of {', '.join(OUT_DTYPES)}, got '{self.out_dtype}'.")
        if not self.feature_name or self.feature_name in TOKEN_FEATURES:
            raise GraphkitError(f"--feature-name '{self.feature_name}' is not allowed.",
                                hint=f"Token features ({', '.join(TOKEN_FEATURES)}) cannot be replaced; "
                                     "the default is lm_emb.")


@dataclass
class LMEmbedResult:
    graph_dir: str  # the graph that has the feature now
    feature_name: str
    shapes: dict[str, tuple[int, int]]  # ntype -> (num_nodes, dim)
    stats: dict[str, ChunkStats]  # ntype -> chunks cached / computed
    model_fingerprint: str
    seconds: float

    def summary(self) -> str:
        lines = [f"{'node type':<20} {'nodes':>10} {'dim':>5} {'chunks':>7} {'cached':>7} {'computed':>9}"]
        for t, (n, d) in self.shapes.items():
            s = self.stats[t]
            lines.append(f"{t:<20} {n:>10,} {d:>5} {s.chunks:>7} {s.cached:>7} {s.computed:>9}")
        return "\n".join(lines)


def lm_embed(cfg: LMEmbedConfig, encoder: Optional[TextEncoder] = None) -> LMEmbedResult:
    """Embed the text of ``cfg.ntypes`` and write feature ``cfg.feature_name``; see the module docstring.

    ``encoder`` replaces loading ``cfg.lm_model`` (for callers that hold a model already).
    """
    t0 = time.perf_counter()
    cfg.validate()
    graph = Graph(cfg.graph_dir)
    ntypes = check_text_node_types(graph.meta, cfg.ntypes)
    writer = NodeFeatureWriter(cfg.graph_dir, cfg.output_dir, overwrite=cfg.overwrite)
    for t in ntypes:  # fail before loading the model
        writer.check(t, cfg.feature_name)
        node_tokens(graph, t, cfg.max_seq_length)
    if encoder is None:
        encoder = TextEncoder.load(cfg.lm_model, cfg.pooling, cfg.device, cfg.precision, key="--lm-model")
    cache = EmbeddingCache(cfg.cache_dir)
    log.info("embedding node types %s with %s (%s pooling, %s on %s); cache %s", ", ".join(ntypes), cfg.lm_model,
             encoder.pooling, encoder.precision, encoder.device, cache.root or "off")
    shapes: dict[str, tuple[int, int]] = {}
    stats: dict[str, ChunkStats] = {}
    with writer:
        for t in ntypes:
            tokens = node_tokens(graph, t, cfg.max_seq_length)
            n = graph.num_nodes(t)
            st = stats[t] = ChunkStats()
            out: Optional[np.ndarray] = None
            for rows, emb in embed_chunks(encoder, tokens, cfg.batch_size, cache, cfg.chunk_size, st,
                                          desc=f"lm-embed {t}"):
                if out is None:
                    out = writer.create(t, cfg.feature_name, (n, emb.shape[1]), cfg.out_dtype)
                out[rows] = emb
            if out is None:  # a node type without nodes
                out = writer.create(t, cfg.feature_name, (0, encoder.hidden_size), cfg.out_dtype)
            shapes[t] = (n, int(out.shape[1]))
            log.info("%s: %d nodes -> %s %s; %d of %d chunks from the cache, %d computed", t, n, cfg.feature_name,
                     list(out.shape), st.cached, st.chunks, st.computed)
        provenance = {
            "stage": "lm-embed", "lm_model": cfg.lm_model, "model_fingerprint": encoder.fingerprint,
            "pooling": encoder.pooling, "precision": encoder.precision, "max_seq_length": cfg.max_seq_length,
            "node_types": ntypes, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        where = writer.commit(provenance)
    res = LMEmbedResult(graph_dir=where, feature_name=cfg.feature_name, shapes=shapes, stats=stats,
                        model_fingerprint=encoder.fingerprint, seconds=time.perf_counter() - t0)
    log.info("feature %s written to %s in %.1f s", cfg.feature_name, where, res.seconds)
    return res


def result_json(res: LMEmbedResult) -> dict:
    """The result as plain data (for the Kubeflow report and metrics)."""
    return {"graph_dir": res.graph_dir, "feature_name": res.feature_name,
            "shapes": {t: list(s) for t, s in res.shapes.items()},
            "stats": {t: asdict(s) for t, s in res.stats.items()},
            "model_fingerprint": res.model_fingerprint, "seconds": res.seconds}
