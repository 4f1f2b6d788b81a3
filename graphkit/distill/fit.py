"""The training loop of one node type's student: epochs of mini-batches, validation, the best epoch kept.

Distillation (``targets`` given): the loss of a batch is the MSE between the
student's and the teacher's embeddings, plus ``soft_label_weight`` times the
soft-label loss through the frozen teacher decoder. The ``--no-distill``
baseline (``targets`` absent): the task's supervised loss on the labels,
through a decoder trained alongside. After every epoch the student is scored
on the validation nodes; the best epoch is the best main task metric when the
type has a node task, else the lowest validation embedding MSE.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from graphkit.distill import head as heads
from graphkit.distill.inputs import StudentInputs
from graphkit.distill.losses import embedding_mse, relative_mse, soft_label_loss
from graphkit.distill.spec import HeadSpec
from graphkit.distill.students import to_device
from graphkit.lm.device import autocast, resolve_precision

log = logging.getLogger(__name__)


@dataclass
class FitOptions:
    num_epochs: int
    lr: float
    batch_size: int
    eval_batch_size: int
    soft_label_weight: float
    temperature: float
    seed: int
    device: str = "cpu"


@dataclass
class FitData:
    """One node type's inputs and targets. Tensors cover every node of the type (indexed by node ID)."""

    inputs: StudentInputs
    train_ids: np.ndarray
    val_ids: np.ndarray
    targets: Optional[torch.Tensor] = None  # teacher embeddings (distillation)
    teacher_out: Optional[torch.Tensor] = None  # teacher decoder outputs (soft labels; also scored on validation)
    labels: Optional[torch.Tensor] = None  # the node task's labels (scoring; the baseline's targets)
    head: Optional[HeadSpec] = None


@dataclass
class FitResult:
    best_epoch: int
    initial: dict[str, Any]  # validation scores before training
    best: dict[str, Any]  # validation scores of the best epoch
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


@torch.no_grad()
def embed(net: nn.Module, inputs: StudentInputs, ids: np.ndarray, batch_size: int, device: str = "cpu",
          desc: Optional[str] = None) -> torch.Tensor:
    """The student's embeddings of nodes ``ids`` (eval mode, batched; returned on the CPU)."""
    was = net.training
    net.eval()
    out = []
    starts = range(0, len(ids), batch_size)
    for start in tqdm(starts, desc=desc or "student", unit="batch", leave=False,
                      disable=len(starts) < 2 or not log.isEnabledFor(logging.INFO)):
        x = to_device(inputs.fetch(ids[start:start + batch_size]), device)
        with _autocast(device, inputs.kind):
            out.append(net(x).float().cpu())
    net.train(was)
    width = int(out[0].shape[1]) if out else 0
    return torch.cat(out) if out else torch.zeros(0, width)


def _autocast(device: str, kind: str) -> Any:
    """An LM student runs as co-training's LM does: bf16 autocast on GPUs that have bfloat16, else fp32."""
    if kind != "lm":
        return contextlib.nullcontext()
    dev = torch.device(device)
    return autocast(dev, resolve_precision("auto", dev, fp16=False))


def evaluate(net: nn.Module, decoder: Optional[nn.Module], data: FitData, ids: np.ndarray, opts: FitOptions
             ) -> dict[str, Any]:
    """Embedding MSE to the teacher (when distilling) and the task metrics (when the type has a task)."""
    if len(ids) == 0:  # e.g. a task without validation nodes: nothing to score (metrics are nan)
        return {"metrics": heads.score(data.head, torch.zeros(0), torch.zeros(0))} if data.head is not None else {}
    emb = embed(net, data.inputs, ids, opts.eval_batch_size, opts.device)
    res: dict[str, Any] = {}
    t = torch.from_numpy(ids)
    if data.targets is not None and len(ids):
        res["embedding_mse"] = float(embedding_mse(emb, data.targets[t]))
        res["relative_mse"] = relative_mse(emb, data.targets[t])
    if decoder is not None and data.head is not None and data.labels is not None:
        was = decoder.training
        with torch.no_grad():
            out = heads.outputs(decoder.eval(), emb.to(opts.device), data.head).float().cpu()
        decoder.train(was)
        res["metrics"] = heads.score(data.head, out, data.labels[t])
        if data.teacher_out is not None and len(ids):
            res["soft_label_loss"] = float(soft_label_loss(out, data.teacher_out[t], data.head, opts.temperature))
    return res


def _better(new: dict[str, Any], best: Optional[dict[str, Any]], head: Optional[HeadSpec]) -> bool:
    if best is None:
        return True
    if head is not None and "metrics" in new:
        metric = heads.metrics(head)[0]
        return metric.is_better(new["metrics"][metric.name], best["metrics"][metric.name])
    v = new.get("embedding_mse", math.nan)
    return not math.isnan(v) and v < best.get("embedding_mse", math.inf)


