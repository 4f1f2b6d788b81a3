"""``graphkit distill``: an MLP student learns the teacher's embeddings; the labels-only baseline; bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from distill_graph import MLP_FLAGS, run_distill

from graphkit.cli.main import main
from graphkit.distill.losses import relative_mse, soft_label_loss
from graphkit.distill.predict import student_embeddings
from graphkit.distill.spec import HeadSpec
from graphkit.distill.students import load_student
from graphkit.inference.embeddings import node_embeddings
from graphkit.inference.run import load_model


def _metrics(path: str) -> dict:
    with open(os.path.join(path, "distill_metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def test_student_folder_is_plain_data_and_tensors(student_dir):
    assert sorted(os.listdir(student_dir)) == ["distill_metrics.json", "model.pt", "student.json"]
    with open(os.path.join(student_dir, "student.json"), encoding="utf-8") as f:
        spec = json.load(f)
    assert spec["kind"] == "mlp" and spec["distilled"] is True and spec["emb_dim"] == 16
    assert spec["types"]["paper"]["features"] == ["feat"] and spec["types"]["paper"]["in_dim"] == 6
    assert spec["head"]["name"] == "node_classification:paper" and spec["head"]["num_classes"] == 4
    assert spec["teacher_config"]["tasks"][0]["kind"] == "node_classification"
    state = torch.load(os.path.join(student_dir, "model.pt"), weights_only=True)  # no pickled objects
    assert set(state) == {"students", "decoder"} and set(state["students"]) == {"paper"}


def test_distilled_mlp_matches_the_teacher(dgraph, teacher_dir, student_dir):
    m = _metrics(student_dir)
    paper = m["types"]["paper"]
    before, after = paper["initial_val"]["relative_mse"], paper["val"]["relative_mse"]
    # an untrained student is no better than predicting the teacher's mean; the trained one explains most of it
    assert before > 0.9 and after < 0.45 and after < before / 2.5, (before, after)
    assert paper["test"]["relative_mse"] < 0.45
    assert m["mode"] == "distilled-student" and m["metric"] == "accuracy"
    assert m["teacher_test"]["accuracy"] >= 0.95  # the GNN, with its edges
    assert m["test"]["accuracy"] >= 0.85 and m["test_agreement_with_teacher"] >= 0.85
    assert paper["num_train_nodes"] == 400 - 80 - 80  # every node except validation and test: labels not needed

    # the saved weights reproduce the reported number, against embeddings from the teacher folder itself
    _, store, _, model = load_model(dgraph, teacher_dir)
    teacher = node_embeddings(model, dgraph, store, 1024)["paper"]
    student = student_embeddings(load_student(student_dir), dgraph, "paper")
    test = np.flatnonzero(np.asarray(dgraph.node_mask("paper", "test_mask")))
    assert relative_mse(student[test], teacher[test]) == pytest.approx(paper["test"]["relative_mse"], rel=1e-4)


def test_soft_labels_pull_the_students_outputs_to_the_teachers(dgraph, teacher_dir, student_dir, tmp_path):
    soft = _metrics(run_distill(dgraph, teacher_dir, str(tmp_path / "soft"), *MLP_FLAGS,
                                "--soft-label-weight", "5", "--temperature", "2"))
    plain = _metrics(student_dir)
    assert soft["soft_label_weight"] == 5.0 and soft["temperature"] == 2.0 and plain["temperature"] is None
    kl = {name: np.mean([h["train"]["soft_label_loss"] for h in m["types"]["paper"]["history"][-10:]])
          for name, m in (("soft", soft), ("plain", plain))}
    # the same epochs, the same KL to the teacher's soft labels (reported, not trained on, when the weight is 0).
    # Embedding matching already aligns the logits, and what the features cannot tell stays: a small but real gain.
    assert kl["soft"] < 0.95 * kl["plain"], kl
    history = soft["types"]["paper"]["history"]
    assert history[-1]["loss"] == pytest.approx(history[-1]["train"]["embedding_mse"]
                                                + 5 * history[-1]["train"]["soft_label_loss"], rel=1e-4)
    assert soft["test"]["accuracy"] >= 0.8


def test_no_distill_baseline(dgraph, teacher_dir, tmp_path):
    out = run_distill(dgraph, teacher_dir, str(tmp_path / "base"), *MLP_FLAGS, "--no-distill")
    m = _metrics(out)
    assert m["mode"] == "no-distill-student" and m["teacher_test"] is None
    assert m["test_agreement_with_teacher"] is None and "relative_mse" not in m["types"]["paper"]["val"]
    assert m["types"]["paper"]["num_train_nodes"] == 240  # the labelled training nodes only
    assert 0.6 <= m["test"]["accuracy"] <= 1.0  # chance is 0.25: it learns from features and labels
    student = load_student(out)
    assert not student.spec.distilled
    _, _, tasks, model = load_model(dgraph, teacher_dir)
    teacher_w = model.decoders[tasks[0].name].state_dict()["lin2.weight"]
    assert not torch.allclose(student.decoder.state_dict()["lin2.weight"], teacher_w)  # its own decoder


def test_losses_on_known_values():
    t = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    assert relative_mse(t.mean(0).expand(2, 2), t) == pytest.approx(1.0)  # predicting the mean
    assert relative_mse(t, t) == 0.0
    head = HeadSpec("nc", "paper", "label", regression=False, multilabel=False, num_classes=2, decoder_type=None,
                    mask_names=[], metrics=["accuracy"])
    logits = torch.tensor([[2.0, -1.0], [0.0, 1.0]])
    assert float(soft_label_loss(logits, logits, head, 2.0)) == pytest.approx(0.0, abs=1e-7)
    p_t, p_s = torch.softmax(logits / 2, -1), torch.softmax(torch.zeros(2, 2), -1)
    expected = float((p_t * (p_t.log() - p_s.log())).sum(1).mean()) * 4
    assert float(soft_label_loss(torch.zeros(2, 2), logits, head, 2.0)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("flags, message", [
    (["--restore-model-path", "MISSING"], "the teacher model folder does not exist"),
    (["--ntype", "venue"], "node type 'venue' has no float input features"),
    (["--ntype", "nosuch"], "unknown node type 'nosuch'"),
    (["--student", "lm", "--ntype", "author", "--lm-model", "unused"], "node type 'author' has no token features"),
    (["--student", "lm"], "--student lm needs --lm-model"),
    (["--num-epochs", "0"], "--num-epochs must be >= 1"),
])
def test_bad_input_is_a_clear_error(dgraph, teacher_dir, tmp_path, capsys, flags, message):
    args = {"--restore-model-path": teacher_dir}
    rest = list(flags)
    if rest[0] == "--restore-model-path":
        args["--restore-model-path"], rest = str(tmp_path / rest[1]), rest[2:]
    code = main(["distill", "--part-config", dgraph.root, "--restore-model-path", args["--restore-model-path"],
                 "--save-model-path", str(tmp_path / "out"), *rest])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")  # nothing half-written


def test_teacher_without_node_task_distils_every_featured_type(dgraph, tmp_path, capsys):
    from distill_graph import teacher_config

    from graphkit.training.config import parse_train_config
    from graphkit.training.trainer import Trainer

    basic = teacher_config().options | {"num_epochs": 2, "no_validation": True}  # no edge masks to validate on
    lp = {"link_prediction": {"train_etype": ["paper,cites,paper"], "num_negative_edges": 4}}
    teacher = str(tmp_path / "lp")
    Trainer(dgraph, parse_train_config({"gsf": {"basic": basic, **lp}}), teacher).fit()
    out = run_distill(dgraph, teacher, str(tmp_path / "student"), "--num-epochs", "20", *MLP_FLAGS[2:])
    m = _metrics(out)
    assert m["task"] is None and m["metric"] == "embedding_mse" and m["test"] == {}
    assert set(m["types"]) == {"paper", "author"}  # venue has no features
    for t, n in (("paper", 400), ("author", 120)):
        rep = m["types"][t]
        assert rep["num_val_nodes"] == round(0.1 * n) and rep["num_train_nodes"] == n - rep["num_val_nodes"]
        assert rep["val"]["embedding_mse"] < rep["initial_val"]["embedding_mse"]
        best = min(h["val"]["embedding_mse"] for h in rep["history"])
        assert rep["val"]["embedding_mse"] == best  # the best epoch: the lowest validation MSE
    # graph-free inference: embeddings of both types; no node task, so no predictions
    assert main(["infer", "--part-config", dgraph.root, "--restore-model-path", out,
                 "--save-embed-path", str(tmp_path / "emb")]) == 0
    assert sorted(d for d in os.listdir(tmp_path / "emb") if not d.startswith("_")) == ["author", "paper"]
    assert main(["infer", "--part-config", dgraph.root, "--restore-model-path", out,
                 "--save-prediction-path", str(tmp_path / "pred")]) == 2
    assert "no node task to predict" in capsys.readouterr().err
