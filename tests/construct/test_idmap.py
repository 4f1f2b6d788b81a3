"""End-to-end construction of a tiny graph: ID maps, structure arrays, reverse edges, two stages.

The graph (file order = node ID order):

    users.csv      u_c=0  u_a=1  u_b=2  u_d=3
    items.parquet  i2=0   i0=1   i1=2
    rates.parquet  e0 u_a->i0  e1 u_c->i1  e2 u_a->i2  e3 u_d->i0  e4 u_b->i1
"""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from graphkit.cli.main import main
from graphkit.construct.construct import construct_graph
from graphkit.construct.idmap_stage import build_graph
from graphkit.construct.transform_stage import read_transformed, transform_graph, write_transformed
from graphkit.errors import InputDataError
from graphkit.schema.gconstruct import load_graph_config
from graphkit.schema.graph_meta import STRUCTURE_KEYS
from graphkit.storage.graph import Graph

RATES = ("user", "rates", "item")
RATES_REV = ("item", "rates-rev", "user")

EDGES = [("u_a", "i0"), ("u_c", "i1"), ("u_a", "i2"), ("u_d", "i0"), ("u_b", "i1")]
RATING = [5.0, 3.0, 4.0, 1.0, 2.0]
NEGS = [["i1", "i2"], ["i9", "i0"], [], ["i0", "i1", "i2"], None]

SRC = [1, 0, 1, 3, 2]
DST = [1, 2, 0, 1, 2]
CSR = ([0, 1, 3, 4, 5], [2, 1, 0, 2, 1], [1, 0, 2, 4, 3])  # by user: indptr, items, edge IDs
CSC = ([0, 1, 3, 5], [1, 1, 3, 0, 2], [2, 0, 3, 1, 4])  # by item: indptr, users, edge IDs
NEGS_MAPPED = [[2, 0, -1], [1, -1, -1], [-1, -1, -1], [1, 2, 0], [-1, -1, -1]]  # i9 is no item: dropped
EDGE_MASKS = {"train_mask": [0, 1, 0, 1, 0], "val_mask": [1, 0, 0, 0, 0], "test_mask": [0, 0, 1, 0, 1]}


