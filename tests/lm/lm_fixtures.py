"""Builders of the LM tests: a tiny randomly initialised BERT, and a tiny text graph built with
`graphkit construct` + tokenize_hf.

The graph: 24 papers whose texts use the words of one of two topics (the paper's class), 6
authors without text, citations that link papers of the same topic (with a link-prediction
split), and author -> paper edges.
"""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TOPICS = [["graph", "node", "edge", "walk"], ["word", "text", "token", "sentence"]]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "of", "a"] + TOPICS[0] + TOPICS[1]
NUM_PAPERS = 24
MAX_SEQ = 8


def make_tiny_bert(root: str, seed: int = 0, hidden: int = 32) -> str:
    """Save a 1-layer BERT (random weights) and its tokenizer to ``root``; returns the folder."""
    import torch
    import transformers

    vocab_dir = os.path.join(root, "vocab")
    os.makedirs(vocab_dir, exist_ok=True)
    with open(os.path.join(vocab_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    # transformers 5 ignores BertTokenizerFast(vocab_file=...): load from the folder instead
    tok = transformers.BertTokenizerFast.from_pretrained(vocab_dir)
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=2 * hidden, vocab_size=len(VOCAB), max_position_embeddings=32)
    model_dir = os.path.join(root, "model")
    transformers.BertModel(cfg).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    return model_dir


def paper_texts(n: int = NUM_PAPERS, seed: int = 0) -> tuple[list[str], list[int]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        c = i % 2
        words = list(rng.choice(TOPICS[c], size=int(rng.integers(2, 9))))  # some longer than MAX_SEQ tokens
        texts.append(" ".join(["the"] + words))
        labels.append(c)
    return texts, labels


def write_text_tables(d: str, model_dir: str, texts=None) -> str:
    """Tables and gconstruct.json of the tiny text graph under ``d``; returns the config path."""
    os.makedirs(d, exist_ok=True)
    if texts is None:
        texts, labels = paper_texts()
    else:
        labels = [i % 2 for i in range(len(texts))]
    n = len(texts)
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(n)], "text": texts, "label": labels}),
                   os.path.join(d, "papers.parquet"))
    pq.write_table(pa.table({"id": [f"a{i}" for i in range(6)], "age": [float(30 + i) for i in range(6)]}),
                   os.path.join(d, "authors.parquet"))
    # each paper cites the next two papers of its topic (cyclically): 2 * n edges within topics
    src, dst = [], []
    for i in range(n):
        for k in (2, 4):
            src.append(f"p{i}")
            dst.append(f"p{(i + k) % n}")
    pq.write_table(pa.table({"src": src, "dst": dst}), os.path.join(d, "cites.parquet"))
    pq.write_table(pa.table({"src": [f"a{i % 6}" for i in range(n)], "dst": [f"p{i}" for i in range(n)]}),
                   os.path.join(d, "writes.parquet"))
    tok = {"name": "tokenize_hf", "bert_model": model_dir, "max_seq_length": MAX_SEQ}
    config = {
        "version": "gconstruct-v0.1",
        "nodes": [
            {"node_type": "paper", "node_id_col": "id", "format": {"name": "parquet"}, "files": ["papers.parquet"],
             "features": [{"feature_col": "text", "transform": tok}],
             "labels": [{"label_col": "label", "task_type": "classification", "split_pct": [0.5, 0.25, 0.25]}]},
            {"node_type": "author", "node_id_col": "id", "format": {"name": "parquet"}, "files": ["authors.parquet"],
             "features": [{"feature_col": "age"}]},
        ],
        "edges": [
            {"relation": ["paper", "cites", "paper"], "source_id_col": "src", "dest_id_col": "dst",
             "format": {"name": "parquet"}, "files": ["cites.parquet"],
             "labels": [{"task_type": "link_prediction", "split_pct": [0.75, 0.125, 0.125]}]},
            {"relation": ["author", "writes", "paper"], "source_id_col": "src", "dest_id_col": "dst",
             "format": {"name": "parquet"}, "files": ["writes.parquet"]},
        ],
    }
    path = os.path.join(d, "gconstruct.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return path


def construct(conf: str, out: str) -> str:
    from graphkit.cli.main import main

    assert main(["construct", "--conf-file", conf, "--output-dir", out, "--graph-name", "papers",
                 "--add-reverse-edges"]) == 0
    return out
