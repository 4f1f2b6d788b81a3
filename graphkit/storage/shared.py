"""Place a graph in shared memory once; every trainer process on the machine maps the same pages.

The graph directory is copied (once, atomically) to a folder on a RAM-backed
filesystem (``/dev/shm`` on Linux) and opened from there with memory-mapped
arrays, so N processes use one copy of the structure and features: opening
it does not copy, and pages are shared through the kernel's page cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from typing import Optional

from graphkit.errors import GraphkitError
from graphkit.schema.graph_meta import META_FILE
from graphkit.storage.graph import Graph

DEFAULT_SHM_ROOT = "/dev/shm"


def shared_path(graph_dir: str, shm_root: str = DEFAULT_SHM_ROOT) -> str:
    """Where ``graph_dir`` lives in shared memory: a stable name per source folder and graph.json content."""
    with open(os.path.join(graph_dir, META_FILE), "rb") as f:
        digest = hashlib.sha1(os.path.abspath(graph_dir).encode() + f.read()).hexdigest()[:16]
    return os.path.join(shm_root, f"graphkit-{digest}")


def place_in_shared_memory(graph_dir: str, shm_root: Optional[str] = None) -> str:
    """Copy ``graph_dir`` to shared memory unless an identical copy is there; returns its path.

    Safe to call from several processes at once: each copies to a private
    temporary folder and the first rename wins.
    """
    root = shm_root or DEFAULT_SHM_ROOT
    if not os.path.isdir(root):
        raise GraphkitError(f"no shared-memory filesystem at {root}.", hint="Pass shm_root (a tmpfs mount).")
    target = shared_path(graph_dir, root)
    if os.path.exists(os.path.join(target, META_FILE)):
        return target
    tmp = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
    shutil.copytree(graph_dir, tmp)
    try:
        os.rename(tmp, target)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def open_shared(graph_dir: str, shm_root: Optional[str] = None) -> Graph:
    """The graph, opened from shared memory (placed there first if needed)."""
    return Graph(place_in_shared_memory(graph_dir, shm_root))


def release_shared(graph_dir: str, shm_root: Optional[str] = None) -> None:
    """Remove the shared-memory copy of ``graph_dir`` (when no process needs it any more)."""
    shutil.rmtree(shared_path(graph_dir, shm_root or DEFAULT_SHM_ROOT), ignore_errors=True)
