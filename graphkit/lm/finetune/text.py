"""The language model being fine-tuned, applied to the stored text of node types."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from graphkit.lm.device import autocast
from graphkit.lm.embed import accepts_token_types, pool, token_batch


class NodeText:
    """Pooled vectors of node texts, with gradients: ``encode(ntype, ids) -> [len(ids), hidden]`` float32.

    Args:
        model: The Hugging Face encoder (already on ``device``).
        tokens: Per node type its token arrays (``graphkit.lm.tokens.node_tokens``), memory-mapped.
        pooling: ``pooler``, ``cls`` or ``mean``.
        device / precision: Where and how the model runs (precision resolved, see ``graphkit.lm.device``).
    """

    def __init__(self, model: nn.Module, tokens: Mapping[str, Mapping[str, np.ndarray]], pooling: str,
                 device: torch.device, precision: str) -> None:
        self.model = model
        self.tokens = tokens
        self.pooling = pooling
        self.device = device
        self.precision = precision
        self.token_types = accepts_token_types(model)

    def encode(self, ntype: str, ids: np.ndarray) -> torch.Tensor:
        batch = token_batch(self.tokens[ntype], np.asarray(ids), self.device, token_types=self.token_types)
        with autocast(self.device, self.precision):
            out = self.model(**batch)
        return pool(out, batch["attention_mask"], self.pooling).float()

    def encode_groups(self, requests: Sequence[tuple[str, np.ndarray]]) -> list[torch.Tensor]:
        """Several ``(ntype, ids)`` at once: requests of one node type share a forward pass."""
        out: list[Any] = [None] * len(requests)
        by_type: dict[str, list[int]] = {}
        for i, (t, _) in enumerate(requests):
            by_type.setdefault(t, []).append(i)
        for t, idx in by_type.items():
            parts = [np.asarray(requests[i][1]) for i in idx]
            h = self.encode(t, np.concatenate(parts))
            for i, piece in zip(idx, torch.split(h, [len(p) for p in parts]), strict=True):
                out[i] = piece
        return out
