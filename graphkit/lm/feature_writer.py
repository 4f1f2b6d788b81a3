"""Add node features to a graph directory, all or nothing.

Two ways, one interface (:class:`NodeFeatureWriter`, a context manager):

- **In place** (no ``output_dir``): each feature is written to a new ``.npy`` file next to
  the graph's other features (a temporary name, renamed when complete), then ``graph.json``
  is replaced atomically (written to a temporary file and renamed). Replacing
  ``graph.json`` is the commit: until then readers see the old graph, after it the new
  one. A feature that already exists (``overwrite=True``) gets a file of a new name, and the
  old file is deleted only after the commit, so no reader ever sees a half-written array.
- **New directory** (``output_dir``): the source graph's files are hard-linked into a
  temporary sibling of ``output_dir`` (copied where hard links are impossible, e.g. across
  file systems), the features and a new ``graph.json`` are added, and the folder is renamed
  into place (:func:`graphkit.storage.atomic.atomic_output_dir`). The source is unchanged.

Nothing here writes into an existing file, so hard-linked copies never change each other.
A failure (or Ctrl-C) anywhere before the commit leaves the graph exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from typing import Any, Optional

import numpy as np

from graphkit.errors import GraphkitError
from graphkit.schema.graph_meta import META_FILE, ArrayMeta, GraphMeta, read_graph_meta
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.paths import safe_name

log = logging.getLogger(__name__)


def _is_within(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def link_tree(src: str, dst: str, skip: set[str]) -> int:
    """Hard-link (or copy) every file under ``src`` into ``dst``, except the relative paths in ``skip``.

    Returns how many files were copied rather than linked.
    """
    copied = 0
    for d, dirs, files in os.walk(src):
        dirs[:] = [x for x in dirs if not x.startswith(".")]  # temporary folders of interrupted stages
        rel_dir = os.path.relpath(d, src)
        os.makedirs(os.path.join(dst, rel_dir), exist_ok=True)
        for f in files:
            rel = os.path.normpath(os.path.join(rel_dir, f))
            if rel in skip or f.startswith("."):
                continue
            a, b = os.path.join(src, rel), os.path.join(dst, rel)
            try:
                os.link(a, b)
            except OSError:
                shutil.copy2(a, b)
                copied += 1
    return copied


def write_meta_atomically(graph_dir: str, meta: GraphMeta) -> None:
    """Replace ``graph.json`` with ``meta`` by writing a temporary file and renaming it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{META_FILE}.", suffix=".tmp", dir=graph_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(meta.to_json(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(graph_dir, META_FILE))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class NodeFeatureWriter:
    """Write new float node features into a graph, committed together by :meth:`commit`.

    Args:
        graph_dir: The source graph.
        output_dir: A new graph directory to write (the source stays as it is), or None for in place.
        overwrite: Replace features that already exist (otherwise that is an error).

    Use::

        with NodeFeatureWriter(graph_dir, output_dir) as w:
            arr = w.create("paper", "lm_emb", (n, 384), np.float32)   # a writable memory map
            arr[:] = ...
            w.commit(provenance={...})
    """

    def __init__(self, graph_dir: str, output_dir: Optional[str] = None, overwrite: bool = False) -> None:
        self.source = os.path.abspath(graph_dir)
        self.meta = read_graph_meta(self.source)
        if output_dir is not None and os.path.realpath(output_dir) == os.path.realpath(self.source):
            output_dir = None  # the same directory: in place
        if output_dir is not None and _is_within(output_dir, self.source):
            raise GraphkitError("the output directory is inside the source graph.", file=output_dir,
                                hint="Choose a folder outside it, or leave out --output-dir to add the feature in "
                                     "place.")
        self.output_dir = None if output_dir is None else os.path.abspath(output_dir)
        self.overwrite = overwrite
        self.root = self.source  # where arrays are written; a temporary folder with output_dir
        self._stack = contextlib.ExitStack()
        self._pending: list[tuple[str, str, ArrayMeta, str, np.memmap]] = []  # ntype, name, entry, temp, map
        self._replaced: list[str] = []  # files of replaced features, deleted after the commit
        self._committed = False

    def check(self, ntype: str, name: str) -> None:
        """Raise if ``name`` cannot be written for ``ntype`` (unknown type, or exists without overwrite)."""
        nt = self.meta.node_type(ntype)
        if name in nt.features and not self.overwrite:
            raise GraphkitError(f"node type '{ntype}' already has a feature '{name}'.",
                                hint="Pass --overwrite to replace it, or choose another --feature-name.")

    def __enter__(self) -> "NodeFeatureWriter":
        if self.output_dir is not None:
            self.root = self._stack.enter_context(atomic_output_dir(self.output_dir, markers=(META_FILE,)))
            copied = link_tree(self.source, self.root, skip={META_FILE})
            log.info("new graph directory %s: %s the source's files", self.output_dir,
                     f"copied {copied}" if copied else "hard-linked")
        return self

    def create(self, ntype: str, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A writable ``.npy`` memory map for feature ``name`` of ``ntype``; visible after :meth:`commit`."""
        self.check(ntype, name)
        n = self.meta.node_type(ntype).num_nodes
        if shape[0] != n:
            raise ValueError(f"feature {name} of {ntype} has {shape[0]} rows, the type has {n} nodes")
        folder = f"nodes/{safe_name(ntype)}/features"
        os.makedirs(os.path.join(self.root, folder), exist_ok=True)
        rel = f"{folder}/{safe_name(name)}.npy"
        old = self.meta.node_type(ntype).features.get(name)
        if os.path.exists(os.path.join(self.root, rel)) or (old is not None and old.path == rel):
            rel = f"{folder}/{safe_name(name)}-{uuid.uuid4().hex[:8]}.npy"  # never write into an existing file
        tmp = os.path.join(self.root, folder, f".{safe_name(name)}.{uuid.uuid4().hex[:8]}.npy.tmp")
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=shape)
        self._pending.append((ntype, name, ArrayMeta(path=rel, dtype=str(np.dtype(dtype)), shape=list(shape)), tmp,
                              arr))
        return arr

    def commit(self, provenance: Optional[dict[str, Any]] = None) -> str:
        """Make the features part of the graph; returns the graph directory that now has them.

        ``provenance`` is stored in ``graph.json`` under ``construction["node_feature_sources"][name]``.
        """
        for ntype, name, am, tmp, arr in self._pending:
            arr.flush()
            os.replace(tmp, os.path.join(self.root, am.path))
            old = self.meta.node_type(ntype).features.get(name)
            if old is not None:  # in a new directory: a hard link to the source's file, unlinked from the copy
                self._replaced.append(os.path.join(self.root, old.path))
            self.meta.node_type(ntype).features[name] = am
        if provenance:
            sources = self.meta.construction.setdefault("node_feature_sources", {})
            for name in dict.fromkeys(p[1] for p in self._pending):
                sources[name] = provenance
        write_meta_atomically(self.root, self.meta)
        self._committed = True
        return self.output_dir or self.source

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        failed = exc_type is not None or not self._committed
        if failed:
            self._discard()
            if exc_type is None:  # left without commit(): the new directory is discarded too
                exc_type, exc, tb = RuntimeError, RuntimeError("NodeFeatureWriter left without commit()"), None
        else:
            for path in self._replaced:
                if os.path.exists(path):
                    os.unlink(path)
        self._stack.__exit__(exc_type, exc, tb)

    def _discard(self) -> None:
        for _, _, am, tmp, _ in self._pending:
            for path in (tmp, os.path.join(self.root, am.path)):  # both are new names: nothing else uses them
                if os.path.exists(path):
                    os.unlink(path)
