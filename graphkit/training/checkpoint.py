"""Checkpoints: model, optimizers, config, epoch and RNG state in one ``torch.save`` file.

Everything saved is tensors, numbers, strings, lists and dicts, so loading
uses ``torch.load(weights_only=True)``: no arbitrary objects are unpickled.

Writes are atomic and durable: the file is written under a temporary name,
flushed to disk (``fsync``) and renamed over the old one, so a process killed
mid-write (a pre-empted pod, torchrun tearing a job down) leaves the previous
checkpoint intact, never a truncated one. In a multi-process job only rank 0
writes; ``rng`` carries every rank's RNG states so each rank resumes its own
dropout stream.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import torch

from graphkit.errors import GraphkitError

MODEL_FILE = "model.pt"


def rng_state() -> dict[str, torch.Tensor]:
    """This process's torch RNG states: the CPU generator's and, once CUDA is in use, the current GPU's."""
    out = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state()
    return out


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _on_cpu(obj: Any) -> Any:
    """``obj`` with every tensor copied to the CPU, so a GPU run's checkpoint loads anywhere with a bare
    ``torch.load`` (optimizers move their state back to their parameters' device on loading)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_cpu(v) for v in obj)
    return obj


def checkpoint_payload(model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer], config: dict,
                       epoch: int, state: Optional[dict] = None,
                       rng: Optional[list[dict[str, torch.Tensor]]] = None) -> dict[str, Any]:
    """What a checkpoint holds. ``rng``: every rank's :func:`rng_state`, in rank order (default: this
    process's). In a multi-process job build it on every rank — sharded embedding tables and their
    optimizer gather their rows in ``state_dict()``, a collective — and write it on rank 0."""
    return {
        "model": _on_cpu(model.state_dict()),
        "optimizers": {k: _on_cpu(o.state_dict()) for k, o in optimizers.items()},
        "config": config,
        "epoch": epoch,
        "state": state or {},
        "torch_rng": torch.get_rng_state(),
        "rng": rng if rng is not None else [rng_state()],
    }


def save_checkpoint(path: str, model: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                    config: dict, epoch: int, state: Optional[dict] = None) -> None:
    """Atomically and durably write a one-process checkpoint (see :func:`write_checkpoint`)."""
    write_checkpoint(path, checkpoint_payload(model, optimizers, config, epoch, state))


def write_checkpoint(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically and durably: temp file, fsync, rename."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


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


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    """``model.load_state_dict(state)``, with a clear error when the checkpoint at ``path`` does not
    fit the model its config built (another architecture, or LoRA on one side only). Every rank
    calls it (sharded tables load collectively), so the check is torch's own, not a key diff."""
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else "mismatched weights"
        lora_saved = any("lora_" in k for k in state)
        lora_built = any("lora_" in n for n, _ in model.named_parameters())
        hint = ("The language model was trained with LoRA but the config builds it without (or the reverse): "
                "give node_lm_configs the training run's lora_rank." if lora_saved != lora_built else
                "Use the training run's config (node_lm_configs, model options) with this checkpoint.")
        raise GraphkitError(f"the checkpoint does not fit the model built from the config: {detail[:300]}",
                            file=path, hint=hint) from None
