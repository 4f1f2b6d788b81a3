"""``max_min_norm``: scale each dimension into [0, 1] by the fitted min and max."""

from __future__ import annotations

import numpy as np

from graphkit.construct.transforms.base import Param, Transform, register


def _per_dim(value, dim: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    return np.full(dim, arr[0]) if arr.size == 1 else arr


@register
class MaxMinNorm(Transform):
    """``y = clip((x - min) / (max - min), 0, 1)`` per dimension (GraphStorm semantics).

    ``max_bound``/``min_bound`` cap the fitted extremes; ``max_val``/``min_val``
    (a number or one per dimension) replace them.
    """

    name = "max_min_norm"
    params = {
        "max_bound": Param((float,), doc="Upper cap on the fitted maximum."),
        "min_bound": Param((float,), doc="Lower cap on the fitted minimum."),
        "max_val": Param((float, list), doc="Fixed maximum (scalar or per dimension)."),
        "min_val": Param((float, list), doc="Fixed minimum (scalar or per dimension)."),
    }

    def fit(self, x: np.ndarray) -> dict:
        dim = x.shape[1]
        hi = x.max(axis=0)
        lo = x.min(axis=0)
        if self.p["max_bound"] is not None:
            hi = np.minimum(hi, self.p["max_bound"])
        if self.p["min_bound"] is not None:
            lo = np.maximum(lo, self.p["min_bound"])
        if self.p["max_val"] is not None:
            hi = _per_dim(self.p["max_val"], dim)
        if self.p["min_val"] is not None:
            lo = _per_dim(self.p["min_val"], dim)
        if hi.shape != (dim,) or lo.shape != (dim,):
            raise self.error("max_val", f"max_val/min_val need 1 or {dim} values.")
        same = np.flatnonzero(hi <= lo)
        if same.size:
            raise self.error(
                "max_val", f"dimension {int(same[0])} has max ({hi[same[0]]:g}) <= min ({lo[same[0]]:g}): "
                "a constant feature cannot be min-max normalised.",
                "Drop the feature, or set max_val/min_val explicitly.")
        return {"max": hi.tolist(), "min": lo.tolist()}

    def apply(self, x: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        hi, lo = np.asarray(state["max"]), np.asarray(state["min"])
        y = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        return {self.feature.name: y.astype(self.out_dtype)}