def _write_graph_tables(d, edges=EDGES, rating=RATING, negs=NEGS):
    pacsv.write_csv(pa.table({"id": ["u_c", "u_a", "u_b", "u_d"], "age": [30, 20, 40, 50], "y": [1, 0, 0, 1]}),
                    os.path.join(d, "users.csv"))
    pq.write_table(pa.table({"iid": ["i2", "i0", "i1"],
                             "feat": pa.array([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]], pa.list_(pa.float32()))}),
                   os.path.join(d, "items.parquet"))
    pq.write_table(pa.table({"src": [s for s, _ in edges], "dst": [t for _, t in edges], "rating": rating,
                             "negs": pa.array(negs, pa.list_(pa.string()))}),
                   os.path.join(d, "rates.parquet"))
    os.makedirs(os.path.join(d, "split"), exist_ok=True)
    for name, ids in [("train", ["u_a", "u_c"]), ("valid", ["u_d"]), ("test", ["u_b"])]:
        with open(os.path.join(d, "split", f"user_{name}.json"), "w", encoding="utf-8") as f:
            f.write("".join(json.dumps(i) + "\n" for i in ids))
    for name, pairs in [("train", [("u_c", "i1"), ("u_d", "i0")]), ("valid", [("u_a", "i0")]),
                        ("test", [("u_a", "i2"), ("u_b", "i1")])]:
        pq.write_table(pa.table({"s": [p[0] for p in pairs], "d": [p[1] for p in pairs]}),
                       os.path.join(d, "split", f"rates_{name}.parquet"))
    config = {
        "version": "gconstruct-v0.1",
        "nodes": [
            {"node_type": "user", "node_id_col": "id", "format": {"name": "csv"}, "files": ["users.csv"],
             "features": [{"feature_col": "age"}],
             "labels": [{"label_col": "y", "task_type": "classification",
                         "custom_split_filenames": {"train": "split/user_train.json", "valid": "split/user_valid.json",
                                                    "test": "split/user_test.json"}}]},
            {"node_type": "item", "node_id_col": "iid", "format": {"name": "parquet"}, "files": ["items.parquet"],
             "features": [{"feature_col": "feat", "feature_name": "emb"}]},
        ],
        "edges": [
            {"relation": list(RATES), "source_id_col": "src", "dest_id_col": "dst", "format": {"name": "parquet"},
             "files": ["rates.parquet"],
             "features": [{"feature_col": "rating"},
                          {"feature_col": "negs", "feature_name": "hard_neg",
                           "transform": {"name": "edge_dst_hard_negative"}}],
             "labels": [{"task_type": "link_prediction",
                         "custom_split_filenames": {"train": "split/rates_train.parquet",
                                                    "valid": "split/rates_valid.parquet",
                                                    "test": "split/rates_test.parquet", "column": ["s", "d"]}}]},
        ],
    }
    path = os.path.join(d, "gconstruct.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return path


@pytest.fixture
def conf(tmp_path):
    d = tmp_path / "tables"
    d.mkdir()
    return _write_graph_tables(str(d))


def test_id_maps_map_back_to_raw_ids_in_file_order(conf, tmp_path):
    construct_graph(conf, str(tmp_path / "g"), "tiny")
    g = Graph(str(tmp_path / "g"))
    assert g.node_types == ["user", "item"]
    assert g.num_nodes("user") == 4 and g.num_nodes("item") == 3
    assert g.id_map("user").to_pylist() == ["u_c", "u_a", "u_b", "u_d"]
    assert g.id_map("item").to_pylist() == ["i2", "i0", "i1"]
    t = pq.read_table(os.path.join(g.root, g.meta.node_types["user"].id_map))
    assert t.column("id").to_pylist() == ["u_c", "u_a", "u_b", "u_d"]
    assert t.column("nid").to_pylist() == [0, 1, 2, 3]


def test_structure_arrays_are_exact(conf, tmp_path):
    construct_graph(conf, str(tmp_path / "g"), "tiny")
    g = Graph(str(tmp_path / "g"))
    assert g.edge_types == [RATES]
    assert g.num_edges(RATES) == 5
    src, dst = g.edges(RATES)
    np.testing.assert_array_equal(src, SRC)
    np.testing.assert_array_equal(dst, DST)
    for got, want in zip(g.csr(RATES), CSR):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.int64
    for got, want in zip(g.csc(RATES), CSC):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.int64


def test_features_labels_masks_and_hard_negatives(conf, tmp_path):
    construct_graph(conf, str(tmp_path / "g"), "tiny")
    g = Graph(str(tmp_path / "g"))
    np.testing.assert_array_equal(g.node_feature("user", "age"), [[30], [20], [40], [50]])
    assert g.node_feature("user", "age").dtype == np.float32
    np.testing.assert_array_equal(g.node_feature("item", "emb"), [[0, 0.5], [1, 1.5], [2, 2.5]])
    np.testing.assert_array_equal(g.node_label("user", "y"), [1, 0, 0, 1])
    # split files list u_a, u_c / u_d / u_b; node order is u_c, u_a, u_b, u_d
    np.testing.assert_array_equal(g.node_mask("user", "train_mask"), [1, 1, 0, 0])
    np.testing.assert_array_equal(g.node_mask("user", "val_mask"), [0, 0, 0, 1])
    np.testing.assert_array_equal(g.node_mask("user", "test_mask"), [0, 0, 1, 0])
    lab = g.meta.node_types["user"].labels["y"]
    assert (lab.num_classes, lab.split_counts) == (2, {"train": 2, "val": 1, "test": 1})

    np.testing.assert_array_equal(g.edge_feature(RATES, "rating"), np.array(RATING, np.float32)[:, None])
    neg = g.edge_feature(RATES, "hard_neg")
    assert neg.dtype == np.int64
    np.testing.assert_array_equal(neg, NEGS_MAPPED)
    for name, want in EDGE_MASKS.items():
        m = g.edge_mask(RATES, name)
        assert m.dtype == np.int8
        np.testing.assert_array_equal(m, want)


def test_arrays_are_memory_mapped(conf, tmp_path):
    construct_graph(conf, str(tmp_path / "g"), "tiny")
    g = Graph(str(tmp_path / "g"))
    arrays = [*g.edges(RATES), *g.csr(RATES), *g.csc(RATES), g.node_feature("user", "age"),
              g.node_label("user", "y"), g.edge_mask(RATES, "train_mask"), g.edge_feature(RATES, "hard_neg")]
    for a in arrays:
        assert isinstance(a, np.memmap)
        assert not a.flags.writeable


def test_reverse_edges_share_the_forward_arrays_swapped(conf, tmp_path):
    construct_graph(conf, str(tmp_path / "g"), "tiny", add_reverse_edges=True)
    g = Graph(str(tmp_path / "g"))
    assert g.edge_types == [RATES, RATES_REV]
    fwd, rev = g.meta.edge_type(RATES), g.meta.edge_type(RATES_REV)
    assert rev.reverse_of == list(RATES) and fwd.reverse_of is None
    assert rev.num_edges == 5
    swapped = {"src": "dst", "dst": "src", "csr_indptr": "csc_indptr", "csr_indices": "csc_indices",
               "csr_eids": "csc_eids", "csc_indptr": "csr_indptr", "csc_indices": "csr_indices",
               "csc_eids": "csr_eids"}
    assert set(rev.structure) == set(STRUCTURE_KEYS)
    for k, fk in swapped.items():
        assert rev.structure[k].path == fwd.structure[fk].path  # the same files
    rsrc, rdst = g.edges(RATES_REV)
    np.testing.assert_array_equal(rsrc, DST)
    np.testing.assert_array_equal(rdst, SRC)
    for got, want in zip(g.csr(RATES_REV), CSC):  # out-edges of items = in-edges of the forward type
        np.testing.assert_array_equal(got, want)
    for got, want in zip(g.csc(RATES_REV), CSR):
        np.testing.assert_array_equal(got, want)
    assert set(rev.masks) == set(fwd.masks) == set(EDGE_MASKS)
    for name, want in EDGE_MASKS.items():
        assert rev.masks[name].path == fwd.masks[name].path
        np.testing.assert_array_equal(g.edge_mask(RATES_REV, name), want)
    assert rev.labels == {}


def test_edge_only_node_types_get_ids_in_first_appearance_order(tmp_path):
    d = tmp_path / "tables"
    d.mkdir()
    pacsv.write_csv(pa.table({"id": ["p0", "p1", "p2"]}), str(d / "papers.csv"))
    pacsv.write_csv(pa.table({"p": ["p1", "p0", "p2", "p0"], "t": ["t_x", "t_y", "t_x", "t_z"]}),
                    str(d / "tagged.csv"))
    config = {"nodes": [{"node_type": "paper", "node_id_col": "id", "format": {"name": "csv"},
                         "files": ["papers.csv"]}],
              "edges": [{"relation": ["paper", "tagged", "tag"], "source_id_col": "p", "dest_id_col": "t",
                         "format": {"name": "csv"}, "files": ["tagged.csv"]}]}
    (d / "c.json").write_text(json.dumps(config), encoding="utf-8")
    construct_graph(str(d / "c.json"), str(tmp_path / "g"), "tags")
    g = Graph(str(tmp_path / "g"))
    assert g.node_types == ["paper", "tag"]
    assert g.id_map("tag").to_pylist() == ["t_x", "t_y", "t_z"]
    src, dst = g.edges(("paper", "tagged", "tag"))
    np.testing.assert_array_equal(src, [1, 0, 2, 0])
    np.testing.assert_array_equal(dst, [0, 1, 0, 2])
    assert g.meta.node_types["tag"].features == {}


def test_edge_only_node_type_in_several_edge_types(tmp_path):
    # "tag" is the destination of two edge types and the source of a third.
    d = tmp_path / "tables"
    d.mkdir()
    pacsv.write_csv(pa.table({"id": ["p0", "p1"]}), str(d / "papers.csv"))
    pacsv.write_csv(pa.table({"p": ["p1", "p0"], "t": ["t_x", "t_y"]}), str(d / "tagged.csv"))
    pacsv.write_csv(pa.table({"p": ["p0", "p1"], "t": ["t_w", "t_x"]}), str(d / "suggested.csv"))
    pacsv.write_csv(pa.table({"a": ["t_v", "t_y"], "b": ["t_w", "t_u"]}), str(d / "related.csv"))
    config = {"nodes": [{"node_type": "paper", "node_id_col": "id", "format": {"name": "csv"},
                         "files": ["papers.csv"]}],
              "edges": [{"relation": ["paper", "tagged", "tag"], "source_id_col": "p", "dest_id_col": "t",
                         "format": {"name": "csv"}, "files": ["tagged.csv"]},
                        {"relation": ["paper", "suggested", "tag"], "source_id_col": "p", "dest_id_col": "t",
                         "format": {"name": "csv"}, "files": ["suggested.csv"]},
                        {"relation": ["tag", "related", "tag"], "source_id_col": "a", "dest_id_col": "b",
                         "format": {"name": "csv"}, "files": ["related.csv"]}]}
    (d / "c.json").write_text(json.dumps(config), encoding="utf-8")
    construct_graph(str(d / "c.json"), str(tmp_path / "g"), "tags")
    g = Graph(str(tmp_path / "g"))
    # first appearance over edge types in config order (sources before destinations within a type)
    assert g.id_map("tag").to_pylist() == ["t_x", "t_y", "t_w", "t_v", "t_u"]
    np.testing.assert_array_equal(g.edges(("paper", "suggested", "tag"))[1], [2, 0])
    src, dst = g.edges(("tag", "related", "tag"))
    np.testing.assert_array_equal(src, [3, 1])
    np.testing.assert_array_equal(dst, [2, 4])


def _bad_edge_tables(d):
    """The tiny graph plus two edges with unknown endpoints, at rows 1 and 4."""
    edges = list(EDGES)
    rating, negs = list(RATING), list(NEGS)
    for row, edge in [(1, ("u_zz", "i0")), (4, ("u_a", "i_zz"))]:
        edges.insert(row, edge)
        rating.insert(row, 99.0)
        negs.insert(row, ["i0"])
    return _write_graph_tables(d, edges, rating, negs)


def test_unknown_endpoints_are_an_error_by_default(tmp_path):
    d = tmp_path / "tables"
    d.mkdir()
    conf = _bad_edge_tables(str(d))
    with pytest.raises(InputDataError, match="'u_zz' is not a node of type 'user'.*2 edge"):
        construct_graph(conf, str(tmp_path / "g"), "tiny")
    assert not (tmp_path / "g").exists()


def test_skip_nonexist_edges_drops_rows_everywhere(tmp_path):
    d = tmp_path / "tables"
    d.mkdir()
    conf = _bad_edge_tables(str(d))
    meta = construct_graph(conf, str(tmp_path / "g"), "tiny", skip_nonexist_edges=True, add_reverse_edges=True)
    assert meta.construction["skipped_edges"] == {"user,rates,item": 2}
    g = Graph(str(tmp_path / "g"))
    assert g.num_edges(RATES) == 5 and g.num_edges(RATES_REV) == 5
    src, dst = g.edges(RATES)
    np.testing.assert_array_equal(src, SRC)
    np.testing.assert_array_equal(dst, DST)
    for got, want in zip(g.csr(RATES), CSR):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(g.edge_feature(RATES, "rating"), np.array(RATING, np.float32)[:, None])
    np.testing.assert_array_equal(g.edge_feature(RATES, "hard_neg"), NEGS_MAPPED)
    for name, want in EDGE_MASKS.items():
        np.testing.assert_array_equal(g.edge_mask(RATES, name), want)
        np.testing.assert_array_equal(g.edge_mask(RATES_REV, name), want)
    assert g.meta.edge_type(RATES).labels["link_prediction"].split_counts == {"train": 2, "val": 1, "test": 2}


def _graph_files(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = p
    return out


def _assert_same_graph(a, b):
    fa, fb = _graph_files(a), _graph_files(b)
    assert set(fa) == set(fb)
    npy = sorted(k for k in fa if k.endswith(".npy"))
    assert len(npy) >= 12
    for k in npy:
        with open(fa[k], "rb") as x, open(fb[k], "rb") as y:
            assert x.read() == y.read(), k
    for k in (k for k in fa if k.endswith(".parquet")):
        assert pq.read_table(fa[k]).equals(pq.read_table(fb[k])), k
    ma, mb = Graph(a).meta, Graph(b).meta
    assert ma.node_types == mb.node_types
    assert ma.edge_types == mb.edge_types
    assert Graph(a).transforms == Graph(b).transforms


def test_transform_then_idmap_equals_one_shot_construct(conf, tmp_path):
    construct_graph(conf, str(tmp_path / "one"), "tiny", add_reverse_edges=True, seed=5)
    cfg = load_graph_config(conf)
    tg = transform_graph(cfg, os.path.dirname(conf), seed=5)
    write_transformed(tg, str(tmp_path / "t"))
    build_graph(read_transformed(str(tmp_path / "t")), str(tmp_path / "two"), "tiny", add_reverse_edges=True)
    _assert_same_graph(str(tmp_path / "one"), str(tmp_path / "two"))


def test_cli_two_stages_equal_cli_construct(conf, tmp_path, capsys):
    out = str(tmp_path)
    assert main(["construct", "--conf-file", conf, "--output-dir", f"{out}/one", "--add-reverse-edges",
                 "--seed", "2"]) == 0
    assert main(["transform", "--conf-file", conf, "--output-dir", f"{out}/t", "--seed", "2"]) == 0
    assert main(["idmap", "--input-dir", f"{out}/t", "--output-dir", f"{out}/two", "--add-reverse-edges"]) == 0
    _assert_same_graph(f"{out}/one", f"{out}/two")
    printed = capsys.readouterr().out
    assert "node user: 4 nodes" in printed and "edge user,rates,item: 5 edges" in printed


def test_random_splits_survive_the_two_stages(tmp_path):
    # Random masks are drawn in the transform stage and must reach the graph unchanged.
    d = tmp_path / "tables"
    d.mkdir()
    pacsv.write_csv(pa.table({"id": [f"n{i}" for i in range(20)], "y": [i % 3 for i in range(20)]}),
                    str(d / "n.csv"))
    pacsv.write_csv(pa.table({"s": [f"n{i}" for i in range(20)], "d": [f"n{(i * 7) % 20}" for i in range(20)]}),
                    str(d / "e.csv"))
    config = {"nodes": [{"node_type": "n", "node_id_col": "id", "format": {"name": "csv"}, "files": ["n.csv"],
                         "labels": [{"label_col": "y", "task_type": "classification",
                                     "split_pct": [0.5, 0.25, 0.25]}]}],
              "edges": [{"relation": ["n", "to", "n"], "source_id_col": "s", "dest_id_col": "d",
                         "format": {"name": "csv"}, "files": ["e.csv"]}]}
    conf = str(d / "c.json")
    with open(conf, "w", encoding="utf-8") as f:
        json.dump(config, f)
    construct_graph(conf, str(tmp_path / "one"), "g", seed=11)
    tg = transform_graph(load_graph_config(conf), str(d), seed=11)
    write_transformed(tg, str(tmp_path / "t"))
    build_graph(read_transformed(str(tmp_path / "t")), str(tmp_path / "two"), "g")
    _assert_same_graph(str(tmp_path / "one"), str(tmp_path / "two"))
    g = Graph(str(tmp_path / "one"))
    assert [int(g.node_mask("n", m).sum()) for m in ("train_mask", "val_mask", "test_mask")] == [10, 5, 5]
