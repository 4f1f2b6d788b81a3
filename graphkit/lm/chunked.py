"""Embed token rows chunk by chunk through the cache: reruns and restarts skip finished work.

Rows ``[k * chunk_size, (k + 1) * chunk_size)`` form chunk ``k``. For each chunk the cache
(:mod:`graphkit.lm.cache`) is asked first; a miss is embedded with the encoder and stored
before the next chunk starts, so a run killed at any point loses at most the chunk in
progress. Chunks are by row position: a changed text recomputes its own chunk, while inserting
or removing rows shifts every later chunk (and recomputes them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Mapping, Optional

import numpy as np
from tqdm.auto import tqdm

from graphkit.errors import GraphkitError
from graphkit.lm.cache import EmbeddingCache, chunk_key
from graphkit.lm.encoder import TextEncoder
from graphkit.schema.tokens import TOKEN_FEATURES

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1024


@dataclass
class ChunkStats:
    """What a run did: chunks in all, found in the cache, computed; rows computed."""

    chunks: int = 0
    cached: int = 0
    computed: int = 0
    rows_computed: int = 0

    def add(self, other: "ChunkStats") -> None:
        self.chunks += other.chunks
        self.cached += other.cached
        self.computed += other.computed
        self.rows_computed += other.rows_computed


def _check_vocab(ids: np.ndarray, encoder: TextEncoder, desc: str) -> None:
    vocab = encoder.vocab_size
    if vocab is None or ids.size == 0:
        return
    top = int(ids.max())
    if top >= vocab or int(ids.min()) < 0:
        raise GraphkitError(
            f"{desc}: token IDs range up to {top}, but the model {encoder.source or ''} has a vocabulary of "
            f"{vocab}: the text was tokenized for another model.",
            hint="Tokenize with this model's tokenizer (tokenize_hf bert_model), or embed with the model the "
                 "graph was tokenized for.")


def embed_chunks(encoder: TextEncoder, tokens: Mapping[str, np.ndarray], batch_size: int, cache: EmbeddingCache,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, stats: Optional[ChunkStats] = None,
                 desc: str = "embedding") -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, vectors)`` per chunk, in row order, from the cache or computed (and then cached).

    ``tokens`` may be memory-mapped; one chunk at a time is read. ``stats`` is updated as chunks finish.
    """
    if chunk_size < 1:
        raise GraphkitError(f"chunk size must be >= 1, got {chunk_size}.")
    stats = stats if stats is not None else ChunkStats()
    n = int(tokens["input_ids"].shape[0])
    keys = [k for k in TOKEN_FEATURES if k in tokens]
    starts = range(0, n, chunk_size)
    stats.chunks += len(starts)
    with tqdm(total=n, desc=desc, unit="row", disable=n == 0) as bar:
        for start in starts:
            rows = slice(start, min(start + chunk_size, n))
            chunk = {k: np.asarray(tokens[k][rows]) for k in keys}
            key = chunk_key(encoder.fingerprint, encoder.pooling, encoder.precision, chunk) if cache.enabled else ""
            emb = cache.get(key, rows.stop - rows.start) if cache.enabled else None
            if emb is not None:
                stats.cached += 1
                bar.update(rows.stop - rows.start)
            else:
                _check_vocab(chunk["input_ids"], encoder, desc)
                emb = encoder.embed(chunk, batch_size, desc=desc, progress=bar)
                cache.put(key, emb)
                stats.computed += 1
                stats.rows_computed += rows.stop - rows.start
            yield rows, emb


def embed_rows(encoder: TextEncoder, tokens: Mapping[str, np.ndarray], batch_size: int,
               cache: Optional[EmbeddingCache] = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
               desc: str = "embedding") -> tuple[np.ndarray, ChunkStats]:
    """All rows' vectors in memory, float32 ``(N, hidden)``, and what was cached or computed."""
    stats = ChunkStats()
    n = int(tokens["input_ids"].shape[0])
    out: Optional[np.ndarray] = None
    for rows, emb in embed_chunks(encoder, tokens, batch_size, cache or EmbeddingCache(None), chunk_size, stats,
                                  desc):
        if out is None:
            out = np.empty((n, emb.shape[1]), np.float32)
        out[rows] = emb
    if out is None:
        out = np.zeros((0, encoder.hidden_size), np.float32)
    return out, stats
