"""Parsing GraphStorm gconstruct-v0.1 configs into graphkit's typed config."""

from pathlib import Path

import pytest

from graphkit.errors import ConfigError
from graphkit.schema.gconstruct import (
    DEFAULT_MASKS,
    DEFAULT_SPLIT,
    FileFormat,
    load_graph_config,
    parse_graph_config,
)

SHARED = (Path(__file__).parents[2] / ".." / "shared").resolve()
GS_CONFIGS = SHARED / "bench" / "graphstorm-configs"


def _edge(**extra):
    return {"relation": ["user", "rates", "item"], "source_id_col": "src", "dest_id_col": "dst",
            "format": {"name": "csv"}, "files": ["e.csv"], **extra}


def _config(node_extra=None, edge_extra=None):
    node = {"node_type": "user", "node_id_col": "id", "format": {"name": "csv"}, "files": ["u.csv"],
            **(node_extra or {})}
    return {"version": "gconstruct-v0.1", "nodes": [node], "edges": [_edge(**(edge_extra or {}))]}


def _graphstorm_config(name):
    if not GS_CONFIGS.is_dir():
        pytest.skip(f"{GS_CONFIGS} is absent")
    return load_graph_config(str(GS_CONFIGS / name))


def test_graphstorm_node_and_link_config_parses():
    cfg = _graphstorm_config("gconstruct_conf.json")
    assert cfg.version == "gconstruct-v0.1"
    assert cfg.node_types == ["user", "item"]
    assert cfg.edge_types == [("user", "rates", "item")]

    user, item = cfg.nodes
    assert (user.node_type, user.id_column, user.format, user.files) == (
        "user", "nid", FileFormat("parquet", ","), ("nodes_user.parquet",))
    (feat,) = user.features
    assert (feat.columns, feat.name, feat.out_dtype, feat.transform.name, feat.transform.params) == (
        ("feat",), "feat", "float32", "no-op", {})
    assert feat.imputer is None

    (label,) = item.labels
    assert label.task_type == "classification"
    assert label.column == "label" and label.name == "label"
    assert label.stats_type == "frequency_cnt"
    assert label.mask_names == ("train_mask", "val_mask", "test_mask")
    assert label.split_pct == (0.8, 0.1, 0.1)
    cs = label.custom_split
    assert (cs.train, cs.valid, cs.test, cs.columns) == (
        ("split/nc_train.parquet",), ("split/nc_val.parquet",), ("split/nc_test.parquet",), ("nid",))

    (edge,) = cfg.edges
    assert (edge.src_column, edge.dst_column) == ("src", "dst")
    (lp,) = edge.labels
    assert lp.task_type == "link_prediction" and lp.column is None and lp.name == "link_prediction"
    assert lp.custom_split.columns == ("src", "dst")
    assert lp.stats_type is None


def test_graphstorm_config_with_explicit_reverse_edges_parses():
    cfg = _graphstorm_config("gconstruct_conf_masked_rev.json")
    assert cfg.edge_types == [("user", "rates", "item"), ("item", "rated-by", "user")]
    rev = cfg.edges[1]
    assert (rev.src_column, rev.dst_column) == ("dst", "src")
    assert rev.files == ("edges_rates.parquet",)
    assert rev.labels[0].custom_split.columns == ("dst", "src")


def test_label_defaults():
    cfg = parse_graph_config(_config(node_extra={
        "labels": [{"label_col": "y", "task_type": "classification"}]}))
    (label,) = cfg.nodes[0].labels
    assert label.split_pct == DEFAULT_SPLIT == (0.8, 0.1, 0.1)
    assert label.mask_names == DEFAULT_MASKS == ("train_mask", "val_mask", "test_mask")
    assert label.custom_split is None and label.stats_type is None


def test_custom_mask_names_and_split():
    cfg = parse_graph_config(_config(node_extra={"labels": [{
        "label_col": "y", "task_type": "regression", "split_pct": [0.5, 0.25, 0],
        "mask_field_names": ["tr", "va", "te"], "label_stats_type": "frequency_cnt"}]}))
    (label,) = cfg.nodes[0].labels
    assert label.split_pct == (0.5, 0.25, 0.0)
    assert label.mask_names == ("tr", "va", "te")
    assert label.stats_type is None  # GraphStorm ignores label stats outside classification


