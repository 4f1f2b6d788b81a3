"""An LM student (a tiny random BERT on the papers' tokens) learns the teacher's embeddings."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from distill_graph import run_distill

from graphkit.distill.predict import student_embeddings
from graphkit.distill.students import LMStudent, load_student


@pytest.fixture(scope="module")
def lm_student(dgraph, teacher_dir, tiny_bert, tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("lm") / "student")
    return run_distill(dgraph, teacher_dir, out, "--student", "lm", "--lm-model", tiny_bert, "--num-epochs", "3",
                       "--lr", "0.001", "--batch-size", "32", "--lm-pooling", "mean")


def test_lm_student_loss_falls(lm_student):
    with open(os.path.join(lm_student, "distill_metrics.json"), encoding="utf-8") as f:
        m = json.load(f)
    paper = m["types"]["paper"]
    losses = [h["loss"] for h in paper["history"]]
    assert losses[-1] < 0.85 * losses[0], losses
    assert paper["val"]["relative_mse"] < 0.9 * paper["initial_val"]["relative_mse"]
    assert m["student"] == "lm" and m["test"]["accuracy"] > 0.35  # chance: 0.25


def test_lm_student_is_recreated_from_its_folder_alone(dgraph, lm_student, tiny_bert):
    with open(os.path.join(lm_student, "student.json"), encoding="utf-8") as f:
        spec = json.load(f)
    ts = spec["types"]["paper"]
    assert ts["features"] == ["input_ids", "attention_mask", "token_type_ids"] and ts["pooling"] == "mean"
    assert ts["lm_config"]["model_type"] == "bert" and ts["lm_config"]["hidden_size"] == 32
    student = load_student(lm_student)  # from student.json + model.pt: the --lm-model folder is not read
    net = student.net("paper")
    assert isinstance(net, LMStudent) and net.proj.out_features == spec["emb_dim"] == 16
    emb = student_embeddings(student, dgraph, "paper", np.arange(8))
    assert emb.shape == (8, 16) and torch.isfinite(emb).all()
    with open(os.path.join(lm_student, "distill_metrics.json"), encoding="utf-8") as f:
        reported = json.load(f)["test"]["accuracy"]
    test = np.flatnonzero(np.asarray(dgraph.node_mask("paper", "test_mask")))
    labels = torch.from_numpy(np.asarray(dgraph.node_label("paper", "label"))[test])
    with torch.no_grad():
        pred = student.decoder(student_embeddings(student, dgraph, "paper", test)).argmax(-1)
    assert float((pred == labels).float().mean()) == pytest.approx(reported)
