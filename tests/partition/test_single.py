"""One partition is the graph: same graph.json (plus partition info), same arrays, same ID maps."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from graphkit.partition.stage import partition_graph
from graphkit.schema.graph_meta import META_FILE, TRANSFORMS_FILE
from graphkit.storage.graph import Graph


def npy_files(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files if f.endswith(".npy"))


@pytest.mark.parametrize("fixture", ["shop_dir", "community_dir"])
@pytest.mark.parametrize("method", ["metis", "random"])
def test_single_partition_equals_the_graph(fixture: str, method: str, request: pytest.FixtureRequest,
                                           tmp_path) -> None:
    graph_dir = request.getfixturevalue(fixture)
    meta = partition_graph(graph_dir, str(tmp_path / "p"), 1, method=method)
    part_dir = meta.part_dir(str(tmp_path / "p"), 0)
    with open(os.path.join(graph_dir, META_FILE)) as f:
        original = json.load(f)
    with open(os.path.join(part_dir, META_FILE)) as f:
        part = json.load(f)
    info = part.pop("partition")
    assert part == original
    g, p = Graph(graph_dir), Graph(part_dir)
    assert info["num_owned_nodes"] == {t: g.num_nodes(t) for t in g.node_types}
    assert info["num_owned_edges"] == {",".join(e): g.num_edges(e) for e in g.edge_types}
    for t in g.node_types:
        assert np.array_equal(p.load(p.meta.partition.node_local_to_global[t]), np.arange(g.num_nodes(t)))
        assert pq.read_table(os.path.join(part_dir, g.meta.node_type(t).id_map)).equals(
            pq.read_table(os.path.join(graph_dir, g.meta.node_type(t).id_map)))
    files = npy_files(graph_dir)
    assert set(files) <= set(npy_files(part_dir))
    for rel in files:
        a, b = np.load(os.path.join(graph_dir, rel)), np.load(os.path.join(part_dir, rel))
        assert a.dtype == b.dtype and np.array_equal(a, b), rel
    with open(os.path.join(graph_dir, TRANSFORMS_FILE)) as f1, open(os.path.join(part_dir, TRANSFORMS_FILE)) as f2:
        assert f1.read() == f2.read()
    assert meta.edge_cut == 0.0 and set(meta.balance.values()) == {1.0}
