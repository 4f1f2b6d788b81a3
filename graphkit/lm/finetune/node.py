"""Supervised fine-tuning: classify a node type's text with the LM and a linear head.

The pooled LM vector of a node's text goes through ``nn.Linear(hidden, num_classes)`` and a
cross-entropy loss against the node's label, on the label's training mask. Validation
accuracy picks the epoch whose weights are kept; the head is discarded after training (the
point is an LM whose vectors separate the classes, for ``lm-embed`` or co-training).

With pseudo-labels (:mod:`graphkit.lm.finetune.pseudo`: a trained GNN's class probabilities) the
nodes without a gold training label train too, against the GNN's distribution (soft cross-entropy),
each weighted ``pseudo_weight`` relative to a gold node: GLEM's LM step. Selection still uses the
gold validation labels.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphkit.errors import GraphkitError, did_you_mean
from graphkit.lm.finetune.base import Objective
from graphkit.lm.finetune.pseudo import PseudoLabels
from graphkit.lm.finetune.text import NodeText
from graphkit.lm.tokens import check_text_node_types, text_node_types
from graphkit.schema.graph_meta import LabelMeta
from graphkit.storage.graph import Graph

log = logging.getLogger(__name__)


def _classification_labels(graph: Graph, ntype: str) -> dict[str, LabelMeta]:
    return {k: v for k, v in graph.meta.node_type(ntype).labels.items()
            if v.task_type == "classification" and v.array is not None}


def choose_label(graph: Graph, ntype: Optional[str], label_field: Optional[str]) -> tuple[str, LabelMeta]:
    """The node type and classification label to train on; inferred when the graph has just one."""
    if ntype is None:
        cands = [t for t in text_node_types(graph.meta) if _classification_labels(graph, t)]
        if len(cands) != 1:
            raise GraphkitError("supervised fine-tuning needs --ntype: " + (
                f"node types with text and a classification label: {', '.join(cands)}." if cands else
                "no node type has both token features and a classification label."))
        ntype = cands[0]
    check_text_node_types(graph.meta, [ntype], option="--ntype")
    labels = _classification_labels(graph, ntype)
    if label_field is None:
        if len(labels) != 1:
            raise GraphkitError(f"node type '{ntype}' has {len(labels)} classification labels; choose one with "
                                "--label-field.", hint=f"Labels: {', '.join(labels) or 'none'}.")
        label_field = next(iter(labels))
    all_labels = graph.meta.node_type(ntype).labels
    if label_field not in all_labels:
        raise GraphkitError(f"--label-field: node type '{ntype}' has no label '{label_field}'.",
                            hint=did_you_mean(label_field, all_labels) if all_labels else "It has no labels.")
    if label_field not in labels:
        raise GraphkitError(f"--label-field: label '{label_field}' of '{ntype}' is "
                            f"{all_labels[label_field].task_type}; supervised fine-tuning classifies.",
                            hint="Use a classification label, or --mode graph-aware.")
    return ntype, labels[label_field]


class SupervisedObjective(Objective):
    """Node classification on text; see the module docstring.

    Args:
        graph: The graph.
        ntype / label_field: What to classify (inferred when the graph has one such pair).
        train_nodes: Keep this many random training nodes; None: all.
        eval_rows: Evaluate on at most this many validation/test nodes; None: all.
        seed: Seed of the subsampling and of the head's initialisation.
        pseudo: Soft labels of other nodes (a GNN's predictions); gold training nodes keep their label.
        pseudo_weight: Loss weight of a pseudo-labelled node relative to a gold one.
    """

    mode = "supervised"
    select_metric = "accuracy"

    def __init__(self, graph: Graph, ntype: Optional[str], label_field: Optional[str],
                 train_nodes: Optional[int] = None, eval_rows: Optional[int] = None, seed: int = 0,
                 pseudo: Optional[PseudoLabels] = None, pseudo_weight: float = 1.0) -> None:
        self.ntype, label = choose_label(graph, ntype, label_field)
        self.label_name = label.name
        assert label.array is not None
        y = np.asarray(graph.load(label.array))
        if y.ndim != 1:
            raise GraphkitError(f"label '{label.name}' of '{self.ntype}' is multi-label ({y.shape}); supervised "
                                "fine-tuning handles single-label classification.")
        self.labels = torch.from_numpy(y.astype(np.int64))
        self.num_classes = int(label.num_classes or int(y.max()) + 1)
        rng = np.random.default_rng(seed)
        ids = {}
        for split, mask in zip(("train", "val", "test"), label.mask_names, strict=True):
            m = graph.meta.node_type(self.ntype).masks.get(mask)
            sel = np.flatnonzero(np.asarray(graph.node_mask(self.ntype, mask)) != 0) if m else np.zeros(0, np.int64)
            sel = sel[y[sel] >= 0]
            if split == "train":
                labelled = sel  # before subsampling: these never get a pseudo-label
            cap = train_nodes if split == "train" else eval_rows
            if cap is not None and len(sel) > cap:
                sel = np.sort(rng.choice(sel, size=cap, replace=False))
            ids[split] = sel
        self.ids = ids
        if not len(ids["train"]):
            raise GraphkitError(f"label '{self.label_name}' of '{self.ntype}' has no training nodes.",
                                hint="Check the label's split (split_pct or custom_split_filenames).")
        self.seed = seed
        self.classifier: Optional[nn.Linear] = None
        # Training items: the gold training nodes, then the pseudo-labelled others; sorted for lookups.
        gold = ids["train"]
        if pseudo is None:
            pseudo = PseudoLabels(np.zeros(0, np.int64), np.zeros((0, self.num_classes), np.float32))
        if pseudo.probs.shape[1] != self.num_classes:
            raise GraphkitError(f"--pseudo-labels: {pseudo.source} has {pseudo.probs.shape[1]} classes, label "
                                f"'{self.label_name}' of '{self.ntype}' has {self.num_classes}.")
        extra = ~np.isin(pseudo.ids, labelled)
        n_pseudo = int(extra.sum())
        items = np.concatenate([gold, pseudo.ids[extra]])
        targets = torch.zeros(len(items), self.num_classes)
        targets[torch.arange(len(gold)), self.labels[torch.from_numpy(gold)]] = 1.0
        targets[len(gold):] = torch.from_numpy(pseudo.probs[extra])
        weights = torch.cat([torch.ones(len(gold)), torch.full((n_pseudo,), float(pseudo_weight))])
        order = np.argsort(items, kind="stable")
        self.train_items, self.targets, self.weights = items[order], targets[order], weights[order]
        self.num_pseudo = n_pseudo
        log.info("supervised fine-tuning on %s/%s (%d classes): %d training, %d validation, %d test nodes%s",
                 self.ntype, self.label_name, self.num_classes, len(ids["train"]), len(ids["val"]), len(ids["test"]),
                 f", {n_pseudo} pseudo-labelled (weight {pseudo_weight:g})" if n_pseudo else "")

    def init_head(self, hidden: int) -> None:
        torch.manual_seed(self.seed)
        self.classifier = nn.Linear(hidden, self.num_classes)

    def head(self) -> Optional[nn.Module]:
        return self.classifier

    def num_train(self) -> int:
        return len(self.train_items)

    def train_batches(self, rng: np.random.Generator, batch_size: int) -> Iterator[np.ndarray]:
        ids = rng.permutation(self.train_items)
        for a in range(0, len(ids), batch_size):
            yield ids[a:a + batch_size]

    def _logits(self, text: NodeText, ids: np.ndarray) -> torch.Tensor:
        assert self.classifier is not None, "init_head() first"
        return self.classifier(text.encode(self.ntype, ids))

    def loss(self, text: NodeText, batch: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        logits = self._logits(text, batch)  # gold nodes: one-hot targets, weight 1 (plain cross-entropy)
        pos = torch.from_numpy(np.searchsorted(self.train_items, batch))
        w = self.weights[pos].to(logits.device)
        per_node = F.cross_entropy(logits, self.targets[pos].to(logits.device), reduction="none")
        return (w * per_node).sum() / w.sum().clamp_min(1e-12)

    def has_split(self, split: str) -> bool:
        return len(self.ids[split]) > 0

    def evaluate(self, text: NodeText, split: str, batch_size: int) -> dict[str, float]:
        ids = self.ids[split]
        correct, loss_sum = 0, 0.0
        for a in range(0, len(ids), batch_size):
            b = ids[a:a + batch_size]
            logits = self._logits(text, b)
            y = self.labels[torch.from_numpy(b)].to(logits.device)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        n = max(len(ids), 1)
        return {"accuracy": correct / n, "loss": loss_sum / n, "nodes": float(len(ids))}

    def describe(self) -> dict[str, Any]:
        return {"ntype": self.ntype, "label_field": self.label_name, "num_classes": self.num_classes,
                "nodes": {s: int(len(v)) for s, v in self.ids.items()}, "pseudo_labelled": self.num_pseudo}
