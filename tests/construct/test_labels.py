"""Labels, class mapping, random and custom splits, and label statistics on tiny tables."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graphkit.construct.labels import process_label
from graphkit.errors import InputDataError
from graphkit.schema.gconstruct import parse_graph_config
from graphkit.storage.tables import RowSource, Table


def table(**cols) -> Table:
    data = pa.table(cols)
    return Table(data=data, source=RowSource(("mem.csv",), (0,), data.num_rows))


def node_label(**entry):
    cfg = parse_graph_config({
        "nodes": [{"node_type": "n", "node_id_col": "id", "format": {"name": "csv"}, "files": ["n.csv"],
                   "labels": [entry]}],
        "edges": [{"relation": ["n", "r", "n"], "source_id_col": "s", "dest_id_col": "d",
                   "format": {"name": "csv"}, "files": ["e.csv"]}],
    })
    return cfg.nodes[0].labels[0]


def edge_label(**entry):
    cfg = parse_graph_config({
        "nodes": [{"node_type": "n", "node_id_col": "id", "format": {"name": "csv"}, "files": ["n.csv"]}],
        "edges": [{"relation": ["n", "r", "n"], "source_id_col": "s", "dest_id_col": "d",
                   "format": {"name": "csv"}, "files": ["e.csv"], "labels": [entry]}],
    })
    return cfg.edges[0].labels[0]


def run(tbl, spec, keys=(), seed=0, type_key="n", base_dir=None):
    return process_label(tbl, spec, list(keys), seed, type_key, base_dir, None)


def rows(mask):
    return np.flatnonzero(mask).tolist()


# --- label values ------------------------------------------------------------------------------

def test_integer_classes():
    res = run(table(y=pa.array([2, 0, 1, 2, 0, 1, 1, 0, 2, 2])),
              node_label(label_col="y", task_type="classification", split_pct=[0.5, 0.2, 0.3]))
    assert res.name == "y" and res.task_type == "classification"
    assert res.values.dtype == np.int64
    np.testing.assert_array_equal(res.values, [2, 0, 1, 2, 0, 1, 1, 0, 2, 2])
    assert res.num_classes == 3 and res.classes is None


def test_num_classes_is_max_plus_one_for_integer_labels():
    res = run(table(y=pa.array([0, 4, 4, 0, 4, 0, 0, 4, 4, 0])),
              node_label(label_col="y", task_type="classification", split_pct=[0.5, 0.2, 0.3]))
    assert res.num_classes == 5


def test_text_classes_are_sorted_and_mapped():
    y = ["dog", "cat", "emu", "cat", "dog", "emu", "cat", "dog", "cat", "emu"]
    res = run(table(y=pa.array(y)), node_label(label_col="y", task_type="classification",
                                                split_pct=[0.5, 0.2, 0.3]))
    assert res.classes == ["cat", "dog", "emu"]
    assert res.num_classes == 3
    np.testing.assert_array_equal(res.values, [1, 0, 2, 0, 1, 2, 0, 1, 0, 2])


def test_regression_values_are_float32_and_keep_nan():
    res = run(table(y=pa.array([1.5, None, 3.0, 4.0, float("nan"), 2.0, 0.5, 8.0, 9.0, 1.0, 7.0, 6.0])),
              node_label(label_col="y", task_type="regression", split_pct=[0.5, 0.2, 0.2]))
    assert res.values.dtype == np.float32
    assert np.isnan(res.values[1]) and np.isnan(res.values[4])
    assert res.values[0] == 1.5 and res.num_classes is None
    for m in res.masks.values():
        assert m[1] == 0 and m[4] == 0


@pytest.mark.parametrize("values, match", [([0.0, 1.5], "not a whole number"), ([1, -1], "negative")])
def test_invalid_class_values(values, match):
    with pytest.raises(InputDataError, match=match):
        run(table(y=pa.array(values)), node_label(label_col="y", task_type="classification"))


# --- random splits -------------------------------------------------------------------------------

def test_nan_labels_are_excluded_from_every_split():
    y = [0.0, np.nan, 1.0, 1.0, np.nan, 0.0, 2.0, 2.0, 1.0, None, 0.0, 1.0]
    res = run(table(y=pa.array(y, pa.float64())),
              node_label(label_col="y", task_type="classification", split_pct=[0.5, 0.25, 0.25]))
    missing = [1, 4, 9]
    np.testing.assert_array_equal(res.values[missing], [-1, -1, -1])
    union = res.masks["train_mask"] | res.masks["val_mask"] | res.masks["test_mask"]
    assert union[missing].sum() == 0
    # 9 labelled rows: floor(4.5), floor(2.25), floor(2.25)
    assert res.split_counts == {"train": 4, "val": 2, "test": 2}
    assert res.num_classes == 3


def test_random_split_counts_are_floors_and_masks_are_disjoint():
    n = 17
    res = run(table(y=pa.array(np.arange(n) % 3)),
              node_label(label_col="y", task_type="classification", split_pct=[0.6, 0.2, 0.2]))
    tr, va, te = res.masks["train_mask"], res.masks["val_mask"], res.masks["test_mask"]
    for m in (tr, va, te):
        assert m.dtype == np.int8 and m.shape == (n,)
    # int(17 * 0.6) = 10, int(17 * 0.2) = 3 (twice): one row is in no split.
    assert (int(tr.sum()), int(va.sum()), int(te.sum())) == (10, 3, 3)
    assert res.split_counts == {"train": 10, "val": 3, "test": 3}
    assert int((tr + va + te).max()) == 1
    assert int((tr + va + te).sum()) == 16


def test_random_split_is_deterministic_for_a_seed():
    spec = node_label(label_col="y", task_type="classification", split_pct=[0.5, 0.25, 0.25])
    t = table(y=pa.array(np.arange(40) % 4))
    a, b = run(t, spec, seed=3), run(t, spec, seed=3)
    c = run(t, spec, seed=4)
    for name in ("train_mask", "val_mask", "test_mask"):
        np.testing.assert_array_equal(a.masks[name], b.masks[name])
    assert rows(a.masks["train_mask"]) != rows(c.masks["train_mask"])
    assert sum(c.masks["train_mask"]) == 20
    # The split of one type does not depend on the other types: it is keyed by the type name.
    d = run(t, spec, seed=3, type_key="other")
    assert rows(a.masks["train_mask"]) != rows(d.masks["train_mask"])


def test_split_with_a_zero_fraction_leaves_that_mask_empty():
    res = run(table(y=pa.array(np.arange(10) % 2)),
              node_label(label_col="y", task_type="classification", split_pct=[0.7, 0.0, 0.3]))
    assert res.split_counts == {"train": 7, "val": 0, "test": 3}
    assert res.masks["val_mask"].sum() == 0


def test_an_asked_for_split_that_ends_up_empty_is_an_error():
    # 3 rows * 0.1 floors to 0 validation rows.
    with pytest.raises(InputDataError, match="val split .* is empty"):
        run(table(y=pa.array([0, 1, 0])), node_label(label_col="y", task_type="classification"))


def test_mask_field_names():
    res = run(table(y=pa.array(np.arange(10) % 2)),
              node_label(label_col="y", task_type="classification", split_pct=[0.6, 0.2, 0.2],
                         mask_field_names=["tr", "va", "te"]))
    assert list(res.masks) == ["tr", "va", "te"]
    assert res.mask_names == ["tr", "va", "te"]
    assert [int(res.masks[m].sum()) for m in ("tr", "va", "te")] == [6, 2, 2]


def test_link_prediction_splits_all_edges():
    t = table(s=pa.array(["a"] * 20), d=pa.array([f"x{i}" for i in range(20)]))
    res = run(t, edge_label(task_type="link_prediction", split_pct=[0.8, 0.1, 0.1]),
              keys=[t.data.column("s"), t.data.column("d")])
    assert res.values is None and res.num_classes is None
    assert res.split_counts == {"train": 16, "val": 2, "test": 2}


# --- label statistics ------------------------------------------------------------------------------

def _write_ids(path, column, ids):
    pq.write_table(pa.table({column: ids}), path)


def test_frequency_cnt_counts_the_training_rows(tmp_path):
    ids = [f"v{i}" for i in range(8)]
    y = [0, 0, 1, 2, 2, 2, 1, 0]
    _write_ids(tmp_path / "train.parquet", "nid", ["v0", "v2", "v3", "v4", "v6"])  # labels 0, 1, 2, 2, 1
    _write_ids(tmp_path / "test.parquet", "nid", ["v1", "v5", "v7"])
    spec = node_label(label_col="y", task_type="classification", label_stats_type="frequency_cnt",
                      custom_split_filenames={"train": "train.parquet", "test": "test.parquet", "column": ["nid"]})
    t = table(id=pa.array(ids), y=pa.array(y))
    res = run(t, spec, keys=[t.data.column("id").combine_chunks()], base_dir=str(tmp_path))
    assert res.stats == {"stats_type": "frequency_cnt", "info": {"0": 1, "1": 2, "2": 2}}


def test_frequency_cnt_uses_class_names_for_text_labels():
    y = ["b", "a", "b", "b", "a", "c", "a", "b", "b", "c"]
    res = run(table(y=pa.array(y)), node_label(label_col="y", task_type="classification",
                                                split_pct=[1.0, 0.0, 0.0], label_stats_type="frequency_cnt"))
    assert res.stats == {"stats_type": "frequency_cnt", "info": {"a": 3, "b": 5, "c": 2}}


# --- custom splits -----------------------------------------------------------------------------------

def test_custom_node_split_priority_train_valid_test(tmp_path):
    ids = ["a", "b", "c", "d", "e", "f"]
    _write_ids(tmp_path / "train.parquet", "nid", ["a", "b"])
    _write_ids(tmp_path / "valid.parquet", "nid", ["c", "a"])  # a is already in train
    _write_ids(tmp_path / "test.parquet", "nid", ["d", "c", "zz"])  # c is in valid; zz is no node
    spec = node_label(label_col="y", task_type="classification",
                      custom_split_filenames={"train": "train.parquet", "valid": "valid.parquet",
                                              "test": "test.parquet", "column": ["nid"]})
    t = table(id=pa.array(ids), y=pa.array([0, 1, 0, 1, 0, 1]))
    res = run(t, spec, keys=[t.data.column("id").combine_chunks()], base_dir=str(tmp_path))
    assert rows(res.masks["train_mask"]) == [0, 1]
    assert rows(res.masks["val_mask"]) == [2]
    assert rows(res.masks["test_mask"]) == [3]
    assert res.split_counts == {"train": 2, "val": 1, "test": 1}


def test_custom_split_json_lines_in_graphstorm_form(tmp_path):
    (tmp_path / "train.json").write_text('"a"\n"c"\n', encoding="utf-8")
    (tmp_path / "test.json").write_text('"b"\n', encoding="utf-8")
    spec = node_label(label_col="y", task_type="classification",
                      custom_split_filenames={"train": "train.json", "test": "test.json"})
    t = table(id=pa.array(["a", "b", "c", "d"]), y=pa.array([0, 1, 1, 0]))
    res = run(t, spec, keys=[t.data.column("id").combine_chunks()], base_dir=str(tmp_path))
    assert rows(res.masks["train_mask"]) == [0, 2]
    assert rows(res.masks["val_mask"]) == []
    assert rows(res.masks["test_mask"]) == [1]


def test_custom_split_integer_ids(tmp_path):
    _write_ids(tmp_path / "train.parquet", "nid", pa.array([30, 10], pa.int32()))
    _write_ids(tmp_path / "test.parquet", "nid", pa.array([20], pa.int32()))
    spec = node_label(label_col="y", task_type="classification",
                      custom_split_filenames={"train": "train.parquet", "test": "test.parquet", "column": "nid"})
    t = table(id=pa.array([10, 20, 30, 40], pa.int64()), y=pa.array([0, 1, 1, 0]))
    res = run(t, spec, keys=[t.data.column("id").combine_chunks()], base_dir=str(tmp_path))
    assert rows(res.masks["train_mask"]) == [0, 2]
    assert rows(res.masks["test_mask"]) == [1]


def test_custom_split_drops_rows_with_missing_labels(tmp_path):
    _write_ids(tmp_path / "train.parquet", "nid", ["a", "b", "c"])
    spec = node_label(label_col="y", task_type="classification",
                      custom_split_filenames={"train": "train.parquet", "column": ["nid"]})
    t = table(id=pa.array(["a", "b", "c"]), y=pa.array([1.0, None, 0.0]))
    res = run(t, spec, keys=[t.data.column("id").combine_chunks()], base_dir=str(tmp_path))
    assert rows(res.masks["train_mask"]) == [0, 2]
    assert res.split_counts["train"] == 2


def test_custom_edge_split_matches_src_dst_pairs(tmp_path):
    src = ["u1", "u1", "u2", "u3", "u2"]
    dst = ["i1", "i2", "i1", "i1", "i2"]
    pq.write_table(pa.table({"s": ["u1", "u2"], "d": ["i2", "i1"]}), tmp_path / "train.parquet")
    pq.write_table(pa.table({"s": ["u3", "u1"], "d": ["i1", "i1"]}), tmp_path / "valid.parquet")
    # (u2, i1) is already in train; (i1, u1) is the reverse of an edge, not an edge.
    pq.write_table(pa.table({"s": ["u2", "i1"], "d": ["i1", "u1"]}), tmp_path / "test.parquet")
    spec = edge_label(task_type="link_prediction",
                      custom_split_filenames={"train": "train.parquet", "valid": "valid.parquet",
                                              "test": "test.parquet", "column": ["s", "d"]})
    t = table(s=pa.array(src), d=pa.array(dst))
    keys = [t.data.column("s").combine_chunks(), t.data.column("d").combine_chunks()]
    with pytest.raises(InputDataError, match="test split .* is empty"):
        run(t, spec, keys=keys, base_dir=str(tmp_path))

    pq.write_table(pa.table({"s": ["u2", "u2"], "d": ["i1", "i2"]}), tmp_path / "test.parquet")
    res = run(t, spec, keys=keys, base_dir=str(tmp_path))
    assert rows(res.masks["train_mask"]) == [1, 2]
    assert rows(res.masks["val_mask"]) == [0, 3]
    assert rows(res.masks["test_mask"]) == [4]


def test_custom_edge_split_json_pairs(tmp_path):
    (tmp_path / "train.json").write_text("\n".join(json.dumps(p) for p in [["u1", "i1"], ["u2", "i2"]]) + "\n",
                                         encoding="utf-8")
    spec = edge_label(label_col="w", task_type="regression", custom_split_filenames={"train": "train.json"})
    t = table(s=pa.array(["u1", "u2", "u1"]), d=pa.array(["i2", "i2", "i1"]), w=pa.array([0.5, 1.5, 2.5]))
    keys = [t.data.column("s").combine_chunks(), t.data.column("d").combine_chunks()]
    res = run(t, spec, keys=keys, base_dir=str(tmp_path))
    assert rows(res.masks["train_mask"]) == [1, 2]
    np.testing.assert_array_equal(res.values, np.array([0.5, 1.5, 2.5], np.float32))


def test_custom_edge_split_marks_duplicate_edges_skips_missing_ids_and_counts_unknown_pairs(tmp_path, caplog):
    # rows 0 and 2 are the same edge; row 3 has a missing source and matches nothing.
    t = table(s=pa.array(["u1", "u2", "u1", None, "u2"]), d=pa.array(["i1", "i1", "i1", "i1", "i2"]))
    keys = [t.data.column("s").combine_chunks(), t.data.column("d").combine_chunks()]
    # listed twice; (u1, i2) pairs two known IDs but is no edge; (u9, i1) names an unknown node.
    pq.write_table(pa.table({"s": ["u1", "u1", "u1", "u9", None], "d": ["i1", "i1", "i2", "i1", "i1"]}),
                   tmp_path / "train.parquet")
    pq.write_table(pa.table({"s": ["u2", "u2"], "d": ["i1", "i2"]}), tmp_path / "test.parquet")
    spec = edge_label(task_type="link_prediction", custom_split_filenames={
        "train": "train.parquet", "test": "test.parquet", "column": ["s", "d"]})
    with caplog.at_level("WARNING"):
        res = run(t, spec, keys=keys, base_dir=str(tmp_path))
    assert rows(res.masks["train_mask"]) == [0, 2]
    assert rows(res.masks["val_mask"]) == []
    assert rows(res.masks["test_mask"]) == [1, 4]
    assert "3 ID(s) in the train split files are not in the data" in caplog.text
    assert "test split files" not in caplog.text
