"""The one training loop, for every task and combination of tasks.

Per step: the weighted sum of each task's loss on its next mini-batch ->
backward -> gradient clipping -> optimizer steps -> zero_grad. Per epoch:
evaluate on validation and test, keep the best epoch (by the first task's
first metric on validation), checkpoint, early-stop. At the end:
``metrics.json``, ``training_curves.png`` and TensorBoard logs next to the model.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import numba
import torch
from tqdm.auto import tqdm

from graphkit.errors import ConfigError
from graphkit.loading.features import FeatureStore
from graphkit.storage.graph import Graph
from graphkit.training.builder import build_model, edge_feature_names, feature_names
from graphkit.training.checkpoint import MODEL_FILE, load_checkpoint, save_checkpoint
from graphkit.training.config import TrainConfig
from graphkit.training.metrics import Metric
from graphkit.training.optimizers import build_optimizers
from graphkit.training.report import TensorBoard, peak_rss_mb, plot_curves, write_metrics
from graphkit.training.tasks import Task, make_task

log = logging.getLogger(__name__)


@dataclass
class Run:
    """Progress of a run, saved in checkpoints so a resumed run continues exactly."""

    epoch: int = 0  # next epoch to run
    best_epoch: int = -1
    best_val: Optional[float] = None
    history: list[dict] = field(default_factory=list)
    epoch_times: list[float] = field(default_factory=list)
    eval_times: list[float] = field(default_factory=list)
    best_val_metrics: dict = field(default_factory=dict)
    best_test_metrics: dict = field(default_factory=dict)
    topk: list[list] = field(default_factory=list)  # [val, epoch] of kept checkpoints


def setup(graph: Graph, cfg: TrainConfig) -> tuple[FeatureStore, list[Task], torch.nn.Module]:
    store = FeatureStore(graph, feature_names(cfg, graph), construct=cfg.construct_feat_ntype or (),
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
    def __init__(self, graph: Graph, cfg: TrainConfig, save_path: Optional[str] = None) -> None:
        self.graph, self.cfg, self.save_path = graph, cfg, save_path
        self.seed = int(cfg.seed)
        torch.manual_seed(self.seed)
        self.store, self.tasks, self.model = setup(graph, cfg)
        self.optimizers = build_optimizers(self.model, cfg)
        self.run = Run()
        self.main: Metric = self.tasks[0].main_metric

    # --- checkpoints --------------------------------------------------------
    def _ckpt_dir(self) -> str:
        assert self.save_path
        return os.path.join(self.save_path, "checkpoints")

    def restore(self, path: str, optimizer: bool) -> None:
        ck = load_checkpoint(path)
        self.model.load_state_dict(ck["model"])
        if optimizer:
            for k, o in self.optimizers.items():
                if k in ck["optimizers"]:
                    o.load_state_dict(ck["optimizers"][k])
        log.info("restored model%s from %s", " and optimizer" if optimizer else "", path)

    def resume_if_possible(self) -> bool:
        """Continue from ``<save>/checkpoints/last.pt`` if it exists (exact resume)."""
        if not self.save_path:
            return False
        last = os.path.join(self._ckpt_dir(), "last.pt")
        if not os.path.exists(last):
            return False
        ck = load_checkpoint(last)
        self.model.load_state_dict(ck["model"])
        for k, o in self.optimizers.items():
            o.load_state_dict(ck["optimizers"][k])
        torch.set_rng_state(ck["torch_rng"])
        self.run = Run(**ck["state"])
        log.info("resuming from %s at epoch %d", last, self.run.epoch)
        return True

    def _save(self, epoch: int, val: Optional[float]) -> None:
        if not self.save_path:
            return
        d = self._ckpt_dir()
        cfg = self.cfg.to_json()
        save_checkpoint(os.path.join(d, f"epoch-{epoch}.pt"), self.model, self.optimizers, cfg, epoch,
                        self.run.__dict__)
        if val is not None and not math.isnan(val):
            self.run.topk.append([val, epoch])
            self.run.topk.sort(key=lambda x: -x[0] if self.main.higher_is_better else x[0])
        keep = {e for _, e in self.run.topk[: max(1, int(self.cfg.topk_model_to_save))]}
        for _, e in self.run.topk[len(keep):]:
            p = os.path.join(d, f"epoch-{e}.pt")
            if os.path.exists(p) and e != epoch:
                os.remove(p)
        self.run.topk = [x for x in self.run.topk if x[1] in keep]
        if epoch not in keep and val is not None:
            os.remove(os.path.join(d, f"epoch-{epoch}.pt"))
        if self.run.best_epoch == epoch or val is None:
            save_checkpoint(os.path.join(self.save_path, MODEL_FILE), self.model, {}, cfg, epoch)
        save_checkpoint(os.path.join(d, "last.pt"), self.model, self.optimizers, cfg, epoch, self.run.__dict__)

    # --- the loop -------------------------------------------------------------
    def _evaluate(self) -> tuple[dict, dict]:
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

    def fit(self) -> dict:
        cfg = self.cfg
        t_start = time.perf_counter()
        loaders = [t.train_batches(self.seed) for t in self.tasks]
        steps = max(len(ld) for ld in loaders)
        tb = TensorBoard(self.save_path)
        numba.set_num_threads(1)  # the sampler thread must not fight torch for the cores
        dense = self.model.dense_parameters()
        for epoch in range(self.run.epoch, int(cfg.num_epochs)):
            self.model.train()
            for m in self.model.modules():  # e.g. an LM input encoder frozen for the first epochs
                if hasattr(m, "set_epoch"):
                    m.set_epoch(epoch)
            t0 = time.perf_counter()
            iters = [_cycle(ld, epoch) for ld in loaders]
            total, n = 0.0, 0
            for _ in tqdm(range(steps), desc=f"epoch {epoch}", unit="batch", leave=False,
                          disable=not log.isEnabledFor(logging.INFO)):
                loss = sum(t.weight * t.loss(self.model, next(it)) for t, it in zip(self.tasks, iters))
                for o in self.optimizers.values():
                    o.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(dense, float(cfg.max_grad_norm), float(cfg.grad_norm_type))
                for o in self.optimizers.values():
                    o.step()
                total += float(loss.detach())
                n += 1
            for it in iters:
                it.close()
            self.run.epoch_times.append(time.perf_counter() - t0)
            entry: dict[str, Any] = {"epoch": epoch, "loss": total / max(n, 1)}
            tb.scalar("train/loss", entry["loss"], epoch)
            main_val = None
            if not cfg.no_validation:
                t1 = time.perf_counter()
                val, test = self._evaluate()
                self.run.eval_times.append(time.perf_counter() - t1)
                entry["val"], entry["test"] = val, test
                main_val = val[self.tasks[0].name][self.main.name]
                for split, res in (("val", val), ("test", test)):
                    for task, ms in res.items():
                        for m, v in ms.items():
                            tb.scalar(f"{split}/{task}/{m}", v, epoch)
                if self.main.is_better(main_val, self.run.best_val):
                    self.run.best_val, self.run.best_epoch = main_val, epoch
                    self.run.best_val_metrics, self.run.best_test_metrics = val, test
            else:
                self.run.best_epoch = epoch
            self.run.history.append(entry)
            self.run.epoch = epoch + 1
            log.info("epoch %d: loss %.4f, %.2fs%s", epoch, entry["loss"], self.run.epoch_times[-1],
                     f"; val {self.main.name} {main_val:.4f}, test "
                     f"{entry['test'][self.tasks[0].name][self.main.name]:.4f}" if main_val is not None else "")
            self._save(epoch, main_val)
            if self._should_stop():
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
        if self.save_path:
            write_metrics(self.save_path, metrics)
            plot_curves(self.save_path, self.run.history, first.name, self.main.name)
        return metrics
