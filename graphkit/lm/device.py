"""Where a language model runs and in which precision.

``device``: ``auto`` (the first GPU when there is one, else the CPU), ``cpu``, ``cuda`` or
``cuda:N``. ``precision``: ``auto`` (bfloat16 autocast on GPUs that support it, float16
autocast on older GPUs, float32 on the CPU), ``fp32``, ``fp16`` or ``bf16``. Reduced precision
applies on GPUs only: matrix products run in 16 bits under :func:`torch.autocast`, weights stay
float32 (so fine-tuned weights are saved in float32). On the CPU every request becomes ``fp32``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import ContextManager

import torch

from graphkit.errors import GraphkitError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else as given, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise GraphkitError(f"unknown device '{name}'.", hint="Use auto, cpu, cuda or cuda:N.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GraphkitError(f"device '{name}' was asked for, but no GPU is visible to PyTorch.",
                            hint="Use --device cpu (or auto).")
    if dev.type not in ("cpu", "cuda"):
        raise GraphkitError(f"device '{name}' is not supported.", hint="Use auto, cpu, cuda or cuda:N.")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision actually used on ``device``: one of ``fp32``, ``fp16``, ``bf16``."""
    if precision not in PRECISIONS:
        raise GraphkitError(f"unknown precision '{precision}'.", hint=f"Choices: {', '.join(PRECISIONS)}.")
    if device.type != "cuda":
        if precision in ("fp16", "bf16"):
            log.warning("precision %s applies on GPUs only; running in fp32 on %s", precision, device)
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def autocast(device: torch.device, precision: str) -> ContextManager:
    """``torch.autocast`` for a resolved ``fp16``/``bf16`` precision on a GPU; a no-op for ``fp32``."""
    if precision == "fp32" or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=_AUTOCAST_DTYPES[precision])
