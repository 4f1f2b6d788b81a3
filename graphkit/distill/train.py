"""``graphkit distill``: a trained GNN folder -> a student folder that predicts without the graph.

Per distilled node type: the teacher's layer-wise embeddings of every node are
the targets; the student trains on every node of the type except the node
task's validation and test nodes (labelled or not — no labels are needed),
and the best epoch is chosen on the validation nodes. With ``distill=False``
(``--no-distill``) the same student architecture and a fresh decoder train on
the task's training labels only: the baseline that shows what the teacher adds.
The folder is written atomically (see :mod:`graphkit.distill.spec`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from graphkit.distill import head as heads
from graphkit.distill.fit import FitData, FitOptions, FitResult, embed, evaluate, fit_student
from graphkit.distill.inputs import StudentInputs, mlp_features, token_features
from graphkit.distill.spec import KINDS, STUDENT_FILE, HeadSpec, StudentSpec, TypeSpec, write_student
from graphkit.distill.students import MLPStudent, Student, build_network
from graphkit.distill.teacher import Teacher, default_ntypes, head_spec, load_teacher
from graphkit.errors import GraphkitError
from graphkit.lm.embed import POOLINGS
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.graph import Graph
from graphkit.training.tasks.node import NodeTask

log = logging.getLogger(__name__)

DEFAULT_LR = {"mlp": 1e-3, "lm": 5e-5}


@dataclass
class DistillConfig:
    """Options of ``graphkit distill`` (the CLI flags, without the paths)."""

    student: str = "mlp"
    lm_model: Optional[str] = None  # lm: a local Hugging Face model folder (or hub name) to start from
    lm_pooling: str = "cls"
    ntypes: Optional[list[str]] = None  # None: the teacher's node-task type, else every readable type
    num_epochs: int = 20
    lr: Optional[float] = None  # None: 1e-3 (mlp) / 5e-5 (lm)
    batch_size: int = 256
    eval_batch_size: int = 4096
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    soft_label_weight: float = 0.0  # 0: embeddings only
    temperature: float = 2.0
    distill: bool = True  # False: the labels-only baseline
    val_fraction: float = 0.1  # held-out nodes of a type without a node task (best-epoch selection)
    seed: int = 0

    def validate(self) -> None:
        def bad(flag: str, msg: str) -> GraphkitError:
            return GraphkitError(msg, key=flag)

        if self.student not in KINDS:
            raise bad("--student", f"unknown student '{self.student}'; choices: {', '.join(KINDS)}.")
        if self.student == "lm" and not self.lm_model:
            raise GraphkitError("--student lm needs --lm-model (a Hugging Face model folder to start from).",
                                key="--lm-model")
        if self.lm_pooling not in POOLINGS:
            raise bad("--lm-pooling", f"unknown pooling '{self.lm_pooling}'; choices: {', '.join(POOLINGS)}.")
        for flag, value in (("--num-epochs", self.num_epochs), ("--batch-size", self.batch_size),
                            ("--hidden-size", self.hidden_size), ("--num-layers", self.num_layers)):
            if value < 1:
                raise bad(flag, f"{flag} must be >= 1, got {value}.")
        if self.lr is not None and not self.lr > 0:
            raise bad("--lr", f"--lr must be > 0, got {self.lr}.")
        if not self.temperature > 0:
            raise bad("--temperature", f"--temperature must be > 0, got {self.temperature}.")
        if self.soft_label_weight < 0:
            raise bad("--soft-label-weight", f"--soft-label-weight must be >= 0, got {self.soft_label_weight}.")
        if not 0 < self.val_fraction < 1:
            raise bad("val_fraction", f"val_fraction must be in (0, 1), got {self.val_fraction}.")


def distill(graph: Graph, teacher_path: str, save_path: str, cfg: DistillConfig) -> dict[str, Any]:
    """Train the student(s) and write the student folder; returns the contents of ``distill_metrics.json``."""
    cfg.validate()
    t0 = time.perf_counter()
    teacher = load_teacher(graph, teacher_path)
    ntypes = list(dict.fromkeys(cfg.ntypes or default_ntypes(teacher, graph, cfg.student)))
    features = {t: mlp_features(graph, t, teacher.store.features) if cfg.student == "mlp" else token_features(graph, t)
                for t in ntypes}
    tasks = {t: teacher.node_task(t) for t in ntypes}
    task = next((k for k in tasks.values() if k is not None), None)
    head = head_spec(task, graph) if task is not None else None
    if not cfg.distill and any(k is None for k in tasks.values()):
        missing = ", ".join(t for t, k in tasks.items() if k is None)
        raise GraphkitError(f"--no-distill trains on a node task's labels, and the teacher has no node task on "
                            f"{missing}.", key="--ntype", hint="Give --ntype the teacher's node-task target type.")
    # the output folder is checked (and a temporary one created) before any training
    with atomic_output_dir(save_path, markers=(STUDENT_FILE,)) as tmp:
        targets = teacher.embeddings(graph, ntypes, cfg.eval_batch_size) if cfg.distill else None
        emb_dim = int(next(iter(targets.values())).shape[1]) if targets else teacher.emb_dim
        torch.manual_seed(cfg.seed)
        decoder = _decoder(teacher, task, emb_dim, cfg.distill)
        opts = FitOptions(num_epochs=cfg.num_epochs, lr=cfg.lr or DEFAULT_LR[cfg.student],
                          batch_size=cfg.batch_size, eval_batch_size=cfg.eval_batch_size,
                          soft_label_weight=cfg.soft_label_weight, temperature=cfg.temperature, seed=cfg.seed,
                          device="cuda" if torch.cuda.is_available() else "cpu")
        types: dict[str, TypeSpec] = {}
        nets: dict[str, nn.Module] = {}
        per_type: dict[str, dict[str, Any]] = {}
        for t in ntypes:
            inputs = StudentInputs(graph, cfg.student, t, features[t])
            ts, net = _new_student(cfg, inputs, emb_dim)
            t_task = tasks[t]
            data = _fit_data(graph, cfg, inputs, head if t_task is not None else None, t_task, targets, decoder)
            t_decoder = decoder if data.head is not None else None
            if cfg.soft_label_weight > 0 and data.teacher_out is None and cfg.distill:
                log.warning("node type '%s' has no node task in the teacher: embeddings only, no soft labels", t)
            res = fit_student(net, t_decoder, data, opts, desc=f"distill {t}",
                              supervised=t_task.loss_fn if t_task is not None and not cfg.distill else None)
            ts.best_epoch = res.best_epoch
            types[t], nets[t] = ts, net
            per_type[t] = _type_report(net, t_decoder, data, res, opts, graph)
        spec = StudentSpec(kind=cfg.student, distilled=cfg.distill, emb_dim=emb_dim, types=types, head=head,
                           teacher_path=teacher.path, teacher_config=teacher.cfg.to_json())
        metrics = _summary(cfg, spec, per_type, time.perf_counter() - t0)
        write_student(tmp, spec, *Student(spec, nets, decoder).state(), metrics)
    log.info("student written to %s", save_path)
    return metrics


def _decoder(teacher: Teacher, task: Optional[NodeTask], emb_dim: int, distilled: bool) -> Optional[nn.Module]:
    """The teacher's frozen decoder (distillation), or a fresh one of the same kind (the baseline)."""
    if task is None:
        return None
    return teacher.decoder(task) if distilled else task.decoder(emb_dim)