def _batch_loss(net: nn.Module, decoder: Optional[nn.Module], data: FitData, ids: np.ndarray, opts: FitOptions,
                supervised: Optional[nn.Module]) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss to minimise, and its parts (the soft-label loss is reported even when its weight is 0)."""
    t = torch.from_numpy(ids)
    with _autocast(opts.device, data.inputs.kind):
        emb = net(to_device(data.inputs.fetch(ids), opts.device)).float()
    if data.targets is None:  # the baseline: labels only
        assert decoder is not None and supervised is not None and data.head is not None and data.labels is not None
        loss = supervised(heads.outputs(decoder, emb, data.head), data.labels[t].to(opts.device))
        return loss, {"supervised_loss": float(loss.detach())}
    loss = embedding_mse(emb, data.targets[t].to(opts.device))
    parts = {"embedding_mse": float(loss.detach())}
    if data.teacher_out is not None and decoder is not None and data.head is not None:
        with torch.set_grad_enabled(opts.soft_label_weight > 0):
            soft = soft_label_loss(heads.outputs(decoder, emb, data.head), data.teacher_out[t].to(opts.device),
                                   data.head, opts.temperature)
        parts["soft_label_loss"] = float(soft.detach())
        if opts.soft_label_weight > 0:
            loss = loss + opts.soft_label_weight * soft
    return loss, parts


def fit_student(net: nn.Module, decoder: Optional[nn.Module], data: FitData, opts: FitOptions,
                supervised: Optional[nn.Module] = None, desc: str = "distill") -> FitResult:
    """Train ``net`` (and, for the baseline, ``decoder``) in place; leaves the best epoch's weights loaded."""
    t0 = time.perf_counter()
    net.to(opts.device)
    if decoder is not None:
        decoder.to(opts.device)
    if supervised is not None:
        supervised.to(opts.device)  # a loss may hold class weights
    params = list(net.parameters()) + ([p for p in decoder.parameters() if p.requires_grad] if decoder else [])
    optim = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(opts.seed)
    initial = evaluate(net, decoder, data, data.val_ids, opts)
    result = FitResult(best_epoch=-1, initial=initial, best=initial)
    best_state: Optional[tuple[dict, Optional[dict]]] = None
    best: Optional[dict] = None
    log.info("%s: %d training and %d validation nodes; before training: %s", desc, len(data.train_ids),
             len(data.val_ids), _fmt(initial))
    for epoch in tqdm(range(opts.num_epochs), desc=desc, unit="epoch", disable=not log.isEnabledFor(logging.INFO)):
        net.train()
        if decoder is not None and supervised is not None:
            decoder.train()
        order = data.train_ids[torch.randperm(len(data.train_ids), generator=gen).numpy()]
        total, n = 0.0, 0
        sums: dict[str, float] = {}
        for start in range(0, len(order), opts.batch_size):
            loss, parts = _batch_loss(net, decoder, data, order[start:start + opts.batch_size], opts, supervised)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += float(loss.detach())
            n += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        val = evaluate(net, decoder, data, data.val_ids, opts)
        train = {k: v / max(n, 1) for k, v in sums.items()}
        result.history.append({"epoch": epoch, "loss": total / max(n, 1), "train": train, "val": val})
        if _better(val, best, data.head):
            best, result.best_epoch, result.best = val, epoch, val
            best_state = (_cpu_state(net), _cpu_state(decoder) if decoder is not None and supervised else None)
        log.info("%s epoch %d: loss %.4f; val %s", desc, epoch, total / max(n, 1), _fmt(val))
    if best_state is None:  # no validation score ever counted (no validation nodes): keep the last epoch
        log.warning("%s: no validation nodes to choose an epoch by; keeping the last one", desc)
        result.best_epoch, result.best = opts.num_epochs - 1, result.history[-1]["val"]
    else:
        net.load_state_dict(best_state[0])
        if best_state[1] is not None and decoder is not None:
            decoder.load_state_dict(best_state[1])
    net.cpu().eval()
    if decoder is not None:
        decoder.cpu().eval()
    result.seconds = time.perf_counter() - t0
    return result


def _cpu_state(m: nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}


def _fmt(res: dict[str, Any]) -> str:
    parts = [f"{k} {v:.4f}" for k, v in res.items() if isinstance(v, float)]
    parts += [f"{k} {v:.4f}" for k, v in res.get("metrics", {}).items()]
    return ", ".join(parts) or "-"
