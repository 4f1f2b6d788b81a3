"""``no-op``: numbers as they are, optionally parsed from text and truncated."""

from __future__ import annotations

import numpy as np

from graphkit.construct.transforms.base import Param, Transform, register


@register
class NoOp(Transform):
    """Cast to ``out_dtype`` (default float32).

    ``separator`` splits a text column into numbers (``"0.1|0.5|3"``);
    ``truncate_dim`` keeps the first dimensions (GraphStorm's feature-level key).
    """

    name = "no-op"
    params = {
        "separator": Param((str,), doc="Split text values into numbers."),
        "truncate_dim": Param((int,), doc="Keep only the first N dimensions."),
    }

    def validate(self) -> None:
        if self.p["truncate_dim"] is not None and self.p["truncate_dim"] < 1:
            raise self.error("truncate_dim", f"truncate_dim must be >= 1, got {self.p['truncate_dim']}.")

    def apply(self, x: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        if self.p["truncate_dim"] is not None:
            x = x[:, : self.p["truncate_dim"]]
        return {self.feature.name: x.astype(self.out_dtype)}
