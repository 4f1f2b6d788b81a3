"""`graphkit lm-finetune`: the loss falls in both modes, and the output folder is a loadable HF model."""

import json
import os

import numpy as np
import pytest

from graphkit.cli.main import main
from graphkit.errors import GraphkitError
from graphkit.lm.finetune.link import GraphAwareObjective, _false_negatives
from graphkit.lm.finetune.run import FinetuneConfig, finetune_lm
from graphkit.lm.fingerprint import model_fingerprint
from graphkit.lm.loading import load_model, load_tokenizer
from graphkit.storage.graph import Graph


def _topic_gap(graph_dir, model_dir):
    """Mean cosine similarity of papers of the same topic minus that of papers of different topics."""
    from graphkit.lm.chunked import embed_rows
    from graphkit.lm.encoder import TextEncoder
    from graphkit.lm.tokens import node_tokens

    g = Graph(graph_dir)
    e = embed_rows(TextEncoder.load(model_dir, "mean", device="cpu"), node_tokens(g, "paper"), 8)[0]
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    y = np.arange(len(e)) % 2  # the topic of paper i (lm_fixtures.paper_texts)
    same = (y[:, None] == y[None]) & ~np.eye(len(e), dtype=bool)
    return float(sim[same].mean() - sim[y[:, None] != y[None]].mean())


def _epoch_losses(m):
    return [e["train_loss"] for e in m["epochs"]]


def test_graph_aware_loss_falls_and_output_loads(text_graph_src, tiny_bert, tmp_path):
    out = str(tmp_path / "ft")
    assert main(["lm-finetune", "--graph-dir", text_graph_src, "--lm-model", tiny_bert, "--output-dir", out,
                 "--epochs", "6", "--batch-size", "12", "--lr", "3e-3", "--warmup-ratio", "0", "--num-negatives",
                 "4", "--device", "cpu"]) == 0
    with open(os.path.join(out, "finetune_metrics.json")) as f:
        m = json.load(f)
    losses = _epoch_losses(m)
    assert len(losses) == 6 and losses[-1] < 0.85 * losses[0], losses
    # citations link papers of one topic: fine-tuning pulls the texts of a topic together
    assert _topic_gap(text_graph_src, out) > _topic_gap(text_graph_src, tiny_bert) + 0.03
    # 48 citations; 6 validation and 6 test edges are left out of training (reverse type not used)
    assert m["objective"]["etypes"] == ["paper,cites,paper"]
    assert m["objective"]["edges"]["paper,cites,paper"] == {"train": 36, "val": 6, "test": 6}
    assert m["steps"] == 6 * 3 and len(m["loss_per_step"]) == 18
    assert m["select_metric"] == "mrr" and 1 <= m["best_epoch"] <= 6
    assert m["val"]["mrr"] == pytest.approx(max(e["val"]["mrr"] for e in m["epochs"]))
    assert 0 < m["test"]["mrr"] <= 1
    model = load_model(out)
    assert type(model).__name__ == "BertModel" and model.config.hidden_size == 32
    assert model_fingerprint(model) == m["model_fingerprint"] != m["source_model_fingerprint"]
    assert model_fingerprint(load_model(tiny_bert)) == m["source_model_fingerprint"]
    assert load_tokenizer(out).convert_tokens_to_ids("graph") == 8


def test_supervised_loss_falls_and_keeps_the_best_epoch(text_graph_src, tiny_bert, tmp_path):
    cfg = FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / "ft"), mode="supervised", epochs=6,
                         batch_size=4, lr=3e-3, warmup_ratio=0.0, device="cpu")
    m = finetune_lm(cfg).metrics
    losses = _epoch_losses(m)
    assert losses[-1] < 0.8 * losses[0], losses
    assert m["objective"]["ntype"] == "paper" and m["objective"]["label_field"] == "label"
    assert m["objective"]["nodes"] == {"train": 12, "val": 6, "test": 6}
    val = [e["val"]["accuracy"] for e in m["epochs"]]
    assert m["best_epoch"] == 1 + int(np.argmax(val))
    assert m["val"]["accuracy"] == pytest.approx(max(val))  # the kept weights are the best epoch's
    assert 0.0 <= m["test"]["accuracy"] <= 1.0
    assert load_model(str(tmp_path / "ft")).config.vocab_size == 16


