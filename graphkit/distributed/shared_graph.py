"""Open the training graph once per machine: local rank 0 copies it to shared memory, every rank maps it.

With ``K`` trainer processes on a machine, opening the graph from its folder
gives each process its own page-cache-backed mappings — shared as long as the
kernel keeps the file pages cached, but on network volumes (a PVC) often not.
Copying the folder once to ``/dev/shm`` (:mod:`graphkit.storage.shared`) and
memory-mapping it from there makes the structure and feature pages one copy
in RAM for all ``K`` processes: the machine's graph memory does not grow with
``K``.

Local rank 0 places the copy while the other local ranks wait at a barrier,
then every rank opens it. If the copy fails (no ``/dev/shm``, or too small —
Kubernetes gives pods 64 MiB unless a memory ``emptyDir`` is mounted there),
every rank logs a warning and opens the original folder instead: sharing is
an optimisation, never a reason to fail.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

from graphkit.distributed.context import DistContext
from graphkit.schema.graph_meta import META_FILE
from graphkit.storage.graph import Graph
from graphkit.storage.shared import DEFAULT_SHM_ROOT, place_in_shared_memory, release_shared, shared_path

log = logging.getLogger(__name__)


def use_shared_memory(ctx: DistContext, enabled: bool = True) -> bool:
    """Whether a job places its graph in shared memory: asked for, and several processes on this machine."""
    return enabled and ctx.local_world_size > 1


def open_training_graph(graph_dir: str, ctx: DistContext, shared: bool = True,
                        shm_root: Optional[str] = None) -> Graph:
    """The graph in ``graph_dir``, memory-mapped from one shared-memory copy per machine when ``shared``.

    Every rank of the job must call it (it holds a barrier when sharing).
    """
    if not use_shared_memory(ctx, shared):
        return Graph(graph_dir)
    root = shm_root or DEFAULT_SHM_ROOT
    if ctx.local_rank == 0:
        try:
            path = place_in_shared_memory(graph_dir, root)
            log.info("graph %s placed in shared memory at %s", graph_dir, path)
        except Exception as e:  # any failure: fall back to the folder (below)
            log.warning("cannot place the graph in shared memory: %s", e)
    ctx.barrier()
    target = shared_path(graph_dir, root)
    if not os.path.exists(os.path.join(target, META_FILE)):
        log.warning("no shared-memory copy of the graph; mapping %s directly", graph_dir)
        return Graph(graph_dir)
    return Graph(target)


def release_training_graph(graph_dir: str, ctx: DistContext, shared: bool = True,
                           shm_root: Optional[str] = None) -> None:
    """At the end of a run: local rank 0 removes the shared-memory copy once every rank is done with it."""
    if not use_shared_memory(ctx, shared):
        return
    ctx.barrier()
    if ctx.local_rank == 0:
        release_shared(graph_dir, shm_root)
