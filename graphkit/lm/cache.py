"""A content-addressed cache of embedded chunks: ``<root>/<key[:2]>/<key>.npy``.

A chunk's key hashes what determines its vectors: the model's fingerprint
(:func:`graphkit.lm.fingerprint.model_fingerprint`), the pooling, the precision and the
chunk's token rows (every token array's dtype, shape and bytes). So a rerun with the same
model and text finds every chunk; a run that was killed finds the chunks it finished; a
changed text misses only its own chunk; another model or pooling misses everything. Entries
are written to a temporary file and renamed, so a crash never leaves a partial entry, and
several processes may share one cache. Nothing is ever evicted: delete the folder to free it.

The default folder is ``$GRAPHKIT_CACHE_DIR/lm-embed``, else ``$XDG_CACHE_HOME/graphkit/lm-embed``,
else ``~/.cache/graphkit/lm-embed``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from typing import Mapping, Optional

import numpy as np

from graphkit.schema.tokens import TOKEN_FEATURES

log = logging.getLogger(__name__)



def default_cache_dir() -> str:
    """Where the embedding cache lives unless a folder is given."""
    root = os.environ.get("GRAPHKIT_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "graphkit")
    return os.path.join(root, "lm-embed")


def chunk_key(model_fingerprint: str, pooling: str, precision: str, tokens: Mapping[str, np.ndarray]) -> str:
    """SHA-256 (hex) of the model, pooling, precision and the chunk's token rows."""
    h = hashlib.sha256()
    h.update(f"graphkit-lm-chunk-v1\0{model_fingerprint}\0{pooling}\0{precision}\0".encode())
    for name in TOKEN_FEATURES:
        if name not in tokens:
            continue
        arr = np.ascontiguousarray(tokens[name])
        h.update(f"{name}\0{arr.dtype.str}\0{arr.shape}\0".encode())
        h.update(arr.data)
    return h.hexdigest()


class EmbeddingCache:
    """Embedded chunks on disk, keyed by :func:`chunk_key`. ``root=None`` disables it (every lookup misses)."""

    def __init__(self, root: Optional[str]) -> None:
        self.root = None if root is None else os.path.abspath(root)

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, key: str) -> str:
        assert self.root is not None
        return os.path.join(self.root, key[:2], f"{key}.npy")

    def get(self, key: str, rows: int) -> Optional[np.ndarray]:
        """The cached ``(rows, dim)`` float32 array of ``key``, or None (missing or unreadable)."""
        if self.root is None:
            return None
        path = self._path(key)
        if not os.path.exists(path):
            return None
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            log.warning("unreadable cache entry %s (%s); computing it again", path, e)
            return None
        if arr.ndim != 2 or arr.shape[0] != rows or arr.dtype != np.float32:
            log.warning("cache entry %s has shape %s %s, expected (%d, dim) float32; computing it again",
                        path, arr.shape, arr.dtype, rows)
            return None
        return arr

    def put(self, key: str, arr: np.ndarray) -> None:
        """Store ``arr`` under ``key`` atomically (temporary file, then rename)."""
        if self.root is None:
            return
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, np.ascontiguousarray(arr, dtype=np.float32))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
