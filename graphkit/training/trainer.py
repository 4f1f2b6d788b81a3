"""The one training loop, for every task and combination of tasks, in one process or many.

Per step: each task's next mini-batch -> the weighted sum of their losses
(one ``forward`` of the step module, DDP-wrapped in a multi-process job) ->
backward (DDP all-reduces dense gradients) -> sparse embedding gradients
synchronised -> gradient clipping -> optimizer steps -> zero_grad. Per epoch:
evaluate on validation and test (every rank its share, metrics on the union),
keep the best epoch (by the first task's first metric on validation),
checkpoint, early-stop. At the end: ``metrics.json``, ``training_curves.png``
and TensorBoard logs next to the model (rank 0 writes them).

The same code runs as one process (no process group) or under torchrun /
a PyTorchJob: ranks train on equal shares of the training seeds (the same
number of steps), start from the same weights (same seed; DDP broadcasts),
and draw dropout from ``seed + rank``. docs/distributed.md has the design.
"""

from __future__ import annotations

import logging
import math
import time
from functools import partial
from typing import Any, Iterator, Optional, Sequence

import numba
import torch
from torch import nn
from tqdm.auto import tqdm

from graphkit.distributed.collectives import all_gather_objects, all_reduce_mean
from graphkit.distributed.context import DistContext, current, init_distributed
from graphkit.distributed.ddp import data_parallel, sync_buffers
from graphkit.distributed.sparse_sync import broadcast_parameters, sync_sparse_gradients
from graphkit.errors import ConfigError
from graphkit.loading.features import FeatureStore
from graphkit.loading.pipeline import MiniBatch
from graphkit.storage.graph import Graph
from graphkit.training.builder import build_model, edge_feature_names, feature_names
from graphkit.training.checkpoint import load_checkpoint, load_model_state
from graphkit.training.checkpointer import Checkpointer, Run
from graphkit.training.config import TrainConfig
from graphkit.training.metrics import Metric
from graphkit.training.optimizers import build_optimizers
from graphkit.training.report import TensorBoard, peak_rss_mb, plot_curves, write_metrics
from graphkit.training.tasks import Task, make_task

log = logging.getLogger(__name__)

__all__ = ["Run", "Trainer", "setup"]


def setup(graph: Graph, cfg: TrainConfig) -> tuple[FeatureStore, list[Task], torch.nn.Module]:
    # a partitioned graph brings a store that fetches other partitions' rows
    make_store = getattr(graph, "feature_store", None) or partial(FeatureStore, graph)
    store = make_store(feature_names(cfg, graph), construct=cfg.construct_feat_ntype or (),
                       edge_features=edge_feature_names(cfg, graph))
    if cfg.control_variate and any(t.kind not in ("node_classification", "node_regression") for t in cfg.tasks):
        raise ConfigError("control_variate is implemented for node tasks only.", key="control_variate")
    tasks = [make_task(t, cfg, graph, store) for t in cfg.tasks]
    return store, tasks, build_model(cfg, graph, store, tasks)


def _cycle(loader: Any, epoch: int) -> Iterator:
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 10_000  # a fresh shuffle when a short task's loader wraps around


