"""A small citation graph where a node's own features say something and its neighbours say more.

- ``paper`` (400): ``feat`` = one-hot community + N(0, 0.4) noise (+ 2 noise dims), so an MLP
  alone reads the community only roughly; ``label`` = its community (4 classes, 60/20/20
  masks); text tokens ``input_ids``/``attention_mask``/``token_type_ids`` (length 8) in
  which each word is the community's word with probability 0.6, else a noise word.
  Each paper cites 6 papers, 85% of them in its own community; ``NUM_ISOLATED`` papers
  have no edges at all.
- ``author`` (120): ``feat`` = noise; writes 3 papers each.
- ``venue`` (4): no features (the featureless type); hosts papers.

Reverse edge types are added, so a paper's in-neighbours are the papers citing it,
the papers it cites (``cites-rev``), its authors and its venue.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphkit.cli.main import main
from graphkit.storage.build import graph_from_arrays
from graphkit.storage.graph import Graph
from graphkit.training.config import TrainConfig, parse_train_config

NUM_PAPERS, NUM_AUTHORS, NUM_VENUES, NUM_CLASSES = 400, 120, 4, 4
NUM_ISOLATED = 24
SEQ_LEN = 8
# a tiny BERT vocabulary: special tokens, one word per community, noise words
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"c{i}" for i in range(NUM_CLASSES)] + \
    [f"w{i}" for i in range(8)]


def _tokens(c: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, words = c.size, SEQ_LEN - 2
    class_word = 5 + c[:, None].repeat(words, 1)
    noise_word = 5 + NUM_CLASSES + rng.integers(0, 8, (n, words))
    body = np.where(rng.random((n, words)) < 0.6, class_word, noise_word)
    ids = np.concatenate([np.full((n, 1), 2), body, np.full((n, 1), 3)], axis=1).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones((n, SEQ_LEN), np.int8),
            "token_type_ids": np.zeros((n, SEQ_LEN), np.int8)}


def build_distill_graph(path: str, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    k = NUM_CLASSES
    c = rng.permutation(np.arange(NUM_PAPERS) % k)
    feat = np.concatenate([np.eye(k)[c] + 0.4 * rng.normal(size=(NUM_PAPERS, k)),
                           rng.normal(size=(NUM_PAPERS, 2))], axis=1).astype(np.float32)
    isolated = np.sort(rng.choice(NUM_PAPERS, NUM_ISOLATED, replace=False))
    linked = np.setdiff1d(np.arange(NUM_PAPERS), isolated)
    by_class = [np.intersect1d(np.flatnonzero(c == j), linked) for j in range(k)]
    src, dst = [], []
    for p in linked:
        for _ in range(6):
            q = rng.choice(by_class[c[p]]) if rng.random() < 0.85 else rng.choice(linked)
            if q != p:
                src.append(p)
                dst.append(int(q))
    w_src = np.repeat(np.arange(NUM_AUTHORS), 3)
    w_dst = rng.choice(linked, w_src.size)
    h_dst = linked
    h_src = rng.integers(0, NUM_VENUES, h_dst.size)
    order = rng.permutation(NUM_PAPERS)
    masks = {m: np.zeros(NUM_PAPERS, np.int8) for m in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][order[:240]] = 1
    masks["val_mask"][order[240:320]] = 1
    masks["test_mask"][order[320:]] = 1
    graph_from_arrays(
        path, {"paper": NUM_PAPERS, "author": NUM_AUTHORS, "venue": NUM_VENUES},
        {("paper", "cites", "paper"): (np.array(src), np.array(dst)),
         ("author", "writes", "paper"): (w_src, w_dst), ("venue", "hosts", "paper"): (h_src, h_dst)},
        node_features={"paper": {"feat": feat, **_tokens(c, rng)},
                       "author": {"feat": rng.normal(size=(NUM_AUTHORS, 3)).astype(np.float32)}},
        node_labels={"paper": {"label": c.astype(np.int64)}}, node_masks={"paper": masks},
        add_reverse_edges=True)
    return Graph(path)


def teacher_config(**options: Any) -> TrainConfig:
    basic = {"node_feat_name": ["paper:feat", "author:feat"], "model_encoder_type": "rgcn", "fanout": "10,10",
             "num_layers": 2, "hidden_size": 16, "lr": 0.02, "num_epochs": 12, "batch_size": 64,
             "eval_batch_size": 1024, "seed": 0, **options}
    nc = {"node_classification": {"target_ntype": "paper", "label_field": "label", "num_classes": NUM_CLASSES}}
    return parse_train_config({"gsf": {"basic": basic, **nc}})


# what the distilled MLP students of these tests train with (fast, and enough to match the teacher)
MLP_FLAGS = ["--num-epochs", "60", "--lr", "0.003", "--hidden-size", "64", "--batch-size", "64"]


def run_distill(graph: Graph, teacher: str, out: str, *flags: str) -> str:
    """``graphkit distill`` through the CLI; returns the student folder."""
    code = main(["--log-level", "warning", "distill", "--part-config", graph.root, "--restore-model-path", teacher,
                 "--save-model-path", out, *flags])
    assert code == 0
    return out
