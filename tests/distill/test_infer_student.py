"""``graphkit infer`` with a student: for the GNN's isolated nodes (``--student``), and alone on new nodes."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from distill_graph import NUM_ISOLATED, run_distill

from graphkit.cli.main import main
from graphkit.construct.construct import construct_graph
from graphkit.distill.isolated import isolated_nodes
from graphkit.distill.predict import student_embeddings
from graphkit.distill.students import load_student


def _infer(graph: str, model: str, out, *flags: str) -> tuple[str, str]:
    emb, pred = str(out / "emb"), str(out / "pred")
    assert main(["--log-level", "warning", "infer", "--part-config", graph, "--restore-model-path", model,
                 "--save-embed-path", emb, "--save-prediction-path", pred, *flags]) == 0
    return emb, pred


def _read(folder: str, ntype: str) -> pa.Table:
    return pq.read_table(os.path.join(folder, ntype))


def _emb(table: pa.Table) -> np.ndarray:
    return np.stack(table.column("embedding").to_numpy(zero_copy_only=False))


def test_student_replaces_exactly_the_isolated_nodes(dgraph, teacher_dir, student_dir, tmp_path):
    gnn_emb, gnn_pred = _infer(dgraph.root, teacher_dir, tmp_path / "gnn")
    mix_emb, mix_pred = _infer(dgraph.root, teacher_dir, tmp_path / "mix", "--student", student_dir)
    a, b = _emb(_read(gnn_emb, "paper")), _emb(_read(mix_emb, "paper"))
    changed = np.flatnonzero(np.abs(a - b).max(1) > 1e-6)
    isolated = isolated_nodes(dgraph, "paper")
    assert len(isolated) == NUM_ISOLATED and np.array_equal(changed, isolated)
    student = student_embeddings(load_student(student_dir), dgraph, "paper", isolated).numpy()
    np.testing.assert_allclose(b[isolated], student, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_emb(_read(gnn_emb, "author")), _emb(_read(mix_emb, "author")))  # other types
    # predictions come from the replaced embeddings, through the teacher's decoder = the student's
    p_gnn, p_mix = (np.array(_read(p, "paper").column("pred").to_pylist()) for p in (gnn_pred, mix_pred))
    s = load_student(student_dir)
    with torch.no_grad():
        expected = s.decoder(torch.from_numpy(student)).argmax(-1).numpy()
    np.testing.assert_array_equal(p_mix[isolated], expected)
    rest = np.setdiff1d(np.arange(len(a)), isolated)
    np.testing.assert_array_equal(p_mix[rest], p_gnn[rest])


@pytest.fixture
def new_papers(dgraph, tmp_path) -> tuple[str, np.ndarray]:
    """A graph of 5 papers with string IDs, whose features are those of papers ``rows`` of the training graph."""
    rows = np.array([3, 50, 123, 7, 399])
    feat = np.asarray(dgraph.node_feature("paper", "feat"))[rows]
    pq.write_table(pa.table({"id": [f"new-{r}" for r in rows], "feat": list(feat)}), tmp_path / "papers.parquet")
    pq.write_table(pa.table({"src": ["new-3"], "dst": ["new-50"]}), tmp_path / "cites.parquet")
    conf = {"version": "gconstruct-v0.1",
            "nodes": [{"node_type": "paper", "format": {"name": "parquet"}, "files": ["papers.parquet"],
                       "node_id_col": "id", "features": [{"feature_col": "feat"}]}],
            "edges": [{"relation": ["paper", "cites", "paper"], "format": {"name": "parquet"},
                       "files": ["cites.parquet"], "source_id_col": "src", "dest_id_col": "dst"}]}
    (tmp_path / "conf.json").write_text(json.dumps(conf), encoding="utf-8")
    construct_graph(str(tmp_path / "conf.json"), str(tmp_path / "new"), "new")
    return str(tmp_path / "new"), rows


def test_student_alone_embeds_and_predicts_new_nodes_by_raw_id(dgraph, student_dir, new_papers, tmp_path):
    graph_dir, rows = new_papers
    emb_dir, pred_dir = _infer(graph_dir, student_dir, tmp_path / "out")
    assert os.path.exists(os.path.join(emb_dir, "_GRAPHKIT_OUTPUT"))
    emb, pred = _read(emb_dir, "paper"), _read(pred_dir, "paper")
    ids = emb.column("id").to_pylist()
    assert sorted(ids) == sorted(f"new-{r}" for r in rows) and pred.column("id").to_pylist() == ids
    by_id = dict(zip(ids, _emb(emb)))
    student = load_student(student_dir)
    expected = student_embeddings(student, dgraph, "paper", rows).numpy()  # the same features in the old graph
    for r, e in zip(rows, expected):
        np.testing.assert_allclose(by_id[f"new-{r}"], e, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        classes = student.decoder(torch.from_numpy(expected)).argmax(-1).numpy()
    assert dict(zip(ids, pred.column("pred").to_pylist())) == {f"new-{r}": int(c) for r, c in zip(rows, classes)}
    probs = np.stack(pred.column("prob").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_student_flag_errors(dgraph, teacher_dir, student_dir, tmp_path, capsys):
    base = run_distill(dgraph, teacher_dir, str(tmp_path / "base"), "--num-epochs", "2", "--no-distill")
    args = ["infer", "--part-config", dgraph.root, "--save-embed-path", str(tmp_path / "e")]
    assert main([*args, "--restore-model-path", teacher_dir, "--student", base]) == 2
    assert "trained with --no-distill" in capsys.readouterr().err
    assert main([*args, "--restore-model-path", student_dir, "--student", student_dir]) == 2
    assert "--restore-model-path is a student folder itself" in capsys.readouterr().err
    assert main([*args, "--restore-model-path", teacher_dir, "--student", str(tmp_path)]) == 2
    assert "not a student model folder" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "e")