class Trainer:
    """Trains ``cfg``'s tasks on ``graph``; ``ctx`` says which process of the job this is and where to
    compute (default: the job's :func:`~graphkit.distributed.context.current` context under torchrun, else
    one process on ``cfg.device``, so ``device: auto`` trains on a GPU when there is one)."""

    def __init__(self, graph: Graph, cfg: TrainConfig, save_path: Optional[str] = None,
                 ctx: Optional[DistContext] = None) -> None:
        self.graph, self.cfg, self.save_path = graph, cfg, save_path
        self.ctx = ctx or (current() if current().distributed else init_distributed(str(cfg.device)))
        self.device = torch.device(self.ctx.device)
        self.seed = int(cfg.seed)
        torch.manual_seed(self.seed)  # the same initial weights on every rank
        self.store, self.tasks, self.model = setup(graph, cfg)
        self.model.to(self.device)
        for t in self.tasks:
            t.to(self.device)
        self.optimizers = build_optimizers(self.model, cfg)
        if self.ctx.distributed:
            broadcast_parameters(self.model.input.sparse_parameters(), self.ctx)
            torch.manual_seed(self.seed + self.ctx.rank)  # each rank its own dropout stream
        self.run = Run()
        self.main: Metric = self.tasks[0].main_metric
        self.checkpoints = Checkpointer(save_path, self.model, self.optimizers, cfg.to_json(), self.ctx,
                                        self.main.higher_is_better, int(cfg.topk_model_to_save), self.seed)

    # --- checkpoints --------------------------------------------------------
    def restore(self, path: str, optimizer: bool) -> None:
        """Start from a trained model (``--restore-model-path``); every rank reads ``path``."""
        ck = load_checkpoint(path)
        load_model_state(self.model, ck["model"], path)
        if optimizer:
            for k, o in self.optimizers.items():
                if k in ck["optimizers"]:
                    o.load_state_dict(ck["optimizers"][k])
        log.info("restored model%s from %s", " and optimizer" if optimizer else "", path)

    def resume_if_possible(self) -> bool:
        """Continue from ``<save>/checkpoints/last.pt`` if it exists (exact resume, mid-epoch too)."""
        run = self.checkpoints.resume()
        if run is None:
            return False
        self.run = run
        return True

    # --- the loop -------------------------------------------------------------
    def _step_loss(self, model: nn.Module, batches: Sequence[MiniBatch]) -> torch.Tensor:
        """The step's loss: each task's loss on its batch, weighted and summed (the step module's forward)."""
        return sum(t.weight * t.loss(model, mb) for t, mb in zip(self.tasks, batches))  # type: ignore[return-value]

    def evaluate(self) -> tuple[dict, dict]:
        """Every task's metrics on validation and test (a collective: every rank calls it, all get the same)."""
        sync_buffers(self.model, self.ctx)  # batch-norm statistics: rank 0's, the ones model.pt holds
        self.model.eval()
        val = {t.name: t.evaluate(self.model, "val") for t in self.tasks}
        test = {t.name: t.evaluate(self.model, "test") for t in self.tasks}
        return val, test

    def _should_stop(self) -> bool:
        cfg = self.cfg
        vals = [h["val"][self.tasks[0].name][self.main.name] for h in self.run.history if "val" in h]
        rounds = int(cfg.early_stop_rounds)
        if not cfg.use_early_stop or len(vals) <= int(cfg.early_stop_burnin_rounds) + rounds:
            return False
        sign = 1 if self.main.higher_is_better else -1
        recent = [sign * v for v in vals[-rounds - 1:]]
        if cfg.early_stop_strategy == "consecutive_increase":
            return all(recent[i + 1] <= recent[i] for i in range(rounds))
        return recent[-1] <= sum(recent[:-1]) / rounds

    def fit(self, max_steps: Optional[int] = None) -> dict:
        """Train to the end (or early stop) and return the run's metrics (``metrics.json``).

        ``max_steps``: stop after that many optimizer steps of this call, with
        no evaluation and no results written (a time-boxed slice of a run,
        continued later with :meth:`resume_if_possible` from its last
        checkpoint); returns ``{"stopped_at": [epoch, step]}`` then.
        """
        cfg, ctx = self.cfg, self.ctx
        t_start = time.perf_counter()
        loaders = [t.train_batches(self.seed) for t in self.tasks]
        steps = max(len(ld) for ld in loaders)
        tb = TensorBoard(self.save_path if ctx.is_main else None)
        numba.set_num_threads(1)  # the sampler thread must not fight torch for the cores
        dense = self.model.dense_parameters()
        sparse = self.model.input.sparse_parameters()
        step_module = data_parallel(self.model, self._step_loss, ctx, exclude=sparse)
        every = int(cfg.save_model_frequency)
        done = 0
        log.info("%d steps per epoch on %s%s", steps, self.device,
                 f", data parallel over {ctx.world_size} processes" if ctx.distributed else "")
        for epoch in range(self.run.epoch, int(cfg.num_epochs)):
            self.model.train()
            for m in self.model.modules():  # e.g. an LM input encoder frozen for the first epochs
                if hasattr(m, "set_epoch"):
                    m.set_epoch(epoch)
            t0 = time.perf_counter() - self.run.step_time
            iters = [_cycle(ld, epoch) for ld in loaders]
            first = self.run.step  # > 0 when resuming mid-epoch: skip the batches already trained on
            for it in iters:
                for _ in range(first):
                    next(it)
            total = self.run.step_losses[ctx.rank] if len(self.run.step_losses) == ctx.world_size else 0.0
            for n in tqdm(range(first + 1, steps + 1), desc=f"epoch {epoch}", unit="batch", leave=False,
                          initial=first, total=steps, disable=not (ctx.is_main and log.isEnabledFor(logging.INFO))):
                batches = [next(it) for it in iters]
                if self.device.type != "cpu":
                    batches = [mb.to(self.device) for mb in batches]
                loss = step_module(batches)
                loss.backward()  # DDP all-reduces the dense gradients here
                sync_sparse_gradients(sparse, ctx)
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(dense, float(cfg.max_grad_norm), float(cfg.grad_norm_type))
                for o in self.optimizers.values():
                    o.step()
                for o in self.optimizers.values():
                    o.zero_grad(set_to_none=True)
                total += float(loss.detach())
                self.run.global_step += 1
                done += 1
                if every > 0 and self.run.global_step % every == 0 and n < steps:
                    self.run.step, self.run.step_time = n, time.perf_counter() - t0
                    self.run.step_losses = all_gather_objects(total, ctx)
                    self.checkpoints.save_step(self.run)
                if max_steps is not None and done >= max_steps:
                    for it in iters:
                        it.close()
                    tb.close()
                    return {"stopped_at": [epoch, n]}
            for it in iters:
                it.close()
            self.run.step, self.run.step_losses, self.run.step_time = 0, [], 0.0
            self.run.epoch_times.append(time.perf_counter() - t0)
            entry: dict[str, Any] = {"epoch": epoch, "loss": all_reduce_mean(total / max(steps, 1), ctx)}
            tb.scalar("train/loss", entry["loss"], epoch)
            main_val = None
            if not cfg.no_validation:
                t1 = time.perf_counter()
                val, test = self.evaluate()
                self.run.eval_times.append(time.perf_counter() - t1)
                entry["val"], entry["test"] = val, test
                main_val = val[self.tasks[0].name][self.main.name]
                for split, res in (("val", val), ("test", test)):
                    for task, ms in res.items():
                        for m, v in ms.items():
                            tb.scalar(f"{split}/{task}/{m}", v, epoch)
                if math.isnan(Metric.scalar(main_val)):  # no validation rows: the last epoch is the model
                    if self.run.best_epoch < 0 and ctx.is_main:
                        log.warning("task %s has no validation split: keeping the last epoch's model (no model "
                                    "selection)", self.tasks[0].name)
                    main_val = None
                    self.run.best_epoch, self.run.best_val_metrics, self.run.best_test_metrics = epoch, val, test
                elif self.main.is_better(main_val, self.run.best_val):
                    self.run.best_val, self.run.best_epoch = main_val, epoch
                    self.run.best_val_metrics, self.run.best_test_metrics = val, test
            else:
                sync_buffers(self.model, ctx)
                self.run.best_epoch = epoch
            self.run.history.append(entry)
            self.run.epoch = epoch + 1
            if ctx.is_main:
                log.info("epoch %d: loss %.4f, %.2fs%s", epoch, entry["loss"], self.run.epoch_times[-1],
                         f"; val {self.main.name} {main_val:.4f}, test "
                         f"{entry['test'][self.tasks[0].name][self.main.name]:.4f}" if main_val is not None else "")
            self.checkpoints.save_epoch(self.run, epoch, main_val)
            if self._should_stop():
                if ctx.is_main:
                    log.info("early stop after epoch %d", epoch)
                break
        tb.close()
        return self._finish(time.perf_counter() - t_start)

    def _finish(self, total: float) -> dict:
        first = self.tasks[0]
        single = len(self.tasks) == 1
        metrics = {
            "task": first.cfg.kind if single else "multi_task",
            "metric": self.main.name,
            "best_epoch": self.run.best_epoch,
            "val": self.run.best_val_metrics.get(first.name, {}) if single else self.run.best_val_metrics,
            "test": self.run.best_test_metrics.get(first.name, {}) if single else self.run.best_test_metrics,
            "epoch_times_s": self.run.epoch_times,
            "eval_times_s": self.run.eval_times,
            "total_time_s": total,
            "peak_rss_mb": peak_rss_mb(),
            "seed": self.seed,
            "tasks": [t.name for t in self.tasks],
            "history": self.run.history,
        }
        if self.save_path and self.ctx.is_main:
            write_metrics(self.save_path, metrics)
            plot_curves(self.save_path, self.run.history, first.name, self.main.name)
        self.ctx.barrier()
        return metrics
