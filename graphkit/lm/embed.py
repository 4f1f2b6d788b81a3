"""Embed tokenised text with a Hugging Face encoder: batched, pooled, on a GPU in 16 bits when present.

The one embedding routine of graphkit: the ``bert_hf`` construction transform and
``graphkit lm-embed`` both end in :func:`embed_tokens` (lm-embed through the chunk cache
of :mod:`graphkit.lm.chunked`), so the same text and model give the same vectors either way.

Rows are sorted by length and every batch is cut to its longest row: padding is never
encoded, which makes short texts under a long ``max_seq_length`` several times cheaper and
leaves the vectors unchanged (padding is masked out of attention and pooling).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from graphkit.lm.device import autocast, resolve_device, resolve_precision

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
    """One vector per row: the model's pooler output (``cls`` for models without a pooler),
    the first token's hidden state (``cls``), or the mean over attended tokens (``mean``, in float32)."""
    if pooling == "pooler" and getattr(outputs, "pooler_output", None) is not None:
        return outputs.pooler_output
    hidden = outputs.last_hidden_state
    if pooling == "mean":
        hidden = hidden.float()
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    return hidden[:, 0]


def accepts_token_types(model: Any) -> bool:
    """Whether the model's forward takes ``token_type_ids`` (BERT does, DistilBERT does not)."""
    get_base = getattr(model, "get_base_model", None)  # a peft (LoRA) wrapper: ask the model it wraps
    if callable(get_base):
        model = get_base()
    try:
        return "token_type_ids" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return True


def row_ends(attention_mask: np.ndarray) -> np.ndarray:
    """Per row, one past the last attended position (0 for a row with no attended token)."""
    mask = np.asarray(attention_mask) != 0
    if mask.shape[1] == 0:
        return np.zeros(len(mask), np.int64)
    last = mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)
    return np.where(mask.any(1), last, 0).astype(np.int64)


def token_batch(tokens: Mapping[str, np.ndarray], rows: np.ndarray, device: torch.device,
                token_types: bool = True) -> dict[str, torch.Tensor]:
    """The model inputs of ``rows``, cut to the longest of them (at least one column), as int64 tensors."""
    ends = row_ends(np.asarray(tokens["attention_mask"][rows]))
    width = max(int(ends.max(initial=0)), 1)
    names = ("input_ids", "attention_mask", "token_type_ids") if token_types else ("input_ids", "attention_mask")
    return {k: torch.from_numpy(np.asarray(tokens[k][rows, :width], dtype=np.int64)).to(device)
            for k in names if k in tokens}


@torch.no_grad()
def embed_tokens(model: Any, tokens: Mapping[str, np.ndarray], batch_size: int, pooling: str,
                 device: Union[str, torch.device, None] = None, desc: str = "embedding", precision: str = "auto",
                 progress: Optional[tqdm] = None) -> np.ndarray:
    """Run the encoder over pre-tokenised rows; returns float32 ``(N, hidden)`` in row order.

    Args:
        model: A Hugging Face encoder (``AutoModel``); moved to ``device`` and put in eval mode.
        tokens: ``input_ids`` and ``attention_mask`` (and optionally ``token_type_ids``), ``(N, L)``.
        batch_size: Rows per forward pass.
        pooling: ``pooler``, ``cls`` or ``mean`` (see :func:`pool`).
        device: ``auto``/``None``, ``cpu``, ``cuda``, ``cuda:N`` or a :class:`torch.device`.
        precision: ``auto``, ``fp32``, ``fp16`` or ``bf16`` (see :mod:`graphkit.lm.device`).
        progress: A bar to advance by the rows done; by default one is made (shown for > 1 batch).
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device or "auto")
    prec = resolve_precision(precision, dev)
    model = model.to(dev).eval()
    n = int(tokens["input_ids"].shape[0])
    if n == 0:
        return np.zeros((0, int(getattr(model.config, "hidden_size", 0))), np.float32)
    # longest rows first: similar lengths share a batch, and a too-large batch fails at once
    order = np.argsort(-row_ends(np.asarray(tokens["attention_mask"])), kind="stable")
    with_types = "token_type_ids" in tokens and accepts_token_types(model)
    bar = progress if progress is not None else tqdm(total=n, desc=desc, unit="row", disable=n <= batch_size)
    out: Optional[np.ndarray] = None
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]
        batch = token_batch(tokens, rows, dev, token_types=with_types)
        with autocast(dev, prec):
            outputs = model(**batch)
        emb = pool(outputs, batch["attention_mask"], pooling).float().cpu().numpy()
        if out is None:
            out = np.empty((n, emb.shape[1]), np.float32)
        out[rows] = emb
        bar.update(len(rows))
    if progress is None:
        bar.close()
    assert out is not None
    return out
