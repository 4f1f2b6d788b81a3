"""What a fine-tuning objective provides to the training loop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import nn

from graphkit.lm.finetune.text import NodeText


class Objective(ABC):
    """A fine-tuning task: batches, a loss, and evaluation on the validation and test splits.

    ``select_metric`` names the validation metric (higher is better) that picks the epoch whose
    weights are kept; None keeps the last epoch.
    """

    mode: str = ""
    select_metric: Optional[str] = None

    def init_head(self, hidden: int) -> None:
        """Create trainable parameters besides the language model for pooled vectors of width ``hidden``."""

    def head(self) -> Optional[nn.Module]:
        """Trainable parameters besides the language model (e.g. a classifier), or None."""
        return None

    @abstractmethod
    def num_train(self) -> int:
        """Training items (edges or nodes) per epoch."""

    @abstractmethod
    def train_batches(self, rng: np.random.Generator, batch_size: int) -> Iterator[Any]:
        """One epoch of training batches, shuffled with ``rng``."""

    @abstractmethod
    def loss(self, text: NodeText, batch: Any, rng: np.random.Generator) -> torch.Tensor:
        """The mean loss of a batch."""

    @abstractmethod
    def has_split(self, split: str) -> bool:
        """Whether the ``val`` or ``test`` split has items."""

    @abstractmethod
    def evaluate(self, text: NodeText, split: str, batch_size: int) -> dict[str, float]:
        """Metrics on ``val`` or ``test`` (called under ``torch.no_grad``, model in eval mode)."""

    def describe(self) -> dict[str, Any]:
        """What is trained on, for ``finetune_metrics.json``."""
        return {}
