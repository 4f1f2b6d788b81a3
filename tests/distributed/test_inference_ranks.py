"""``graphkit infer`` under torchrun with 2 ranks writes the same outputs as one process."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
from toy_graph import LP, NC, build_toy_graph, make_config  # noqa: E402

from graphkit.cli.main import main  # noqa: E402
from graphkit.inference.ranks import first_part, share, share_counts  # noqa: E402
from graphkit.storage.paths import safe_name  # noqa: E402
from graphkit.storage.shared import shared_path  # noqa: E402
from graphkit.training.trainer import Trainer  # noqa: E402

EC = {"edge_classification": {"target_etype": "user,rates,item", "label_field": "cls", "num_classes": 5}}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[str, str]:
    """The toy graph and a model trained for node classification, edge classification and link prediction."""
    base = tmp_path_factory.mktemp("dist-infer")
    graph = build_toy_graph(str(base / "graph"))
    cfg = make_config({"multi_task": [NC, EC, LP]}, num_epochs=1, no_validation=True, batch_size=128,
                      use_mini_batch_infer=False)
    Trainer(graph, cfg, str(base / "model")).fit()
    return graph.root, str(base / "model")


def _infer_args(graph: str, model: str, out: str) -> list[str]:
    return ["--log-level", "warning", "infer", "--part-config", graph, "--restore-model-path", model,
            "--save-embed-path", os.path.join(out, "emb"), "--save-prediction-path", os.path.join(out, "pred"),
            "--topk", "5"]


def _torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           "-m", "graphkit.cli.main", *args], env=ENV, capture_output=True, text=True, timeout=120)


def _read(folder: str) -> tuple[list[str], pa.Table]:
    files = sorted(glob.glob(os.path.join(folder, "*.parquet")))
    return [os.path.basename(f) for f in files], pa.concat_tables([pq.read_table(f) for f in files])


def _rows(table: pa.Table, column: str = "embedding") -> np.ndarray:
    """A list<float32> column as a matrix."""
    return np.stack(table.column(column).to_numpy(zero_copy_only=False))


def test_two_ranks_write_the_one_process_outputs(trained, tmp_path):
    graph, model = trained
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    assert main(_infer_args(graph, model, one)) == 0
    proc = _torchrun(_infer_args(graph, model, two))
    assert proc.returncode == 0, proc.stderr[-3000:]

    for ntype, n in (("user", 200), ("item", 300)):
        files1, t1 = _read(os.path.join(one, "emb", ntype))
        files2, t2 = _read(os.path.join(two, "emb", ntype))
        assert files1 == ["part-00000.parquet"] and files2 == ["part-00000.parquet", "part-00001.parquet"]
        assert pq.read_table(os.path.join(two, "emb", ntype, "part-00001.parquet")).num_rows == n // 2  # rank 1's
        assert t2.schema == t1.schema
        assert t2.column("id").to_pylist() == t1.column("id").to_pylist() == list(range(n))  # node-ID order
        np.testing.assert_allclose(_rows(t2), _rows(t1), rtol=1e-5, atol=1e-6)

    _, p1 = _read(os.path.join(one, "pred", "item"))
    _, p2 = _read(os.path.join(two, "pred", "item"))
    assert p2.column("id").to_pylist() == p1.column("id").to_pylist()
    assert p2.column("pred").to_pylist() == p1.column("pred").to_pylist()
    np.testing.assert_allclose(_rows(p2, "prob"), _rows(p1, "prob"), atol=1e-6)

    etype = safe_name("user,rates,item")
    _, e1 = _read(os.path.join(one, "pred", etype))
    _, e2 = _read(os.path.join(two, "pred", etype))
    assert e1.num_rows == 1600 and e2.to_pydict() == e1.to_pydict()  # split by edge ID: the same rows in order

    _, l1 = _read(os.path.join(one, "pred", "links", etype))
    _, l2 = _read(os.path.join(two, "pred", "links", etype))
    assert l1.num_rows == 200 * 5
    assert l2.column("src_id").to_pylist() == l1.column("src_id").to_pylist()  # by source node, in order
    assert l2.column("rank").to_pylist() == l1.column("rank").to_pylist()
    s1, s2 = l1.column("score").to_numpy(), l2.column("score").to_numpy()
    np.testing.assert_allclose(s2, s1, rtol=1e-5, atol=1e-5)
    d1, d2 = l1.column("dst_id").to_numpy(), l2.column("dst_id").to_numpy()
    assert (d1 == d2).mean() > 0.99  # equal but for exact ties in score
    assert sorted(os.listdir(two)) == ["emb", "pred"]  # no temporary folders left behind
    assert not os.path.exists(shared_path(graph))  # nor the graph's copy in /dev/shm


def test_a_foreign_output_folder_fails_on_every_rank_and_is_left_alone(trained, tmp_path):
    graph, model = trained
    out = tmp_path / "emb"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    proc = _torchrun(["--log-level", "warning", "infer", "--part-config", graph, "--restore-model-path", model,
                      "--save-embed-path", str(out)])
    assert proc.returncode != 0
    assert proc.stderr.count("refusing to overwrite") >= 2, proc.stderr[-3000:]  # rank 0 and rank 1 both say why
    assert os.listdir(out) == ["mine.txt"] and not [p for p in os.listdir(tmp_path) if ".tmp-" in p]
    assert not os.path.exists(shared_path(graph))  # the shared-memory copy of the graph is removed too


def test_shares_and_part_numbers():
    assert [share(10, r, 3) for r in range(3)] == [(0, 4), (4, 8), (8, 10)]
    assert share_counts(2, 4) == [1, 1, 0, 0] and share_counts(0, 2) == [0, 0]
    assert first_part([1, 3, 1], 2) == 4 and first_part([1, 3, 1], 0) == 0
