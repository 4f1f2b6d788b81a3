"""A tiny text-attributed graph and a tiny random BERT for LM+GNN co-training tests.

``paper`` (90 nodes, 3 classes): tokens ``input_ids``/``attention_mask``/``token_type_ids``
(``SEQ`` columns, right-padded like ``tokenize_hf`` writes them) holding two words of the
paper's class (``c<class>w<j>``) and 1-3 noise words, plus a 2-float noise feature ``feat``.
The label is readable from the text only. ``author`` (30 nodes) has 4 noise floats and writes
papers; papers cite 3 papers each, 80% within their class. 60/20/20 masks on papers.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph
from graphkit.training.config import TrainConfig, parse_train_config

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
NUM_CLASSES, WORDS_PER_CLASS, NOISE_WORDS = 3, 4, 24
VOCAB = SPECIAL + [f"c{c}w{j}" for c in range(NUM_CLASSES) for j in range(WORDS_PER_CLASS)] + \
    [f"n{j}" for j in range(NOISE_WORDS)]
NUM_PAPERS, NUM_AUTHORS, SEQ = 90, 30, 8
CLS, SEP = 2, 3


def _tokens(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ids = np.zeros((len(labels), SEQ), np.int64)
    for i, c in enumerate(labels):
        words = list(len(SPECIAL) + c * WORDS_PER_CLASS + rng.choice(WORDS_PER_CLASS, 2, replace=False))
        noise = (len(SPECIAL) + NUM_CLASSES * WORDS_PER_CLASS
                 + rng.choice(NOISE_WORDS, rng.integers(1, 4), replace=False))
        row = [CLS] + list(rng.permutation(words + list(noise))) + [SEP]
        ids[i, : len(row)] = row
    return ids


def _masks(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    order = rng.permutation(n)
    out = {k: np.zeros(n, np.int8) for k in ("train_mask", "val_mask", "test_mask")}
    out["train_mask"][order[: int(0.6 * n)]] = 1
    out["val_mask"][order[int(0.6 * n): int(0.8 * n)]] = 1
    out["test_mask"][order[int(0.8 * n):]] = 1
    return out


def build_text_graph(path: str, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(NUM_PAPERS) % NUM_CLASSES)
    ids = _tokens(labels, rng)
    by_class = [np.flatnonzero(labels == c) for c in range(NUM_CLASSES)]
    src, dst = [], []
    for p in range(NUM_PAPERS):
        for _ in range(3):
            q = rng.choice(by_class[labels[p]]) if rng.random() < 0.8 else rng.integers(NUM_PAPERS)
            src.append(p)
            dst.append(int(q))
    writes = (rng.integers(0, NUM_AUTHORS, NUM_PAPERS), np.arange(NUM_PAPERS))
    graph_from_arrays(
        path, {"paper": NUM_PAPERS, "author": NUM_AUTHORS},
        {("paper", "cites", "paper"): (np.array(src), np.array(dst)), ("author", "writes", "paper"): writes},
        node_features={"paper": {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int8),
                                 "token_type_ids": np.zeros_like(ids, dtype=np.int8),
                                 "feat": rng.normal(size=(NUM_PAPERS, 2)).astype(np.float32)},
                       "author": {"feat": rng.normal(size=(NUM_AUTHORS, 4)).astype(np.float32)}},
        node_labels={"paper": {"label": labels.astype(np.int64)}},
        node_masks={"paper": _masks(NUM_PAPERS, rng)},
        add_reverse_edges=True)
    return Graph(path)


def write_tiny_bert(path: str) -> str:
    """A randomly initialised 1-layer BERT over ``VOCAB`` saved as a Hugging Face folder; returns it."""
    import torch
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                  vocab_size=len(VOCAB), max_position_embeddings=SEQ + 2)
    transformers.BertModel(cfg).save_pretrained(path)
    with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    return path


BASE: dict[str, Any] = {"model_encoder_type": "rgcn", "fanout": "4,4", "num_layers": 2, "hidden_size": 16,
                        "lr": 0.01, "num_epochs": 3, "batch_size": 16, "eval_batch_size": 64, "seed": 0}
NC = {"node_classification": {"target_ntype": "paper", "label_field": "label", "num_classes": NUM_CLASSES}}


def lm_config(bert: str, node_types: tuple = ("paper",), entry: dict | None = None, **options: Any) -> TrainConfig:
    """A parsed training YAML: ``BASE`` + ``options`` in ``gsf.basic``, one LM over ``node_types``
    in ``gsf.lm`` (GraphStorm's layout), node classification on ``paper``."""
    lm_entry = {"lm_type": "bert", "model_name": bert, "node_types": list(node_types), **(entry or {})}
    return parse_train_config({"gsf": {"basic": {**BASE, **options}, "lm": {"node_lm_configs": [lm_entry]}, **NC}})
