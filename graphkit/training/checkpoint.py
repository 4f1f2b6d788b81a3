"""Checkpoints: model, optimizers, config, epoch and RNG state in one ``torch.save`` file.

Everything saved is tensors, numbers, strings, lists and dicts, so loading
uses ``torch.load(weights_only=True)``: no arbitrary objects are unpickled.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import torch

from graphkit.errors import GraphkitError

MODEL_FILE = "model.pt"


def save_checkpoint(path: str, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    config: dict, epoch: int, state: Optional[dict] = None) -> None:
    """Atomically write a checkpoint (temp file, then rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "config": config,
        "epoch": epoch,
        "state": state or {},
        "torch_rng": torch.get_rng_state(),
    }
    tmp = f"{path}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str) -> dict[str, Any]:
    if os.path.isdir(path):
        path = os.path.join(path, MODEL_FILE)
    if not os.path.exists(path):
        raise GraphkitError("no model checkpoint here.", file=path,
                            hint="Point to a folder written by `graphkit train --save-model-path`, or its model.pt.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise GraphkitError(f"cannot read the checkpoint: {str(e).splitlines()[0][:200]}", file=path) from None
