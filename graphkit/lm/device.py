"""Where a language model runs and in which precision.

``device``: ``auto`` (the first GPU when there is one, else the CPU), ``cpu``, ``cuda`` or
``cuda:N``. ``precision``: ``auto`` (bfloat16 autocast on GPUs that support it, float16
autocast on older GPUs, float32 on the CPU), ``fp32``, ``fp16`` or ``bf16``. Reduced precision
runs matrix products in 16 bits under :func:`torch.autocast`; weights stay float32 (so
fine-tuned weights are saved in float32).

On the CPU, ``bf16`` is honoured where the CPU computes bfloat16 natively (x86: AVX512-BF16 or AMX;
ARM: BF16 instructions): MiniLM embeds and fine-tunes 1.7-2x faster there, with mean-pooled embeddings
at cosine 0.9999 to float32 (``benchmarks/cpu_bf16.py``). Elsewhere bfloat16 would be emulated,
slower than float32, so ``bf16`` falls back to ``fp32`` with a warning, as ``fp16`` always does
on the CPU. ``auto`` stays ``fp32`` on the CPU: exact, and the same everywhere.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import platform
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


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 matrix products natively: on x86, AVX512-BF16 or AMX
    (oneDNN's own check, ``_is_mkldnn_bf16_supported``, accepts any AVX-512 CPU, where bf16 is
    emulated and slower than fp32); on ARM, oneDNN's check (BF16 instructions)."""
    try:
        if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without these queries
        return False


def resolve_precision(precision: str, device: torch.device, fp16: bool = True) -> str:
    """The precision actually used on ``device``: one of ``fp32``, ``fp16``, ``bf16``.

    ``fp16=False`` (co-training, which has no loss scaling): ``auto`` on a GPU without bfloat16
    gives ``fp32`` instead of ``fp16``."""
    if precision not in PRECISIONS:
        raise GraphkitError(f"unknown precision '{precision}'.", hint=f"Choices: {', '.join(PRECISIONS)}.")
    if device.type == "cuda":
        if precision == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else ("fp16" if fp16 else "fp32")
        return precision
    if precision == "bf16":
        if cpu_has_native_bf16():
            return "bf16"
        log.warning("this CPU has no native bfloat16 (AVX512-BF16 or AMX), where bf16 is slower than fp32; "
                    "running in fp32 on %s", device)
    elif precision == "fp16":
        log.warning("precision fp16 applies on GPUs only; running in fp32 on %s", device)
    return "fp32"


def autocast(device: torch.device, precision: str) -> ContextManager:
    """``torch.autocast`` for a resolved ``fp16``/``bf16`` precision; a no-op for ``fp32``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[precision])
