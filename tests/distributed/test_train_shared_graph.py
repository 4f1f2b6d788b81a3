"""The training graph of a multi-process job is one copy in shared memory, mapped by every rank.

Two ranks on one "machine" open a graph whose feature matrix is 3.2 MB through
:func:`open_training_graph`, read every page of it, and report what
``/proc/self/smaps`` says about the mapping of the feature file: it lives in
``/dev/shm``, and its resident pages are *shared* (mapped by both processes),
not private copies.
"""

from __future__ import annotations

import os

import numpy as np
from ranks import run_ranks

from graphkit.distributed.shared_graph import open_training_graph, release_training_graph, use_shared_memory
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.shared import shared_path

N, DIM = 50_000, 16


def _mapping_kb(path: str) -> dict[str, int]:
    """Rss / Shared_* / Private_* (kB) of this process's mappings of ``path``, from /proc/self/smaps."""
    out = {"Rss": 0, "Shared": 0, "Private": 0}
    inside = False
    with open("/proc/self/smaps", encoding="utf-8") as f:
        for line in f:
            head = line.split()
            if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:  # a mapping's header line
                inside = line.rstrip("\n").endswith(path)
            elif inside and head[0].rstrip(":") in ("Rss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                                                   "Private_Dirty"):
                key = head[0].rstrip(":").split("_")[0]
                out[key] += int(head[1])
    return out


def _map_features(graph_dir: str) -> dict:
    import torch.distributed as dist

    from graphkit.distributed.context import current

    ctx = current()
    graph = open_training_graph(graph_dir, ctx, shared=True)
    x = graph.node_feature("n", "x")
    total = float(np.asarray(x).sum(dtype=np.float64))  # touches every page
    dist.barrier()  # both ranks have the pages mapped
    kb = _mapping_kb(os.path.join(graph.root, graph.meta.node_type("n").features["x"].path))
    dist.barrier()
    release_training_graph(graph_dir, ctx, shared=True)
    return {"root": graph.root, "total": total, "nbytes": int(x.nbytes), **kb}


def test_two_ranks_map_one_shared_copy(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, DIM)).astype(np.float32)
    e = ("n", "to", "n")
    graph_from_arrays(str(tmp_path / "g"), {"n": N}, {e: (rng.integers(0, N, 1000), rng.integers(0, N, 1000))},
                      node_features={"n": {"x": x}})
    graph_dir = str(tmp_path / "g")
    results = run_ranks(_map_features, 2, graph_dir, timeout=120)
    for r in results:
        assert r["root"] == shared_path(graph_dir) and r["root"].startswith("/dev/shm/")
        assert r["total"] == float(x.sum(dtype=np.float64))
        assert r["nbytes"] == N * DIM * 4
        # every page of the 3.2 MB matrix is resident and shared with the other rank; none is a private copy
        assert r["Shared"] * 1024 >= 0.98 * r["nbytes"], r
        assert r["Private"] * 1024 <= 0.02 * r["nbytes"], r
    assert not os.path.exists(shared_path(graph_dir))  # released by local rank 0 at the end


def test_sharing_is_for_several_local_processes_only():
    from graphkit.distributed.context import DistContext

    assert not use_shared_memory(DistContext())  # one process: open the folder directly
    assert not use_shared_memory(DistContext(rank=1, world_size=2, local_rank=0, local_world_size=1))
    assert use_shared_memory(DistContext(rank=1, world_size=2, local_rank=1, local_world_size=2))
    assert not use_shared_memory(DistContext(rank=1, world_size=2, local_rank=1, local_world_size=2), enabled=False)
