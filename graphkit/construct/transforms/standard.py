"""``standard``: divide each dimension by its fitted sum (GSProcessing's definition)."""

from __future__ import annotations

import numpy as np

from graphkit.construct.transforms.base import Transform, register


@register
class Standard(Transform):
    """``y = x / sum(x)`` per dimension, the sum fitted on the construction rows.

    This is GraphStorm/GSProcessing's ``standard``. For z-scores use
    ``{"name": "standard_scaler"}`` instead.
    """

    name = "standard"

    def fit(self, x: np.ndarray) -> dict:
        s = x.sum(axis=0)
        zero = np.flatnonzero(s == 0)
        if zero.size:
            raise self.error("name", f"dimension {int(zero[0])} sums to 0: 'standard' divides by the sum.",
                             "Use max_min_norm or standard_scaler for features that sum to 0.")
        return {"sum": s.tolist()}

    def apply(self, x: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        return {self.feature.name: (x / np.asarray(state["sum"])).astype(self.out_dtype)}


@register
class StandardScaler(Transform):
    """``y = (x - mean) / std`` per dimension (a graphkit extension; std 0 -> 1)."""

    name = "standard_scaler"

    def fit(self, x: np.ndarray) -> dict:
        std = x.std(axis=0)
        return {"mean": x.mean(axis=0).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}

    def apply(self, x: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        y = (x - np.asarray(state["mean"])) / np.asarray(state["std"])
        return {self.feature.name: y.astype(self.out_dtype)}
