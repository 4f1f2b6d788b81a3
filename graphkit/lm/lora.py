"""Low-rank adaptation (LoRA) of a language model, through Hugging Face ``peft``.

With LoRA the LM's weights stay frozen and each targeted linear layer ``W`` gets a trainable
low-rank update ``(alpha / rank) * B @ A`` (Hu et al., 2021). Far fewer parameters train (MiniLM-L6
at rank 8 on ``query``/``value``: 74k of 22.8M), which keeps the fine-tuned LM near its pre-trained
embedding; SimTeG (Duan et al., 2023) found that this guards against over-fitting when an LM is
fine-tuned on a node classification task before a GNN. After training, :func:`merge_lora` folds
the updates into the weights, so the saved folder is a plain model that every stage loads.

``peft`` is imported only when LoRA is asked for (it comes with ``graphkit[lm]``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

from graphkit.errors import GraphkitError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoraOptions:
    """``rank`` 0 turns LoRA off. ``alpha`` None: equal to ``rank`` (a scale of 1). ``targets`` None:
    peft's default modules for the model type (``query`` and ``value`` for BERT)."""

    rank: int = 0
    alpha: Optional[float] = None
    dropout: float = 0.0
    targets: Optional[tuple[str, ...]] = None

    @property
    def enabled(self) -> bool:
        return self.rank > 0

    def problems(self, name: Callable[[str], str]) -> list[tuple[str, str]]:
        """``(field, message)`` for every bad setting; ``name`` spells a field as the user wrote it
        (``--lora-rank`` on the CLI, ``lora_rank`` in a training config)."""
        out = []
        if self.rank < 0:
            out.append(("rank", f"{name('rank')} must be >= 0 (0: no LoRA), got {self.rank}."))
        if self.alpha is not None and self.alpha <= 0:
            out.append(("alpha", f"{name('alpha')} must be > 0, got {self.alpha}."))
        if not 0 <= self.dropout < 1:
            out.append(("dropout", f"{name('dropout')} must be in [0, 1), got {self.dropout}."))
        if self.targets is not None and not (self.targets and all(isinstance(t, str) and t for t in self.targets)):
            out.append(("targets", f"{name('targets')} must name at least one module, got {list(self.targets)!r}."))
        if self.rank == 0 and (self.alpha is not None or self.dropout or self.targets is not None):
            out.append(("rank", f"{name('alpha')}, {name('dropout')} and {name('targets')} need {name('rank')} > 0."))
        return out

    def describe(self) -> dict[str, Any]:
        return {"rank": self.rank, "alpha": self.alpha if self.alpha is not None else float(self.rank),
                "dropout": self.dropout, "targets": list(self.targets) if self.targets else None}


def apply_lora(model: Any, opts: LoraOptions, targets_option: str = "--lora-targets") -> Any:
    """``model`` wrapped with trainable LoRA adapters (a ``peft`` model); its own weights get no gradient.

    ``targets_option`` names where the user sets the targets, for the error message."""
    try:
        import peft
    except ImportError:
        raise GraphkitError("LoRA needs the peft package.", hint="pip install 'graphkit[lm]' (or pip install peft)."
                            ) from None
    config = peft.LoraConfig(r=opts.rank, lora_alpha=opts.alpha if opts.alpha is not None else opts.rank,
                             lora_dropout=opts.dropout, target_modules=list(opts.targets) if opts.targets else None,
                             bias="none")
    try:
        wrapped = peft.get_peft_model(model, config)
    except ValueError as e:  # unknown target module names, or a model type without default targets
        raise GraphkitError(f"LoRA cannot wrap this model: {e}",
                            hint=f"Name the linear layers to adapt with {targets_option} (e.g. query,value).") from None
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    total = sum(p.numel() for p in wrapped.parameters())
    log.info("LoRA rank %d on %s: %d of %d parameters train (%.2f%%)", opts.rank,
             ",".join(sorted(config.target_modules)) if config.target_modules else "peft's defaults", trainable, total,
             100.0 * trainable / max(total, 1))
    return wrapped


def merge_lora(model: Any) -> Any:
    """The plain model with the LoRA updates folded into its weights (a no-op for a plain model)."""
    merge = getattr(model, "merge_and_unload", None)
    return merge() if callable(merge) else model
