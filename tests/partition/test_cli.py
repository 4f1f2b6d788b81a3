"""``graphkit partition`` and ``graphkit construct --num-parts``: atomic output, reported metrics, errors."""

from __future__ import annotations

import json
import os

import pytest

from graphkit.cli.main import main
from graphkit.partition import stage
from graphkit.partition.meta import PARTITION_FILE, read_partition_meta
from graphkit.storage.graph import Graph


def run(*args: str) -> int:
    return main(["--log-level", "warning", "partition", *args])


def test_cli_writes_and_reports(shop_dir: str, tmp_path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "parts"
    assert run("--graph-dir", shop_dir, "--num-parts", "2", "--part-method", "random", "--output-dir", str(out),
               "--seed", "4") == 0
    text = capsys.readouterr().out
    meta = read_partition_meta(str(out))
    assert f"edge cut: {meta.edge_cut:.4f}" in text
    assert "nodes:customer: 1.000" in text and "balance" in text
    assert sorted(os.listdir(tmp_path)) == ["parts"], "no temporary directory is left behind"
    assert sorted(os.listdir(out)) == ["node_part", "part0", "part1", PARTITION_FILE, "source_graph.json"]
    assert (meta.method, meta.seed, meta.num_parts) == ("random", 4, 2)
    assert Graph(str(out / "part1")).meta.partition.part_id == 1


def test_failed_rerun_leaves_previous_output(shop_dir: str, tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "parts"
    assert run("--graph-dir", shop_dir, "--num-parts", "2", "--output-dir", str(out)) == 0
    before = (out / PARTITION_FILE).read_text()

    def boom(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stage, "write_partitions", boom)
    assert run("--graph-dir", shop_dir, "--num-parts", "3", "--output-dir", str(out)) == 130
    assert (out / PARTITION_FILE).read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["parts"]


def test_rerun_replaces_previous_output(shop_dir: str, tmp_path) -> None:
    out = tmp_path / "parts"
    assert run("--graph-dir", shop_dir, "--num-parts", "3", "--output-dir", str(out)) == 0
    assert run("--graph-dir", shop_dir, "--num-parts", "2", "--output-dir", str(out)) == 0
    assert read_partition_meta(str(out)).num_parts == 2
    assert not (out / "part2").exists()


def test_refuses_a_foreign_directory(shop_dir: str, tmp_path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert run("--graph-dir", shop_dir, "--num-parts", "2", "--output-dir", str(out)) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("args, needle", [
    (["--num-parts", "0"], "--num-parts must be >= 1"),
    (["--num-parts", "100000"], "Use fewer --num-parts"),
])
def test_bad_arguments(shop_dir: str, tmp_path, capsys, args: list[str], needle: str) -> None:
    assert run("--graph-dir", shop_dir, *args, "--output-dir", str(tmp_path / "p")) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_not_a_graph(tmp_path, capsys) -> None:
    assert run("--graph-dir", str(tmp_path), "--num-parts", "2", "--output-dir", str(tmp_path / "p")) == 2
    assert "not a graphkit graph directory" in capsys.readouterr().err


def test_refuses_to_partition_a_partition(shop_dir: str, tmp_path, capsys) -> None:
    assert run("--graph-dir", shop_dir, "--num-parts", "2", "--output-dir", str(tmp_path / "p")) == 0
    assert run("--graph-dir", str(tmp_path / "p" / "part0"), "--num-parts", "2",
               "--output-dir", str(tmp_path / "q")) == 2
    assert "already one partition" in capsys.readouterr().err


def test_construct_num_parts_partitions_beside_the_graph(tmp_path, capsys) -> None:
    from graphkit.datasets.synthetic import ShopSizes, write_shop_dataset

    conf = write_shop_dataset(str(tmp_path / "tables"), ShopSizes(customers=60, products=30, categories=10,
                                                                  purchases=200, dim=2))
    out = tmp_path / "graph"
    assert main(["--log-level", "warning", "construct", "--conf-file", conf, "--output-dir", str(out),
                 "--add-reverse-edges", "--num-parts", "2", "--part-method", "random"]) == 0
    text = capsys.readouterr().out
    assert "edge cut:" in text and f"partitions written to {out / 'partitions'}" in text
    meta = read_partition_meta(str(out / "partitions"))
    assert (meta.num_parts, meta.method) == (2, "random")
    assert meta.source_graph_dir == str(out)
    with open(out / "graph.json") as f:
        assert "partition" not in json.load(f)
    assert sorted(os.listdir(out)) == ["edges", "graph.json", "id_maps", "nodes", "partitions", "transforms.json"]