def _new_student(cfg: DistillConfig, inputs: StudentInputs, emb_dim: int) -> tuple[TypeSpec, nn.Module]:
    """A fresh network for ``inputs``' node type (an MLP's input scaler fitted on all of the type's nodes)."""
    features = list(inputs.features)
    if cfg.student == "mlp":
        ts = TypeSpec(features=features, in_dim=inputs.dim, hidden=cfg.hidden_size, num_layers=cfg.num_layers,
                      dropout=cfg.dropout)
        net = build_network("mlp", ts, emb_dim)
        assert isinstance(net, MLPStudent)
        n, bs = inputs.num_nodes, cfg.eval_batch_size
        batches = (inputs.fetch(np.arange(i, min(i + bs, n))) for i in range(0, n, bs))
        net.fit_scaler(x for x in batches if isinstance(x, torch.Tensor))
        return ts, net
    from graphkit.lm.loading import load_model

    lm = load_model(str(cfg.lm_model), key="--lm-model")
    ts = TypeSpec(features=features, lm_config=lm.config.to_dict(), pooling=cfg.lm_pooling)
    return ts, build_network("lm", ts, emb_dim, lm=lm)


def _fit_data(graph: Graph, cfg: DistillConfig, inputs: StudentInputs, head: Optional[HeadSpec],
              task: Optional[NodeTask], targets: Optional[dict[str, torch.Tensor]],
              decoder: Optional[nn.Module]) -> FitData:
    """Training/validation nodes: the task's val/test nodes are held out; without a task, a random share."""
    n = inputs.num_nodes
    target = targets[inputs.ntype] if targets is not None else None
    if task is None:
        order = np.random.default_rng(cfg.seed).permutation(n)
        n_val = max(1, round(cfg.val_fraction * n))
        return FitData(inputs, np.sort(order[n_val:]), np.sort(order[:n_val]), targets=target)
    assert head is not None
    held = np.zeros(n, dtype=bool)
    held[task.ids["val"]] = held[task.ids["test"]] = True
    train = np.flatnonzero(~held) if cfg.distill else task.ids["train"]  # distillation needs no labels
    teacher_out = None
    if target is not None and decoder is not None:  # the teacher's soft labels (trained on if weighted)
        with torch.no_grad():
            teacher_out = heads.outputs(decoder, target, head)
    labels = heads.targets(graph, head, np.arange(n))
    return FitData(inputs, train, task.ids["val"], targets=target, teacher_out=teacher_out, labels=labels, head=head)


