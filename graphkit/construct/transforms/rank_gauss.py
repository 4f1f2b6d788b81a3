"""``rank_gauss``: map each dimension through its empirical CDF onto a Gaussian shape."""

from __future__ import annotations

import numpy as np
from scipy.special import erfinv

from graphkit.construct.transforms.base import Param, Transform, register

MAX_QUANTILES = 1000


@register
class RankGauss(Transform):
    """``y = erfinv(clip(2 * F(x) - 1, -1 + eps, 1 - eps))`` per dimension.

    ``F`` is the empirical CDF of the construction rows, stored as up to 1000
    quantiles so new rows at inference time get the same mapping. On the
    construction rows this matches GraphStorm's rank-based definition
    (``rank / (N - 1)``) up to quantile interpolation.
    """

    name = "rank_gauss"
    params = {
        "epsilon": Param((float,), default=1e-6, doc="Clip distance from +-1 before erfinv."),
        "uniquify": Param((bool,), default=False, doc="Rank unique values only (ties share a rank)."),
    }

    def validate(self) -> None:
        if not 0 < self.p["epsilon"] < 1:
            raise self.error("epsilon", f"epsilon must be in (0, 1), got {self.p['epsilon']}.")

    def fit(self, x: np.ndarray) -> dict:
        qs = []
        for d in range(x.shape[1]):
            col = np.unique(x[:, d]) if self.p["uniquify"] else np.sort(x[:, d])
            n = min(len(col), MAX_QUANTILES)
            idx = np.linspace(0, len(col) - 1, n)
            qs.append(np.interp(idx, np.arange(len(col)), col).tolist())
        return {"quantiles": qs}

    def apply(self, x: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        eps = self.p["epsilon"]
        out = np.empty_like(x, dtype=np.float64)
        for d, q in enumerate(state["quantiles"]):
            # Rank of x among the stored quantiles: ties take their middle rank,
            # values in between interpolate, values outside clamp to the ends.
            uniq, first, counts = np.unique(np.asarray(q), return_index=True, return_counts=True)
            if len(q) == 1 or len(uniq) == 1:
                out[:, d] = 0.0
                continue
            rank = np.interp(x[:, d], uniq, first + (counts - 1) / 2.0)
            out[:, d] = erfinv(np.clip(2 * rank / (len(q) - 1) - 1, -1 + eps, 1 - eps))
        return {self.feature.name: out.astype(self.out_dtype)}
