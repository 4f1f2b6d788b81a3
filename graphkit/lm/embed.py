"""Embed texts with a Hugging Face encoder: batched, pooled, on GPU when present."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

POOLINGS = ("pooler", "cls", "mean")


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, np.ndarray]:
    """Tokenise to fixed-length arrays: input_ids (int64), attention_mask and token_type_ids (int8)."""
    enc = tokenizer(list(texts), max_length=max_length, truncation=True, padding="max_length",
                    return_tensors="np")
    ids = enc["input_ids"].astype(np.int64)
    mask = enc["attention_mask"].astype(np.int8)
    types = enc.get("token_type_ids")
    types = np.zeros_like(mask) if types is None else types.astype(np.int8)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def pool(outputs: Any, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "pooler" and getattr(outputs, "pooler_output", None) is not None:
        return outputs.pooler_output
    hidden = outputs.last_hidden_state
    if pooling == "mean":
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    return hidden[:, 0]


@torch.no_grad()
def embed_tokens(model: Any, tokens: dict[str, np.ndarray], batch_size: int, pooling: str,
                 device: str | None = None, desc: str = "embedding") -> np.ndarray:
    """Run the encoder over pre-tokenised rows; returns float32 ``(N, hidden)``."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device).eval()
    n = tokens["input_ids"].shape[0]
    out = []
    for start in tqdm(range(0, n, batch_size), desc=desc, unit="batch", disable=n <= batch_size):
        sl = slice(start, start + batch_size)
        mask = torch.from_numpy(tokens["attention_mask"][sl].astype(np.int64)).to(device)
        kwargs = {"input_ids": torch.from_numpy(tokens["input_ids"][sl]).to(device), "attention_mask": mask}
        if "token_type_ids" in tokens:
            kwargs["token_type_ids"] = torch.from_numpy(tokens["token_type_ids"][sl].astype(np.int64)).to(device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            outputs = model(**kwargs)
        out.append(pool(outputs, mask, pooling).float().cpu().numpy())
    hidden = int(getattr(model.config, "hidden_size", 0))
    return np.concatenate(out) if out else np.zeros((0, hidden), np.float32)
