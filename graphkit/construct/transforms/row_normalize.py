"""``row_normalize``: scale each row to unit L1 (or L2) norm — the usual preprocessing of bag-of-words features."""

from __future__ import annotations

import numpy as np

from graphkit.construct.transforms.base import Param, Transform, register


@register
class RowNormalize(Transform):
    """``y_i = x_i / ||x_i||_p`` (rows with norm 0 stay 0); stateless, a graphkit extension.

    Planetoid-style GCN/GAT experiments row-normalise (``p = 1``) their
    bag-of-words features.
    """

    name = "row_normalize"
    params = {"p": Param((int,), default=1, doc="1 (sum of absolute values) or 2 (Euclidean).")}

    def validate(self) -> None:
        if self.p["p"] not in (1, 2):
            raise self.error("p", f"p must be 1 or 2, got {self.p['p']}.")

    def apply(self, x: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        norm = np.abs(x).sum(axis=1) if self.p["p"] == 1 else np.sqrt((x * x).sum(axis=1))
        y = x / np.where(norm > 0, norm, 1.0)[:, None]
        return {self.feature.name: y.astype(self.out_dtype)}
