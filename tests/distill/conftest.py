"""Fixtures of the distillation tests: the graph, a trained teacher, a distilled MLP student, a tiny BERT."""

from __future__ import annotations

import os

import pytest
from distill_graph import MLP_FLAGS, VOCAB, build_distill_graph, run_distill, teacher_config

from graphkit.storage.graph import Graph
from graphkit.training.trainer import Trainer


@pytest.fixture(scope="session")
def dgraph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return build_distill_graph(str(tmp_path_factory.mktemp("distill") / "graph"))


@pytest.fixture(scope="session")
def teacher_dir(dgraph: Graph, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("teacher") / "model")
    Trainer(dgraph, teacher_config(), path).fit()
    return path


@pytest.fixture(scope="session")
def student_dir(dgraph: Graph, teacher_dir: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return run_distill(dgraph, teacher_dir, str(tmp_path_factory.mktemp("student") / "mlp"), *MLP_FLAGS)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised one-layer BERT over ``VOCAB`` (no tokenizer: the graph holds token IDs)."""
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                  vocab_size=len(VOCAB), max_position_embeddings=16)
    path = str(tmp_path_factory.mktemp("tiny_bert") / "model")
    transformers.BertModel(cfg).save_pretrained(path)
    assert os.path.isfile(os.path.join(path, "config.json"))
    return path
