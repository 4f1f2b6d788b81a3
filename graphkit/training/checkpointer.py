"""Where a run stands (:class:`Run`) and how it is saved and resumed, in one process or many.

Files under ``<save>/``: ``model.pt`` (the best epoch's model), and in
``checkpoints/`` the ``topk_model_to_save`` best epochs (``epoch-<e>.pt``) and
``last.pt`` — model, optimizers, config, :class:`Run` and every rank's RNG
state — rewritten at every epoch end and, with ``save_model_frequency: N``,
every ``N`` optimizer steps. ``graphkit train --resume`` continues from
``last.pt`` exactly: mid-epoch too (the loaders skip the batches already
trained on), and with the dropout stream of each rank.

In a multi-process job the bookkeeping runs on every rank (it is
deterministic: every rank holds the same validation metrics), only rank 0
writes, and every rank waits at a barrier until the files are in place. To
resume, rank 0 reads ``last.pt`` and broadcasts it, so the other ranks need
not see the save folder (a pod on another machine).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from graphkit.distributed.collectives import all_gather_objects, broadcast_object
from graphkit.distributed.context import DistContext
from graphkit.sampling.neighbor import mix_seed
from graphkit.training.checkpoint import (
    MODEL_FILE,
    checkpoint_payload,
    load_checkpoint,
    load_model_state,
    rng_state,
    set_rng_state,
    write_checkpoint,
)

log = logging.getLogger(__name__)
LAST = "last.pt"


@dataclass
class Run:
    """Progress of a run, saved in checkpoints so a resumed run continues exactly."""

    epoch: int = 0  # next epoch to run (or the one in progress, when step > 0)
    best_epoch: int = -1
    best_val: Optional[float] = None
    history: list[dict] = field(default_factory=list)
    epoch_times: list[float] = field(default_factory=list)
    eval_times: list[float] = field(default_factory=list)
    best_val_metrics: dict = field(default_factory=dict)
    best_test_metrics: dict = field(default_factory=dict)
    topk: list[list] = field(default_factory=list)  # [val, epoch] of kept checkpoints
    global_step: int = 0  # optimizer steps since the start
    step: int = 0  # steps of ``epoch`` already done (a mid-epoch checkpoint)
    step_losses: list[float] = field(default_factory=list)  # their summed loss, per rank
    step_time: float = 0.0  # and their time


class Checkpointer:
    """Saves and restores a model, its optimizers and a :class:`Run` under ``<save_path>``."""

    def __init__(self, save_path: Optional[str], model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                 config: dict, ctx: DistContext, higher_is_better: bool, topk: int, seed: int) -> None:
        self.save_path, self.model, self.optimizers, self.config = save_path, model, optimizers, config
        self.ctx, self.higher_is_better, self.topk, self.seed = ctx, higher_is_better, max(1, topk), seed

    @property
    def folder(self) -> str:
        assert self.save_path
        return os.path.join(self.save_path, "checkpoints")

    # --- saving ----------------------------------------------------------------
    def save_epoch(self, run: Run, epoch: int, val: Optional[float]) -> None:
        """At the end of ``epoch`` (``val``: its main validation metric, None without validation): keep the
        epoch if it is among the top k, ``model.pt`` if it is the best, and ``last.pt``."""
        if not self.save_path:
            return
        if val is not None and not math.isnan(val):
            run.topk.append([val, epoch])
            run.topk.sort(key=lambda x: -x[0] if self.higher_is_better else x[0])
        keep = {e for _, e in run.topk[: self.topk]}
        dropped = [e for _, e in run.topk[len(keep):] if e != epoch]
        run.topk = [x for x in run.topk if x[1] in keep]
        full = self._payload(epoch, run)
        if self.ctx.is_main:
            d = self.folder
            if epoch in keep or val is None:
                write_checkpoint(os.path.join(d, f"epoch-{epoch}.pt"), full)
            for e in dropped:
                p = os.path.join(d, f"epoch-{e}.pt")
                if os.path.exists(p):
                    os.remove(p)
            if run.best_epoch == epoch or val is None:
                write_checkpoint(os.path.join(self.save_path, MODEL_FILE), {**full, "optimizers": {}, "state": {}})
            write_checkpoint(os.path.join(d, LAST), full)
        self.ctx.barrier()

    def save_step(self, run: Run) -> None:
        """Mid-epoch (``save_model_frequency``): ``last.pt`` only, with the steps done so far."""
        if not self.save_path:
            return
        full = self._payload(run.epoch, run)
        if self.ctx.is_main:
            write_checkpoint(os.path.join(self.folder, LAST), full)
        self.ctx.barrier()

    def _payload(self, epoch: int, run: Run) -> dict[str, Any]:
        """Built on every rank (state_dict of sharded tables is a collective); rank 0 writes it."""
        rng = all_gather_objects(rng_state(), self.ctx)
        return checkpoint_payload(self.model, self.optimizers, self.config, epoch, dict(run.__dict__), rng=rng)

    # --- resuming --------------------------------------------------------------
    def resume(self) -> Optional[Run]:
        """Load ``last.pt`` into the model and optimizers and restore this rank's RNG; the saved :class:`Run`,
        or None when there is no checkpoint (a fresh start)."""
        if not self.save_path:
            return None
        last = os.path.join(self.folder, LAST)
        ck = load_checkpoint(last) if self.ctx.is_main and os.path.exists(last) else None
        ck = broadcast_object(ck, self.ctx)
        if ck is None:
            return None
        load_model_state(self.model, ck["model"], last)
        for k, o in self.optimizers.items():
            o.load_state_dict(ck["optimizers"][k])
        run = Run(**ck["state"])
        self._restore_rng(ck, run)
        log.info("resuming from %s at epoch %d%s", last, run.epoch,
                 f", step {run.step}" if run.step else "")
        return run

    def _restore_rng(self, ck: dict[str, Any], run: Run) -> None:
        states = ck.get("rng") or [{"cpu": ck["torch_rng"]}]
        if len(states) == self.ctx.world_size:
            set_rng_state(states[self.ctx.rank])
            return
        # another world size than the run that saved: fresh per-rank dropout streams (quality is unaffected)
        log.warning("the checkpoint was written by %d process(es), this job has %d; dropout is "
                    "re-seeded, so the run is not bit-for-bit the uninterrupted one", len(states),
                    self.ctx.world_size)
        torch.manual_seed(int(mix_seed(self.seed, self.ctx.rank, run.global_step)))
