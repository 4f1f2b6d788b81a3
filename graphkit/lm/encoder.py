"""A loaded text encoder and how it embeds: pooling, device, precision, content fingerprint."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from graphkit.errors import GraphkitError
from graphkit.lm.device import resolve_device, resolve_precision
from graphkit.lm.embed import POOLINGS, embed_tokens
from graphkit.lm.fingerprint import model_fingerprint

log = logging.getLogger(__name__)


def check_pooling(pooling: str, key: Optional[str] = None) -> str:
    if pooling not in POOLINGS:
        raise GraphkitError(f"unknown pooling '{pooling}'.", key=key, hint=f"Choices: {', '.join(POOLINGS)}.")
    return pooling


@dataclass
class TextEncoder:
    """A Hugging Face encoder ready to embed token rows.

    Args:
        model: The ``AutoModel`` (moved to ``device`` on first use).
        pooling: ``pooler``, ``cls`` or ``mean``. (default: ``"mean"``)
        device: Where it runs. (default: the CPU)
        precision: ``fp32``, ``fp16`` or ``bf16``, already resolved for ``device``. (default: ``"fp32"``)
        source: The folder or hub name it was loaded from, for logs and provenance.
    """

    model: Any
    pooling: str = "mean"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"
    source: str = ""

    @classmethod
    def load(cls, name: str, pooling: str = "mean", device: str = "auto", precision: str = "auto",
             key: Optional[str] = None) -> "TextEncoder":
        """Load ``name`` (a local folder, or a hub name where the hub is reachable)."""
        from graphkit.lm.loading import load_model

        check_pooling(pooling)
        dev = resolve_device(device)
        prec = resolve_precision(precision, dev)
        model = load_model(name, key=key)
        log.info("loaded %s (%s, %.1fM parameters) on %s in %s", name, type(model).__name__,
                 sum(p.numel() for p in model.parameters()) / 1e6, dev, prec)
        return cls(model=model, pooling=pooling, device=dev, precision=prec, source=name)

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of the model (configuration and weights); computed once."""
        return model_fingerprint(self.model)

    @property
    def hidden_size(self) -> int:
        return int(getattr(self.model.config, "hidden_size", 0))

    @property
    def vocab_size(self) -> Optional[int]:
        v = getattr(self.model.config, "vocab_size", None)
        return None if v is None else int(v)

    def embed(self, tokens: Mapping[str, np.ndarray], batch_size: int, desc: str = "embedding",
              progress: Optional[tqdm] = None) -> np.ndarray:
        """float32 ``(N, hidden)`` vectors of the token rows (see :func:`graphkit.lm.embed.embed_tokens`)."""
        return embed_tokens(self.model, tokens, batch_size, self.pooling, device=self.device, desc=desc,
                            precision=self.precision, progress=progress)