def test_version_may_be_omitted():
    raw = _config()
    del raw["version"]
    assert parse_graph_config(raw).version == "gconstruct-v0.1"


@pytest.mark.parametrize("name, expected", [("jsonl", "json"), ("json", "json"), ("parquet", "parquet")])
def test_format_names_and_jsonl_alias(name, expected):
    cfg = parse_graph_config(_config(node_extra={"format": {"name": name}}))
    assert cfg.nodes[0].format == FileFormat(expected, ",")


def test_csv_separator():
    cfg = parse_graph_config(_config(node_extra={"format": {"name": "csv", "separator": "\t"}}))
    assert cfg.nodes[0].format == FileFormat("csv", "\t")


def test_files_string_becomes_tuple():
    cfg = parse_graph_config(_config(node_extra={"files": "users/*.csv"}))
    assert cfg.nodes[0].files == ("users/*.csv",)


def test_truncate_dim_at_feature_level_becomes_a_noop_parameter():
    cfg = parse_graph_config(_config(node_extra={"features": [
        {"feature_col": "emb", "truncate_dim": 24}]}))
    (feat,) = cfg.nodes[0].features
    assert feat.transform.name == "no-op"
    assert feat.transform.params == {"truncate_dim": 24}
    assert feat.name == "emb"


def test_truncate_dim_with_another_transform_is_an_error():
    with pytest.raises(ConfigError, match="truncate_dim"):
        parse_graph_config(_config(node_extra={"features": [
            {"feature_col": "emb", "truncate_dim": 24, "transform": {"name": "max_min_norm"}}]}))


def test_multi_column_feature_needs_a_name():
    with pytest.raises(ConfigError, match="feature_name"):
        parse_graph_config(_config(node_extra={"features": [{"feature_col": ["a", "b"]}]}))
    cfg = parse_graph_config(_config(node_extra={"features": [{"feature_col": ["a", "b"], "feature_name": "ab"}]}))
    assert cfg.nodes[0].features[0].columns == ("a", "b")


def test_transform_params_are_kept_raw():
    cfg = parse_graph_config(_config(node_extra={"features": [
        {"feature_col": "x", "transform": {"name": "bucket_numerical", "bucket_cnt": 4, "range": [0, 8]}}]}))
    t = cfg.nodes[0].features[0].transform
    assert t.name == "bucket_numerical"
    assert t.params == {"bucket_cnt": 4, "range": [0, 8]}
    assert t.key == "nodes[0].features[0].transform"


def test_imputer_string_and_constant():
    cfg = parse_graph_config(_config(node_extra={"features": [
        {"feature_col": "a", "imputer": "median"},
        {"feature_col": "b", "imputer": {"strategy": "constant", "value": -1}}]}))
    a, b = cfg.nodes[0].features
    assert (a.imputer.strategy, a.imputer.value) == ("median", None)
    assert (b.imputer.strategy, b.imputer.value) == ("constant", -1.0)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'node_id_col'"):
        parse_graph_config(_config(node_extra={"node_id_column": "id"}))


def test_split_pct_over_one_is_an_error():
    with pytest.raises(ConfigError, match="sum to 1.1"):
        parse_graph_config(_config(node_extra={"labels": [
            {"label_col": "y", "task_type": "classification", "split_pct": [0.8, 0.2, 0.1]}]}))


def test_homogeneous_config_keeps_its_type_names():
    raw = {"nodes": [{"node_type": "paper", "node_id_col": "id", "format": {"name": "csv"}, "files": ["p.csv"]}],
           "edges": [{"relation": ["paper", "cites", "paper"], "source_id_col": "s", "dest_id_col": "d",
                      "format": {"name": "csv"}, "files": ["c.csv"]}]}
    cfg = parse_graph_config(raw)
    assert cfg.node_types == ["paper"]
    assert cfg.edge_types == [("paper", "cites", "paper")]


def test_edge_only_node_types_are_listed_after_node_blocks():
    raw = _config()
    raw["edges"].append({"relation": ["item", "in", "category"], "source_id_col": "i", "dest_id_col": "c",
                         "format": {"name": "csv"}, "files": ["ic.csv"]})
    assert parse_graph_config(raw).node_types == ["user", "item", "category"]
