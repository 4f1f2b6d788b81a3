"""`graphkit lm-finetune --mode supervised --pseudo-labels`: a GNN's predictions label the other nodes (GLEM)."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F

from graphkit.cli.main import main
from graphkit.errors import GraphkitError
from graphkit.inference.outputs import write_node_predictions
from graphkit.lm.finetune.node import SupervisedObjective
from graphkit.lm.finetune.pseudo import read_pseudo_labels
from graphkit.storage.graph import Graph


def _predictions(graph_dir, folder, probs_of):
    """A `graphkit infer` prediction folder for every paper: probs_of(node index) -> class probabilities."""
    g = Graph(graph_dir)
    raw = g.id_map("paper")
    prob = np.array([probs_of(i) for i in range(len(raw))], dtype=np.float32)
    write_node_predictions(folder, "paper", raw, prob.argmax(1), prob, classes=[0, 1])
    return folder


def _masks(graph_dir):
    g = Graph(graph_dir)
    y = np.asarray(g.load(g.meta.node_type("paper").labels["label"].array))
    train = np.flatnonzero(np.asarray(g.node_mask("paper", "train_mask")) != 0)
    return y, train


def test_pseudo_labels_add_the_unlabelled_nodes_and_weight_the_loss(text_graph_src, tmp_path):
    y, train = _masks(text_graph_src)
    # The "GNN" is sure of the wrong class everywhere: gold training nodes must keep their gold label.
    pred = _predictions(text_graph_src, str(tmp_path / "pred"), lambda i: [0.1, 0.9] if y[i] == 0 else [0.8, 0.2])
    pseudo = read_pseudo_labels(Graph(text_graph_src), "paper", pred)
    assert len(pseudo.ids) == 24 and np.allclose(pseudo.probs.sum(1), 1)
    obj = SupervisedObjective(Graph(text_graph_src), "paper", "label", pseudo=pseudo, pseudo_weight=0.5)
    assert obj.num_train() == 24 and obj.num_pseudo == 12  # 12 gold + the 12 others
    assert obj.describe()["pseudo_labelled"] == 12
    pos = np.searchsorted(obj.train_items, train)
    np.testing.assert_array_equal(obj.targets[pos].argmax(1).numpy(), y[train])  # gold wins
    others = np.setdiff1d(np.arange(24), train)
    expect = np.where(y[others, None] == 0, [0.1, 0.9], [0.8, 0.2])
    np.testing.assert_allclose(obj.targets[np.searchsorted(obj.train_items, others)].numpy(), expect, rtol=1e-6)

    # The loss of a batch: soft cross-entropy, gold nodes weight 1, pseudo-labelled ones 0.5.
    class FixedText:
        def encode(self, ntype, ids):
            return torch.from_numpy(np.stack([np.full(3, float(i)) for i in ids])).float() / 24

    obj.init_head(3)
    batch = np.array([train[0], others[0], others[1]])
    with torch.no_grad():
        logits = obj.classifier(FixedText().encode("paper", batch))
    ce = F.cross_entropy(logits, obj.targets[np.searchsorted(obj.train_items, batch)], reduction="none")
    want = float((ce[0] + 0.5 * ce[1] + 0.5 * ce[2]) / 2.0)
    assert float(obj.loss(FixedText(), batch, np.random.default_rng(0))) == pytest.approx(want, rel=1e-6)

    sure = read_pseudo_labels(Graph(text_graph_src), "paper", pred, min_confidence=0.85)
    assert set(sure.ids) == set(np.flatnonzero(y == 0))  # only the 0.9-confident rows stay


def test_fine_tuning_with_pseudo_labels_trains_on_every_node(text_graph_src, tiny_bert, tmp_path):
    y, _ = _masks(text_graph_src)
    pred = _predictions(text_graph_src, str(tmp_path / "pred"), lambda i: [0.95, 0.05] if y[i] == 0 else [0.05, 0.95])
    out = str(tmp_path / "ft")
    assert main(["lm-finetune", "--graph-dir", text_graph_src, "--lm-model", tiny_bert, "--output-dir", out,
                 "--mode", "supervised", "--epochs", "5", "--batch-size", "8", "--lr", "3e-3", "--warmup-ratio", "0",
                 "--pseudo-labels", pred, "--pseudo-weight", "0.5", "--device", "cpu"]) == 0
    with open(os.path.join(out, "finetune_metrics.json")) as f:
        m = json.load(f)
    assert m["objective"]["pseudo_labelled"] == 12 and m["steps"] == 5 * 3  # 24 nodes in batches of 8
    losses = [e["train_loss"] for e in m["epochs"]]
    assert losses[-1] < 0.8 * losses[0], losses
    assert m["config"]["pseudo_labels"] == pred and m["config"]["pseudo_weight"] == 0.5


def test_bad_pseudo_labels_are_named(text_graph_src, tiny_bert, tmp_path):
    g = Graph(text_graph_src)

    def run(folder, **kw):
        from graphkit.lm.finetune.run import FinetuneConfig, finetune_lm

        return finetune_lm(FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / "ft"), mode="supervised",
                                          device="cpu", pseudo_labels=folder, **kw))

    with pytest.raises(GraphkitError, match="no predictions of node type 'paper'"):
        run(str(tmp_path / "nothing"))
    bad = tmp_path / "bad" / "paper"
    bad.mkdir(parents=True)
    raw = g.id_map("paper").to_pylist()
    pq.write_table(pa.table({"id": raw[:2] + ["p999"], "prob": [[0.5, 0.5]] * 3}), bad / "part-00000.parquet")
    with pytest.raises(GraphkitError, match=r"part-00000.parquet, row 2: node ID 'p999' is not a 'paper' node"):
        run(str(tmp_path / "bad"))
    pq.write_table(pa.table({"id": raw[:2], "pred": [0, 1]}), bad / "part-00000.parquet")
    with pytest.raises(GraphkitError, match="no column 'prob'"):
        run(str(tmp_path / "bad"))
    pq.write_table(pa.table({"id": raw[:2], "prob": [[0.2, 0.3, 0.5]] * 2}), bad / "part-00000.parquet")
    with pytest.raises(GraphkitError, match="has 3 classes, label 'label' of 'paper' has 2"):
        run(str(tmp_path / "bad"))
    pq.write_table(pa.table({"id": raw[:2], "prob": [[0.2, 0.8], [0.5]]}), bad / "part-00000.parquet")
    with pytest.raises(GraphkitError, match="row 1: 'prob' has 1 values, row 0 has 2"):
        run(str(tmp_path / "bad"))
    pq.write_table(pa.table({"id": raw[:2], "prob": [[0.2, 0.8], None]}), bad / "part-00000.parquet")
    with pytest.raises(GraphkitError, match="row 1: 'prob' is null"):
        run(str(tmp_path / "bad"))
    pq.write_table(pa.table({"id": [[1], [2]], "prob": [[0.2, 0.8]] * 2}), bad / "part-00000.parquet")
    with pytest.raises(GraphkitError, match="column 'id' is list<.*>, but the node IDs of 'paper' are string"):
        run(str(tmp_path / "bad"))
    with pytest.raises(GraphkitError, match="--pseudo-labels are for --mode supervised"):
        from graphkit.lm.finetune.run import FinetuneConfig, finetune_lm

        finetune_lm(FinetuneConfig(text_graph_src, tiny_bert, str(tmp_path / "ft"), pseudo_labels="x"))
    with pytest.raises(GraphkitError, match="--pseudo-weight must be > 0"):
        run(str(tmp_path / "bad"), pseudo_weight=0.0)
    assert not os.path.exists(tmp_path / "ft")