def _type_report(net: nn.Module, decoder: Optional[nn.Module], data: FitData, res: FitResult, opts: FitOptions,
                 graph: Graph) -> dict[str, Any]:
    """Validation/test scores of the best epoch, the teacher's own scores and the student-teacher agreement."""
    rep: dict[str, Any] = {"best_epoch": res.best_epoch, "num_train_nodes": len(data.train_ids),
                           "num_val_nodes": len(data.val_ids), "initial_val": res.initial, "val": res.best,
                           "train_time_s": res.seconds, "history": res.history}
    if data.head is None:
        return rep
    test_ids = heads.split_ids(graph, data.head)["test"]
    # fit_student leaves the student and the decoder on the CPU (opts.device is where they trained)
    rep["test"] = evaluate(net, decoder, data, test_ids, replace(opts, device="cpu"))
    rep["num_test_nodes"] = len(test_ids)
    if data.targets is not None and decoder is not None:
        emb = embed(net, data.inputs, test_ids, opts.eval_batch_size)
        with torch.no_grad():
            t_out = {s: heads.outputs(decoder, data.targets[torch.from_numpy(ids)], data.head)
                     for s, ids in (("val", data.val_ids), ("test", test_ids))}
            s_out = heads.outputs(decoder, emb, data.head)
        rep["teacher_val"] = heads.score(data.head, t_out["val"], data.labels[torch.from_numpy(data.val_ids)])
        rep["teacher_test"] = heads.score(data.head, t_out["test"], data.labels[torch.from_numpy(test_ids)])
        if not data.head.regression and len(test_ids):
            same = heads.predictions(data.head, s_out)[0] == heads.predictions(data.head, t_out["test"])[0]
            rep["test_agreement_with_teacher"] = float(np.mean(same.reshape(len(test_ids), -1).all(1)))
    return rep


def _summary(cfg: DistillConfig, spec: StudentSpec, per_type: dict[str, dict], seconds: float) -> dict[str, Any]:
    """``distill_metrics.json``: the node task's numbers at the top (as ``metrics.json``), per-type detail below."""
    head = spec.head
    main = per_type[head.ntype] if head is not None else {}
    return {
        "mode": "distilled-student" if cfg.distill else "no-distill-student",
        "student": cfg.student,
        "teacher": spec.teacher_path,
        "task": head.name if head else None,
        "ntype": head.ntype if head else None,
        "metric": head.metrics[0] if head else "embedding_mse",
        "best_epoch": main.get("best_epoch"),
        "val": main.get("val", {}).get("metrics", {}),
        "test": main.get("test", {}).get("metrics", {}),
        "teacher_val": main.get("teacher_val"),
        "teacher_test": main.get("teacher_test"),
        "test_agreement_with_teacher": main.get("test_agreement_with_teacher"),
        "soft_label_weight": cfg.soft_label_weight if cfg.distill else None,
        "temperature": cfg.temperature if cfg.distill and cfg.soft_label_weight > 0 else None,
        "types": per_type,
        "total_time_s": seconds,
        "seed": cfg.seed,
    }
