"""The shared-memory graph store: one copy, opened memory-mapped by several processes."""

import os
import subprocess
import sys

import numpy as np

from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph
from graphkit.storage.shared import open_shared, place_in_shared_memory, release_shared, shared_path

E = ("n", "to", "n")


def _graph(tmp_path, n=50_000):
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, n, 200_000), rng.integers(0, n, 200_000)
    feats = {"n": {"x": rng.normal(size=(n, 16)).astype(np.float32)}}
    graph_from_arrays(str(tmp_path / "g"), {"n": n}, {E: (src, dst)}, node_features=feats)
    return str(tmp_path / "g")


def test_placed_once_and_opened_memory_mapped(tmp_path):
    g = _graph(tmp_path)
    shm = tmp_path / "shm"
    shm.mkdir()
    path = place_in_shared_memory(g, str(shm))
    assert path == shared_path(g, str(shm))
    mtime = os.path.getmtime(os.path.join(path, "graph.json"))
    assert place_in_shared_memory(g, str(shm)) == path  # a second call reuses it
    assert os.path.getmtime(os.path.join(path, "graph.json")) == mtime
    graph = open_shared(g, str(shm))
    assert isinstance(graph.node_feature("n", "x"), np.memmap)
    np.testing.assert_array_equal(graph.node_feature("n", "x"), Graph(g).node_feature("n", "x"))
    release_shared(g, str(shm))
    assert not os.path.exists(path)


_CHILD = """
import sys, numpy as np
from graphkit.storage.shared import open_shared
g = open_shared(sys.argv[1], sys.argv[2])
x = g.node_feature("n", "x")
s = float(np.asarray(x).sum())          # touch every page
rss_shared = 0
with open("/proc/self/smaps_rollup") as f:
    for line in f:
        if line.startswith(("Shared_Clean", "Shared_Dirty")):
            rss_shared += int(line.split()[1])
print(s, x.nbytes // 1024, rss_shared)
"""


def test_two_processes_share_the_pages(tmp_path):
    g = _graph(tmp_path)
    shm = tmp_path / "shm"
    shm.mkdir()
    place_in_shared_memory(g, str(shm))
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD + "\nimport time; time.sleep(2)" , g, str(shm)],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    sums = {o[0] for o in outs}
    assert len(sums) == 1  # both read the same data
    feat_kb = int(outs[0][1])
    # While both were alive, the feature pages were mapped by both: counted as shared, not private.
    assert max(int(o[2]) for o in outs) >= 0.9 * feat_kb
