"""The one fine-tuning loop: AdamW, linear warmup and decay, clipping, mixed precision, best-epoch weights.

Per step: forward under autocast -> backward (scaled for fp16) -> unscale -> clip -> step ->
zero_grad -> scheduler step. Per epoch: evaluate on the validation split; the weights of the
epoch with the best ``objective.select_metric`` (higher is better) are kept in memory and
restored at the end (the last epoch's when there is no validation split).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from graphkit.lm.finetune.base import Objective
from graphkit.lm.finetune.text import NodeText

log = logging.getLogger(__name__)


@dataclass
class LoopOptions:
    epochs: int = 1
    batch_size: int = 32
    lr: float = 2e-5
    head_lr: Optional[float] = None  # the objective's head (e.g. a new classifier); None: lr
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # share of the steps with a linearly rising learning rate
    max_steps: Optional[int] = None  # stop after this many steps in all
    max_grad_norm: float = 1.0  # 0: no clipping
    eval_batch_size: int = 64
    seed: int = 0


@dataclass
class LoopResult:
    loss_per_step: list[float] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)  # epoch, train_loss, steps, val metrics, seconds
    best_epoch: int = -1
    steps: int = 0


def param_groups(modules: list[nn.Module], weight_decay: float, lr: Optional[float] = None) -> list[dict[str, Any]]:
    """Weight decay on matrices only; biases and normalisation weights (1-d) are not decayed.

    ``lr`` sets the groups' own learning rate (else the optimizer's).
    """
    decay, no_decay = [], []
    for m in modules:
        for p in m.parameters():
            if p.requires_grad:
                (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [{**g, "lr": lr} for g in groups] if lr is not None else groups


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rising linearly over ``warmup`` steps, then falling linearly to 0 at ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _state(modules: list[nn.Module]) -> list[dict[str, torch.Tensor]]:
    return [{k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()} for m in modules]


def run_loop(model: nn.Module, objective: Objective, text: NodeText, opts: LoopOptions) -> LoopResult:
    """Fine-tune ``model`` (and the objective's head) in place; see the module docstring."""
    head = objective.head()
    if head is not None:
        head.to(text.device)
    modules = [model] + ([head] if head is not None else [])
    groups = param_groups([model], opts.weight_decay)
    if head is not None:  # a new head learns at its own rate (it starts from random weights)
        groups += param_groups([head], opts.weight_decay, opts.head_lr)
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=opts.lr)
    per_epoch = math.ceil(objective.num_train() / opts.batch_size)
    total = per_epoch * opts.epochs
    if opts.max_steps is not None:
        total = min(total, opts.max_steps)
    sched = linear_warmup_decay(opt, int(opts.warmup_ratio * total), total)
    scaler = torch.amp.GradScaler("cuda", enabled=text.precision == "fp16" and text.device.type == "cuda")
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    rng = np.random.default_rng(opts.seed)
    torch.manual_seed(opts.seed)
    res = LoopResult()
    best: Optional[tuple[float, list[dict[str, torch.Tensor]]]] = None
    log.info("fine-tuning (%s) for %d epochs, %d steps of %d, lr %g%s", objective.mode, opts.epochs, total,
             opts.batch_size, opts.lr, f", head lr {opts.head_lr:g}" if head is not None and opts.head_lr else "")
    for epoch in range(1, opts.epochs + 1):
        if res.steps >= total:
            break
        t0 = time.perf_counter()
        for m in modules:
            m.train()
        losses = []
        bar = tqdm(objective.train_batches(rng, opts.batch_size), total=min(per_epoch, total - res.steps),
                   desc=f"lm-finetune epoch {epoch}", unit="batch")
        for batch in bar:
            loss = objective.loss(text, batch, rng)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            if opts.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, opts.max_grad_norm)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
            res.steps += 1
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if res.steps >= total:
                break
        bar.close()
        res.loss_per_step += losses
        row: dict[str, Any] = {"epoch": epoch, "steps": len(losses),
                               "train_loss": float(np.mean(losses)) if losses else float("nan")}
        if objective.has_split("val"):
            row["val"] = evaluate(objective, text, modules, "val", opts.eval_batch_size)
        row["seconds"] = time.perf_counter() - t0
        res.epochs.append(row)
        metric = objective.select_metric
        score = row["val"][metric] if metric and "val" in row else float(epoch)  # no validation: the last epoch
        is_best = best is None or score > best[0]
        if is_best:
            best = (score, _state(modules))
            res.best_epoch = epoch
        val = ", ".join(f"val {k} {v:.4f}" for k, v in row.get("val", {}).items() if k in ("accuracy", "mrr", "loss"))
        log.info("epoch %d: train loss %.4f%s%s, %.1f s", epoch, row["train_loss"], f", {val}" if val else "",
                 " (best)" if is_best and metric else "", row["seconds"])
    if best is not None and res.best_epoch != len(res.epochs):
        for m, state in zip(modules, best[1], strict=True):
            m.load_state_dict(state)
        log.info("kept the weights of epoch %d (best validation %s)", res.best_epoch, objective.select_metric)
    return res


@torch.no_grad()
def evaluate(objective: Objective, text: NodeText, modules: list[nn.Module], split: str,
             batch_size: int) -> dict[str, float]:
    """The objective's metrics on ``split``, with every module in eval mode."""
    for m in modules:
        m.eval()
    return objective.evaluate(text, split, batch_size)
