"""What a training run leaves next to its model: metrics.json, a PNG of the curves, TensorBoard logs."""

from __future__ import annotations

import json
import logging
import os
import resource
from typing import Any, Optional

log = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_metrics(path: str, metrics: dict[str, Any]) -> None:
    os.makedirs(path, exist_ok=True)
    tmp = os.path.join(path, "metrics.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1)
    os.replace(tmp, os.path.join(path, "metrics.json"))


def plot_curves(path: str, history: list[dict], task: str, metric: str) -> Optional[str]:
    """Training loss and validation/test metric per epoch, as ``training_curves.png``."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax1.plot(epochs, [h["loss"] for h in history], marker="o")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    for split in ("val", "test"):
        vals = [h.get(split, {}).get(task, {}).get(metric) for h in history]
        if any(v is not None for v in vals):
            ax2.plot(epochs, [float("nan") if v is None else v for v in vals], marker="o", label=split)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel(metric)
    if ax2.lines:
        ax2.legend()
    fig.tight_layout()
    out = os.path.join(path, "training_curves.png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


class TensorBoard:
    """Scalars to ``<path>/tensorboard`` when the tensorboard package is installed."""

    def __init__(self, path: Optional[str]) -> None:
        self.writer = None
        if path:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(os.path.join(path, "tensorboard"))
            except ImportError:
                log.info("tensorboard is not installed; no TensorBoard logs")

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