def test_head_lr_trains_the_classifier_at_its_own_rate(text_graph_src, tiny_bert, tmp_path):
    def run(name, **kw):
        cfg = FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / name), mode="supervised", epochs=10,
                             batch_size=4, lr=1e-9, warmup_ratio=0.0, device="cpu", **kw)
        return finetune_lm(cfg).metrics

    frozen_lm = run("lm-only")  # lr 1e-9 everywhere: nothing learns
    head = run("head", head_lr=3e-2)  # the head learns on the (practically unchanged) LM vectors
    assert load_model(str(tmp_path / "head")).state_dict()["embeddings.word_embeddings.weight"].allclose(
        load_model(tiny_bert).state_dict()["embeddings.word_embeddings.weight"], atol=1e-6)
    still, moved = _epoch_losses(frozen_lm), _epoch_losses(head)
    assert moved[-1] < 0.8 * moved[0] and moved[-1] < 0.8 * still[-1], (moved, still)
    with pytest.raises(GraphkitError, match="--head-lr must be > 0"):
        finetune_lm(FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / "x"), mode="supervised", head_lr=0.0))
    with pytest.raises(GraphkitError, match="--head-lr and --pseudo-labels are for --mode supervised"):
        finetune_lm(FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / "x"), head_lr=1e-3))


def test_caps_and_subsampling(text_graph_src, tiny_bert, tmp_path):
    cfg = FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / "ft"), mode="supervised", epochs=5,
                         batch_size=2, max_steps=7, train_nodes=5, eval_rows=3, device="cpu", max_seq_length=4)
    m = finetune_lm(cfg).metrics
    assert m["steps"] == 7 and len(m["loss_per_step"]) == 7 and len(m["epochs"]) == 3  # 3 steps per epoch
    assert m["objective"]["nodes"] == {"train": 5, "val": 3, "test": 3}


def test_the_fine_tuned_model_embeds(text_graph, tiny_bert, tmp_path):
    out = str(tmp_path / "ft")
    finetune_lm(FinetuneConfig(text_graph, tiny_bert, out, epochs=1, lr=1e-2, device="cpu"))
    for name, model in (("base", tiny_bert), ("tuned", out)):
        assert main(["lm-embed", "--graph-dir", text_graph, "--lm-model", model, "--feature-name", name,
                     "--no-cache"]) == 0
    g = Graph(text_graph)
    assert np.abs(g.node_feature("paper", "base") - g.node_feature("paper", "tuned")).max() > 1e-3


def test_in_batch_duplicates_are_not_negatives():
    mask = _false_negatives(np.array([1, 2, 1]), np.array([1, 2, 1, 5, 2]), device="cpu").numpy()
    np.testing.assert_array_equal(mask, [[0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0]])


def test_clear_errors(text_graph_src, tiny_bert, tmp_path):
    def cfg(**kw):
        return FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / "ft"), device="cpu", **kw)

    with pytest.raises(GraphkitError, match="'author' has no token features"):
        finetune_lm(cfg(etypes=["author,writes,paper"]))
    with pytest.raises(GraphkitError, match="unknown edge type"):
        finetune_lm(cfg(etypes=["paper,cited,paper"]))
    with pytest.raises(GraphkitError, match="node type 'author' has no token features"):
        finetune_lm(cfg(mode="supervised", ntype="author"))
    with pytest.raises(GraphkitError, match="has no label 'lable'. Did you mean 'label'"):
        finetune_lm(cfg(mode="supervised", label_field="lable"))
    with pytest.raises(GraphkitError, match="for --mode supervised"):
        finetune_lm(cfg(train_nodes=3))
    assert not os.path.exists(tmp_path / "ft")


def test_reverse_edge_types_share_the_held_out_edges(text_graph_src):
    obj = GraphAwareObjective(Graph(text_graph_src), ["paper,cites-rev,paper"])
    (split,) = obj.splits
    assert (len(split.train), len(split.val), len(split.test)) == (36, 6, 6)
