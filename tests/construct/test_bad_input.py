"""A catalogue of bad inputs to graph construction, and what graphkit says about each.

Every case builds a small valid two-type graph (users and items, a ``rates``
edge type) in ``tmp_path``, breaks one thing, runs the CLI in-process and
checks that it exits 2 with one paragraph naming the file / row / column /
config key at fault, and that no output (not even a temporary directory) is
left behind.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from graphkit.cli.main import main

# --- a valid graph to break ---------------------------------------------------------

N_USERS = 10
AGES = [20.0, 31.0, 25.0, 47.0, 38.0, 52.0, 29.0, 33.0, 41.0, 60.0]


def _user_columns() -> dict[str, list]:
    return {
        "uid": [f"u{i}" for i in range(N_USERS)],
        "age": list(AGES),
        "gender": ["f", "m", "x", "f", "m", "f", "m", "x", "f", "m"],
        "emb": [[float(i), float(i) / 2] for i in range(N_USERS)],
        "cls": [i % 3 for i in range(N_USERS)],
    }


def _item_csv(prices: Optional[list[str]] = None) -> str:
    prices = prices or ["9.5", "3", "12.25", "7", "5.5"]
    return "iid,price\n" + "".join(f"i{i},{p}\n" for i, p in enumerate(prices))


def _rates_columns() -> dict[str, list]:
    return {
        "src": [f"u{i % N_USERS}" for i in range(12)],
        "dst": [f"i{i % 5}" for i in range(12)],
        "rating": [float(1 + i % 5) for i in range(12)],
    }


def _config() -> dict:
    return {
        "version": "gconstruct-v0.1",
        "nodes": [
            {
                "node_type": "user",
                "node_id_col": "uid",
                "format": {"name": "parquet"},
                "files": ["user.parquet"],
                "features": [
                    {"feature_col": "age", "transform": {"name": "max_min_norm"}},
                    {"feature_col": "gender", "transform": {"name": "to_categorical"}},
                    {"feature_col": "emb"},
                ],
                "labels": [{"label_col": "cls", "task_type": "classification", "split_pct": [0.6, 0.2, 0.2]}],
            },
            {
                "node_type": "item",
                "node_id_col": "iid",
                "format": {"name": "csv"},
                "files": ["item.csv"],
                "features": [{"feature_col": "price", "transform": {"name": "standard_scaler"}}],
            },
        ],
        "edges": [
            {
                "relation": ["user", "rates", "item"],
                "source_id_col": "src",
                "dest_id_col": "dst",
                "format": {"name": "parquet"},
                "files": ["rates.parquet"],
                "labels": [{"label_col": "rating", "task_type": "regression", "split_pct": [0.5, 0.25, 0.25]}],
            }
        ],
    }


@dataclass
class Graph:
    """Tables and config of a small valid graph; change them, then :meth:`run` the CLI.

    ``files`` maps a file name (under ``in/``) to its content: a dict of
    columns (written as Parquet or JSON lines by extension), text or bytes
    (written as they are).
    """

    root: Path
    config: dict = field(default_factory=_config)
    files: dict[str, Any] = field(default_factory=dict)

    @property
    def input_dir(self) -> Path:
        return self.root / "in"

    @property
    def conf_file(self) -> Path:
        return self.input_dir / "conf.json"

    @property
    def out(self) -> Path:
        return self.root / "out"

    def node(self, ntype: str) -> dict:
        return next(n for n in self.config["nodes"] if n["node_type"] == ntype)

    def write(self) -> None:
        self.input_dir.mkdir(exist_ok=True)
        for name, content in self.files.items():
            path = self.input_dir / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif isinstance(content, str):
                path.write_text(content)
            elif name.endswith(".parquet"):
                pq.write_table(content if isinstance(content, pa.Table) else pa.table(content), path)
            else:
                rows = [dict(zip(content, vals)) for vals in zip(*content.values())]
                path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        self.conf_file.write_text(json.dumps(self.config))

    def run(self, *extra: str, cmd: str = "construct") -> int:
        """Write everything, then run ``graphkit construct`` (or ``transform``) into ``out``."""
        self.write()
        return main([cmd, "--conf-file", str(self.conf_file), "--output-dir", str(self.out), *extra])


@pytest.fixture
def graph(tmp_path: Path) -> Graph:
    return Graph(
        root=tmp_path,
        files={"user.parquet": _user_columns(), "item.csv": _item_csv(), "rates.parquet": _rates_columns()},
    )


def leftovers(root: Path) -> list[str]:
    """Temporary or half-replaced output directories left next to the outputs."""
    return sorted(p.name for p in root.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def assert_fails(graph: Graph, rc: int, capsys: pytest.CaptureFixture, *needles: str) -> str:
    """Exit code 2, one paragraph containing every needle, no output and no temporary directories."""
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    assert not graph.out.exists()
    assert leftovers(graph.root) == []
    return err


def meta(graph_dir: Path) -> dict:
    return json.loads((graph_dir / "graph.json").read_text())


# --- the valid baseline ---------------------------------------------------------------

def test_baseline_graph_constructs(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    rc = graph.run()
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert (graph.out / "graph.json").is_file()
    assert leftovers(graph.root) == []
    assert "15 nodes in 2 type(s), 12 edges in 1 type(s)" in out.out
    m = meta(graph.out)
    assert {t: m["node_types"][t]["num_nodes"] for t in ("user", "item")} == {"user": 10, "item": 5}
    age = np.load(graph.out / "nodes/user/features/age.npy")
    np.testing.assert_allclose(age[:, 0], (np.array(AGES) - 20) / 40, rtol=1e-6)


def test_failed_rerun_leaves_previous_output_untouched(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    assert graph.run() == 0
    before = {p.relative_to(graph.out): p.read_bytes() for p in graph.out.rglob("*") if p.is_file()}
    capsys.readouterr()
    cols = _user_columns()
    cols["age"][4] = float("nan")
    graph.files["user.parquet"] = cols
    rc = graph.run()
    err = capsys.readouterr().err
    assert rc == 2
    assert "row 4" in err and "column 'age'" in err
    after = {p.relative_to(graph.out): p.read_bytes() for p in graph.out.rglob("*") if p.is_file()}
    assert after == before
    assert leftovers(graph.root) == []


# --- the config file ------------------------------------------------------------------

def test_config_not_found(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.write()
    rc = main(["construct", "--conf-file", str(graph.input_dir / "nope.json"), "--output-dir", str(graph.out)])
    assert_fails(graph, rc, capsys, "nope.json", "does not exist")


def test_config_invalid_json(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.write()
    graph.conf_file.write_text('{"version": "gconstruct-v0.1",\n "nodes": [,]}')
    rc = main(["construct", "--conf-file", str(graph.conf_file), "--output-dir", str(graph.out)])
    assert_fails(graph, rc, capsys, "conf.json", "not valid JSON", "line 2")


def test_wrong_version(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.config["version"] = "gconstruct-v0.2"
    assert_fails(graph, graph.run(), capsys, "conf.json", "config key version", "gconstruct-v0.2",
                 "gconstruct-v0.1")


@pytest.mark.parametrize(
    "where, bad, good, key",
    [
        ("top", "edgs", "edges", "config key edgs"),
        ("node", "node_id_column", "node_id_col", "config key nodes[0].node_id_column"),
        ("feature", "feature_cols", "feature_col", "config key nodes[0].features[0].feature_cols"),
        ("label", "split_pcts", "split_pct", "config key nodes[0].labels[0].split_pcts"),
        ("edge", "dest_id_column", "dest_id_col", "config key edges[0].dest_id_column"),
    ],
)
def test_unknown_config_key_suggests_closest(graph: Graph, capsys: pytest.CaptureFixture, where: str, bad: str,
                                            good: str, key: str) -> None:
    block = {
        "top": graph.config,
        "node": graph.node("user"),
        "feature": graph.node("user")["features"][0],
        "label": graph.node("user")["labels"][0],
        "edge": graph.config["edges"][0],
    }[where]
    block[bad] = block.pop(good)
    assert_fails(graph, graph.run(), capsys, key, f"unknown key '{bad}'", f"Did you mean '{good}'?")


def test_unknown_format_name_suggests_closest(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("user")["format"]["name"] = "parqet"
    assert_fails(graph, graph.run(), capsys, "config key nodes[0].format.name", "unknown value 'parqet'",
                 "Did you mean 'parquet'?")


def test_relation_of_wrong_length(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.config["edges"][0]["relation"] = ["user", "item"]
    assert_fails(graph, graph.run(), capsys, "config key edges[0].relation", "['user', 'item']")


def test_split_pct_sums_to_more_than_one(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("user")["labels"][0]["split_pct"] = [0.8, 0.2, 0.2]
    assert_fails(graph, graph.run(), capsys, "config key nodes[0].labels[0].split_pct", "sum to 1.2")


def test_mask_field_names_of_wrong_length(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("user")["labels"][0]["mask_field_names"] = ["tr", "va"]
    assert_fails(graph, graph.run(), capsys, "config key nodes[0].labels[0].mask_field_names", "['tr', 'va']")


def test_unknown_transform_suggests_closest(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("user")["features"][0]["transform"] = {"name": "max_min_nrom"}
    assert_fails(graph, graph.run(), capsys, "config key nodes[0].features[0].transform.name",
                 "unknown transform 'max_min_nrom'", "Did you mean 'max_min_norm'?")


@pytest.mark.parametrize(
    "transform, key, needles",
    [
        ({"name": "max_min_norm", "max_boud": 1.0}, "max_boud",
         ["unknown parameter 'max_boud'", "Did you mean 'max_bound'?"]),
        ({"name": "max_min_norm", "max_bound": "ten"}, "max_bound", ["expected float, got 'ten'"]),
        ({"name": "bucket_numerical", "bucket_cnt": 4}, "range", ["needs parameter 'range'"]),
        ({"name": "bucket_numerical", "bucket_cnt": 4, "range": [10, 10]}, "range", ["two different numbers"]),
        ({"name": "standard_scaler", "epsilon": 0.1}, "epsilon", ["takes no parameters"]),
    ],
    ids=["unknown-param", "wrong-type", "bucket-missing-range", "bucket-empty-range", "param-of-paramless"],
)
def test_bad_transform_parameters(graph: Graph, capsys: pytest.CaptureFixture, transform: dict, key: str,
                                  needles: list[str]) -> None:
    graph.node("user")["features"][0]["transform"] = transform
    assert_fails(graph, graph.run(), capsys, f"config key nodes[0].features[0].transform.{key}", *needles)


def test_imputer_on_categorical_feature(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("user")["features"][1]["imputer"] = "mean"
    assert_fails(graph, graph.run(), capsys, "config key nodes[0].features[1].imputer", "to_categorical")


# --- input files ----------------------------------------------------------------------

def test_missing_input_file(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("item")["files"] = ["items.csv"]
    assert_fails(graph, graph.run(), capsys, "conf.json", "config key nodes[1].files",
                 "input file not found: 'items.csv'")


def test_corrupt_parquet_file(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.files["user.parquet"] = b"\x00\x01garbage, not parquet\xff" * 10
    assert_fails(graph, graph.run(), capsys, "user.parquet", "cannot read this file as parquet", "nodes[0]")


def test_corrupt_json_lines_file(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("item").update(format={"name": "jsonl"}, files=["item.jsonl"])
    graph.files["item.jsonl"] = '{"iid": "i0", "price": 1.0}\n{"iid": "i1", "price": \n'
    assert_fails(graph, graph.run(), capsys, "item.jsonl", "cannot read this file as json")


def test_missing_column_suggests_closest(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("user")["features"][0]["feature_col"] = "agee"
    assert_fails(graph, graph.run(), capsys, "user.parquet", "column 'agee'", "missing", "Did you mean 'age'?")


def test_wrong_csv_separator(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("item")["format"]["separator"] = ";"
    assert_fails(graph, graph.run(), capsys, "item.csv", "column 'iid' is missing", "one column 'iid,price'",
                 "format.separator")


def test_empty_csv_with_header_only(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.files["item.csv"] = "iid,price\n"
    assert_fails(graph, graph.run(), capsys, "item.csv", "no data rows")


def test_empty_parquet(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.files["rates.parquet"] = pa.table({"src": pa.array([], pa.string()), "dst": pa.array([], pa.string()),
                                             "rating": pa.array([], pa.float64())})
    assert_fails(graph, graph.run(), capsys, "rates.parquet", "no data rows")


def test_custom_split_file_missing(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.node("user")["labels"][0] = {"label_col": "cls", "task_type": "classification",
                                       "custom_split_filenames": {"train": "train_ids.json"}}
    assert_fails(graph, graph.run(), capsys, "config key nodes[0].labels[0].custom_split_filenames.train",
                 "input file not found: 'train_ids.json'")


# --- node IDs and edge endpoints ------------------------------------------------------

def test_duplicate_node_id_names_both_rows(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["uid"][7] = "u3"
    graph.files["user.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "user.parquet", "row 7", "row 3", "'u3'", "column 'uid'")


def test_null_node_id(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["uid"][6] = None
    graph.files["user.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "user.parquet", "row 6", "column 'uid'", "missing")


def test_endpoint_ids_of_another_type_than_node_ids(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.files["item.csv"] = "iid,price\n0,1.5\n1,2\n2,3\n3,4\n4,5\n"  # integer IDs; the edges say "i0"
    assert_fails(graph, graph.run(), capsys, "rates.parquet", "column 'dst'", "string", "int64", "'item'")


def test_dangling_edge_endpoint(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _rates_columns()
    cols["dst"][9] = "i99"
    graph.files["rates.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "rates.parquet", "row 9", "column 'dst'", "'i99'",
                 "--skip-nonexist-edges")


def test_skip_nonexist_edges_drops_dangling_edges(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _rates_columns()
    cols["dst"][9] = "i99"
    cols["src"][2] = "u404"
    graph.files["rates.parquet"] = cols
    rc = graph.run("--skip-nonexist-edges")
    assert rc == 0, capsys.readouterr().err
    m = meta(graph.out)
    (rates,) = [e for e in m["edge_types"] if e["relation"] == "rates"]
    assert rates["num_edges"] == 10
    assert m["construction"]["skipped_edges"] == {"user,rates,item": 2}
    labels = np.load(graph.out / "edges/user%2Crates%2Citem/labels/rating.npy")
    expected = [r for i, r in enumerate(_rates_columns()["rating"]) if i not in (2, 9)]
    np.testing.assert_allclose(labels, expected)


# --- feature values ---------------------------------------------------------------------

def test_nan_in_numeric_feature_without_imputer(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["age"][2] = None
    graph.files["user.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "user.parquet", "row 2", "column 'age'",
                 "config key nodes[0].features[0]", "no imputer", '"imputer": "mean"')


def test_mean_imputer_fills_nan(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["age"][2] = float("nan")
    graph.files["user.parquet"] = cols
    graph.node("user")["features"][0].update(imputer="mean", transform={"name": "no-op"})
    rc = graph.run()
    assert rc == 0, capsys.readouterr().err
    age = np.load(graph.out / "nodes/user/features/age.npy")[:, 0]
    others = [a for i, a in enumerate(AGES) if i != 2]
    assert age[2] == pytest.approx(sum(others) / len(others))
    np.testing.assert_allclose(np.delete(age, 2), others)


def test_numeric_column_with_every_value_missing(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.files["item.csv"] = "iid,price\n" + "".join(f"i{i},\n" for i in range(5))
    assert_fails(graph, graph.run(), capsys, "item.csv", "row 0", "column 'price'", "no imputer")


def test_inf_in_numeric_feature(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["age"][5] = math.inf
    graph.files["user.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "user.parquet", "row 5", "column 'age'", "inf")


def test_text_in_numeric_column(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.files["item.csv"] = _item_csv(["9.5", "3", "cheap", "7", "5.5"])
    assert_fails(graph, graph.run(), capsys, "item.csv", "row 2", "column 'price'", "'cheap'")


def test_ragged_list_feature_in_parquet(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["emb"][3] = [3.0, 1.5, 0.0]
    graph.files["user.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "user.parquet", "row 3", "column 'emb'", "ragged", "has 3")


# --- labels and splits ------------------------------------------------------------------

def test_text_in_regression_label(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _rates_columns()
    cols["rating"] = [str(r) for r in cols["rating"]]
    cols["rating"][4] = "great"
    graph.files["rates.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "rates.parquet", "column 'rating'", "regression labels must be numbers",
                 "'great'", "row 4")


def test_fractional_classification_label(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["cls"] = [float(c) for c in cols["cls"]]
    cols["cls"][4] = 1.5
    graph.files["user.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "user.parquet", "row 4", "column 'cls'", "1.5", "not a whole number")


def test_label_with_every_value_missing(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["cls"] = [None] * N_USERS
    graph.files["user.parquet"] = cols
    assert_fails(graph, graph.run(), capsys, "user.parquet", "column 'cls'", "config key nodes[0].labels[0]",
                 "no valid values")


def test_split_with_empty_part(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["cls"] = [0, 1, 0] + [None] * (N_USERS - 3)
    graph.files["user.parquet"] = cols
    graph.node("user")["labels"][0]["split_pct"] = [0.5, 0.25, 0.25]
    assert_fails(graph, graph.run(), capsys, "config key nodes[0].labels[0].split_pct", "split of label 'cls' is empty",
                 "3 labelled rows")


# --- the two-step form: transform, then idmap -----------------------------------------------

def test_transform_stage_fails_cleanly(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    cols = _user_columns()
    cols["age"][8] = math.nan
    graph.files["user.parquet"] = cols
    assert_fails(graph, graph.run(cmd="transform"), capsys, "user.parquet", "row 8", "column 'age'")


def test_idmap_given_a_graph_instead_of_transformed_data(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.write()
    graph_dir = graph.root / "graph"  # a constructed graph, not `transform` output
    assert main(["construct", "--conf-file", str(graph.conf_file), "--output-dir", str(graph_dir)]) == 0
    capsys.readouterr()
    rc = main(["idmap", "--input-dir", str(graph_dir), "--output-dir", str(graph.out)])
    assert_fails(graph, rc, capsys, str(graph_dir), "transformed.json", "graphkit transform")


def test_idmap_given_a_missing_directory(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    rc = main(["idmap", "--input-dir", str(graph.root / "nowhere"), "--output-dir", str(graph.out)])
    assert_fails(graph, rc, capsys, "nowhere", "graphkit transform")


def test_idmap_given_a_corrupt_manifest(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    transformed = graph.root / "transformed"
    graph.write()
    assert main(["transform", "--conf-file", str(graph.conf_file), "--output-dir", str(transformed)]) == 0
    (transformed / "transformed.json").write_text('{"format": "graphkit-transformed", ')
    capsys.readouterr()
    rc = main(["idmap", "--input-dir", str(transformed), "--output-dir", str(graph.out)])
    assert_fails(graph, rc, capsys, str(transformed / "transformed.json"), "cannot read", "graphkit transform")


def test_idmap_reports_dangling_endpoint_then_skips_it(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    """The two-step form reports the same dangling endpoint at idmap, then succeeds with the flag."""
    cols = _rates_columns()
    cols["src"][5] = "u77"
    graph.files["rates.parquet"] = cols
    transformed = graph.root / "transformed"
    graph.write()
    assert main(["transform", "--conf-file", str(graph.conf_file), "--output-dir", str(transformed)]) == 0
    capsys.readouterr()
    rc = main(["idmap", "--input-dir", str(transformed), "--output-dir", str(graph.out)])
    assert_fails(graph, rc, capsys, "rates.parquet", "row 5", "column 'src'", "'u77'")
    rc = main(["idmap", "--input-dir", str(transformed), "--output-dir", str(graph.out), "--skip-nonexist-edges"])
    assert rc == 0, capsys.readouterr().err
    assert meta(graph.out)["construction"]["skipped_edges"] == {"user,rates,item": 1}


def test_output_path_is_a_file(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.out.write_text("not a directory")
    rc = graph.run()
    err = capsys.readouterr().err
    assert rc == 2
    assert str(graph.out) in err and "not a directory" in err
    assert graph.out.read_text() == "not a directory"
    assert leftovers(graph.root) == []


def test_transform_refuses_to_overwrite_a_foreign_directory(graph: Graph, capsys: pytest.CaptureFixture) -> None:
    graph.out.mkdir()
    (graph.out / "notes.txt").write_text("mine")
    rc = graph.run(cmd="transform")
    err = capsys.readouterr().err
    assert rc == 2
    assert str(graph.out) in err and "refusing to overwrite" in err
    assert [p.name for p in graph.out.iterdir()] == ["notes.txt"]
    assert leftovers(graph.root) == []
