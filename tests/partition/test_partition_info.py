"""``graph.json``'s optional ``partition`` field: absent in whole graphs, read back in partitions."""

from __future__ import annotations

import copy
import json
import os

from graphkit.partition.stage import partition_graph
from graphkit.schema.graph_meta import META_FILE, GraphMeta, PartitionInfo, read_graph_meta


def test_graphs_without_partition_still_read(shop_dir: str) -> None:
    with open(os.path.join(shop_dir, META_FILE)) as f:
        obj = json.load(f)
    assert "partition" not in obj
    meta = GraphMeta.from_json(obj)
    assert meta.partition is None
    assert meta.to_json() == obj


def test_partition_info_round_trips(shop_dir: str, tmp_path) -> None:
    partition_graph(shop_dir, str(tmp_path / "p"), 2, method="random")
    meta = read_graph_meta(str(tmp_path / "p" / "part1"))
    info = meta.partition
    assert isinstance(info, PartitionInfo)
    assert (info.part_id, info.num_parts) == (1, 2)
    assert info.node_local_to_global["customer"].path == "local_to_global/nodes/customer.npy"
    assert info.edge_local_to_global["customer,buys,product"].path == \
        "local_to_global/edges/customer%2Cbuys%2Cproduct.npy"
    again = GraphMeta.from_json(copy.deepcopy(meta.to_json()))
    assert again == meta
