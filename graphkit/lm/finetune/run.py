"""``graphkit lm-finetune``: load the LM, build the objective, run the loop, save a Hugging Face folder.

The output folder holds the fine-tuned model (``save_pretrained``: ``config.json`` and the
weights, float32), its tokenizer (when the source has one) and ``finetune_metrics.json``
(the per-step loss, per-epoch train loss and validation metrics, the kept epoch, and the
validation and test metrics of the kept weights). It is written atomically: a failed or
interrupted run leaves no folder, and a previous output stays until the new one is complete.
``graphkit lm-embed --lm-model OUT`` and LM+GNN co-training load it like any model folder.
With ``lora_rank`` > 0 only LoRA adapters train (:mod:`graphkit.lm.lora`); they are merged into
the weights before the final evaluation and the save, so the folder is a plain model too.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from graphkit import __version__
from graphkit.errors import GraphkitError
from graphkit.lm.device import resolve_device, resolve_precision
from graphkit.lm.encoder import check_pooling
from graphkit.lm.finetune.base import Objective
from graphkit.lm.finetune.link import GraphAwareObjective
from graphkit.lm.finetune.loop import LoopOptions, evaluate, run_loop
from graphkit.lm.finetune.node import SupervisedObjective, choose_label
from graphkit.lm.finetune.pseudo import read_pseudo_labels
from graphkit.lm.finetune.text import NodeText
from graphkit.lm.fingerprint import model_fingerprint
from graphkit.lm.lora import LoraOptions, apply_lora, merge_lora
from graphkit.lm.tokens import node_tokens
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.graph import Graph

log = logging.getLogger(__name__)

MODES = ("graph-aware", "supervised")
METRICS_FILE = "finetune_metrics.json"


@dataclass
class FinetuneConfig:
    """What ``graphkit lm-finetune`` does; every field is a CLI option of the same name."""

    graph_dir: str
    lm_model: str
    output_dir: str
    mode: str = "graph-aware"
    etypes: Optional[list[str]] = None  # graph-aware: default every forward edge type with text on both ends
    ntype: Optional[str] = None  # supervised
    label_field: Optional[str] = None  # supervised
    pooling: str = "mean"
    epochs: int = 1
    batch_size: int = 32
    lr: float = 2e-5
    head_lr: Optional[float] = None  # supervised: the classifier's learning rate; None: lr
    pseudo_labels: Optional[str] = None  # supervised: a `graphkit infer` prediction folder (GLEM's LM step)
    pseudo_weight: float = 1.0  # supervised: loss weight of a pseudo-labelled node relative to a gold one
    pseudo_min_confidence: float = 0.0  # supervised: keep pseudo-labels whose top probability reaches this
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_seq_length: Optional[int] = None
    temperature: float = 0.05
    num_negatives: int = 0
    max_steps: Optional[int] = None
    train_nodes: Optional[int] = None
    train_edges: Optional[int] = None
    eval_rows: Optional[int] = None
    eval_batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    lora_rank: int = 0  # > 0: train LoRA adapters of this rank instead of every weight (merged when saved)
    lora_alpha: Optional[float] = None  # None: lora_rank
    lora_dropout: float = 0.0
    lora_targets: Optional[list[str]] = None  # None: peft's defaults for the model type (BERT: query, value)

    def lora(self) -> LoraOptions:
        return LoraOptions(self.lora_rank, self.lora_alpha, self.lora_dropout,
                           tuple(self.lora_targets) if self.lora_targets is not None else None)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise GraphkitError(f"--mode must be one of {', '.join(MODES)}, got '{self.mode}'.")
        check_pooling(self.pooling, key="--pooling")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise GraphkitError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}.")
        for name in ("max_steps", "train_nodes", "train_edges", "eval_rows", "max_seq_length"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise GraphkitError(f"--{name.replace('_', '-')} must be >= 1, got {v}.")
        if self.head_lr is not None and self.head_lr <= 0:
            raise GraphkitError(f"--head-lr must be > 0, got {self.head_lr}.")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.warmup_ratio < 1 or self.max_grad_norm < 0:
            raise GraphkitError("--lr must be > 0, --weight-decay >= 0, --warmup-ratio in [0, 1), "
                                "--max-grad-norm >= 0.")
        if self.pseudo_weight <= 0 or not 0 <= self.pseudo_min_confidence <= 1:
            raise GraphkitError(f"--pseudo-weight must be > 0 and --pseudo-min-confidence in [0, 1], got "
                                f"{self.pseudo_weight} and {self.pseudo_min_confidence}.")
        if self.mode == "graph-aware" and (self.ntype or self.label_field or self.train_nodes or self.head_lr
                                           or self.pseudo_labels):
            raise GraphkitError("--ntype, --label-field, --train-nodes, --head-lr and --pseudo-labels are for "
                                "--mode supervised.",
                                hint="Graph-aware mode takes --etype and --train-edges.")
        if self.mode == "supervised" and (self.etypes or self.train_edges or self.num_negatives):
            raise GraphkitError("--etype, --train-edges and --num-negatives are for --mode graph-aware.")
        problems = self.lora().problems(lambda f: f"--lora-{f}")
        if problems:
            raise GraphkitError(problems[0][1])


@dataclass
class FinetuneResult:
    output_dir: str
    metrics: dict[str, Any] = field(default_factory=dict)


def build_objective(cfg: FinetuneConfig, graph: Graph) -> Objective:
    """The objective of ``cfg.mode``; checks the graph (types, tokens, labels, splits)."""
    if cfg.mode == "graph-aware":
        return GraphAwareObjective(graph, cfg.etypes, cfg.temperature, cfg.num_negatives, cfg.train_edges,
                                   cfg.eval_rows, cfg.seed)
    pseudo = None
    if cfg.pseudo_labels:
        ntype, _ = choose_label(graph, cfg.ntype, cfg.label_field)
        pseudo = read_pseudo_labels(graph, ntype, cfg.pseudo_labels, cfg.pseudo_min_confidence)
    return SupervisedObjective(graph, cfg.ntype, cfg.label_field, cfg.train_nodes, cfg.eval_rows, cfg.seed,
                               pseudo, cfg.pseudo_weight)


def _text_types(objective: Objective) -> list[str]:
    if isinstance(objective, SupervisedObjective):
        return [objective.ntype]
    assert isinstance(objective, GraphAwareObjective)
    return list(dict.fromkeys(t for s in objective.splits for t in (s.etype[0], s.etype[2])))


def finetune_lm(cfg: FinetuneConfig) -> FinetuneResult:
    """Fine-tune ``cfg.lm_model`` on the graph's text and write the model folder; see the module docstring."""
    from graphkit.lm.loading import load_model, load_tokenizer

    t0 = time.perf_counter()
    cfg.validate()
    graph = Graph(cfg.graph_dir)
    dev = resolve_device(cfg.device)
    prec = resolve_precision(cfg.precision, dev)
    objective = build_objective(cfg, graph)  # before loading the model: input errors come first
    torch.manual_seed(cfg.seed)
    model = load_model(cfg.lm_model, key="--lm-model")
    try:
        tokenizer: Any = load_tokenizer(cfg.lm_model, key="--lm-model")
    except GraphkitError as e:
        log.warning("no tokenizer saved with the fine-tuned model: %s", e)
        tokenizer = None
    objective.init_head(int(getattr(model.config, "hidden_size", 0)))
    tokens = {t: node_tokens(graph, t, cfg.max_seq_length) for t in _text_types(objective)}
    vocab = getattr(model.config, "vocab_size", None)
    for t, tok in tokens.items():
        top = int(np.asarray(tok["input_ids"][:10000]).max(initial=0))
        if vocab is not None and top >= vocab:
            raise GraphkitError(f"node type '{t}': token IDs reach {top}, but {cfg.lm_model} has a vocabulary of "
                                f"{vocab}: the text was tokenized for another model.",
                                hint="Fine-tune the model the graph was tokenized with (tokenize_hf bert_model).")
    source_fp = model_fingerprint(model)
    lora = cfg.lora()
    if lora.enabled:
        model = apply_lora(model, lora)
    model.to(dev)
    text = NodeText(model, tokens, cfg.pooling, dev, prec)
    opts = LoopOptions(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, head_lr=cfg.head_lr,
                       weight_decay=cfg.weight_decay, warmup_ratio=cfg.warmup_ratio, max_steps=cfg.max_steps,
                       max_grad_norm=cfg.max_grad_norm, eval_batch_size=cfg.eval_batch_size, seed=cfg.seed)
    loop = run_loop(model, objective, text, opts)
    if lora.enabled:  # fold the adapters into the weights: what is evaluated and saved is a plain model
        model = text.model = merge_lora(model)
    modules = [model] + ([objective.head()] if objective.head() is not None else [])
    final = {s: evaluate(objective, text, modules, s, cfg.eval_batch_size)
             for s in ("val", "test") if objective.has_split(s)}
    for s, m in final.items():
        log.info("%s (kept weights): %s", s, ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
    metrics = {
        "mode": cfg.mode, "lm_model": cfg.lm_model, "graph_dir": os.path.abspath(cfg.graph_dir),
        "source_model_fingerprint": source_fp, "model_fingerprint": model_fingerprint(model),
        "objective": objective.describe(), "select_metric": objective.select_metric,
        "best_epoch": loop.best_epoch, "steps": loop.steps, "lora": lora.describe() if lora.enabled else None,
        "val": final.get("val", {}), "test": final.get("test", {}),
        "epochs": loop.epochs, "loss_per_step": loop.loss_per_step,
        "device": str(dev), "precision": prec, "graphkit_version": __version__,
        "total_time_s": time.perf_counter() - t0, "config": asdict(cfg),
    }
    with atomic_output_dir(cfg.output_dir, markers=(METRICS_FILE,)) as tmp:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        with open(os.path.join(tmp, METRICS_FILE), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=1)
    log.info("fine-tuned model written to %s", os.path.abspath(cfg.output_dir))
    return FinetuneResult(output_dir=os.path.abspath(cfg.output_dir), metrics=metrics)
