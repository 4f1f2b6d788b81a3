"""``bucket_numerical``: one-hot (or sliding-window multi-hot) buckets over a fixed range."""

from __future__ import annotations

import numpy as np

from graphkit.construct.transforms.base import Param, Transform, register


@register
class BucketNumerical(Transform):
    """``bucket_cnt`` equal-width buckets over ``range``; values outside go to the end buckets.

    With ``slide_window_size = s`` a value ``f`` marks every bucket that
    ``[f - s/2, f + s/2]`` touches (GraphStorm semantics). One column in, ``bucket_cnt`` out.
    """

    name = "bucket_numerical"
    params = {
        "bucket_cnt": Param((int,), required=True, doc="Number of buckets."),
        "range": Param((list,), required=True, doc="[low, high] of the bucketed values."),
        "slide_window_size": Param((float,), default=0.0, doc="Window width for multi-hot buckets."),
    }

    def validate(self) -> None:
        if self.p["bucket_cnt"] < 1:
            raise self.error("bucket_cnt", f"bucket_cnt must be >= 1, got {self.p['bucket_cnt']}.")
        r = self.p["range"]
        if len(r) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r) or r[0] == r[1]:
            raise self.error("range", f"range must be two different numbers [low, high], got {r!r}.")
        if self.p["slide_window_size"] < 0:
            raise self.error("slide_window_size", "slide_window_size must be >= 0.")

    def apply(self, x: np.ndarray, state: dict) -> dict[str, np.ndarray]:
        cnt = self.p["bucket_cnt"]
        lo, hi = float(min(self.p["range"])), float(max(self.p["range"]))
        size = (hi - lo) / cnt
        s = float(self.p["slide_window_size"])
        blocks = []
        for d in range(x.shape[1]):
            f = x[:, d]
            # `//` (floor_divide), not floor(a / b): GraphStorm's rounding at bucket edges (1.0 // 0.1 == 9).
            first = np.maximum((np.maximum(f - s / 2, lo) - lo) // size, 0).astype(np.int64)
            last = np.minimum((np.minimum(f + s / 2, hi) - lo) // size + 1, cnt).astype(np.int64)
            b = np.arange(cnt)
            out = ((b[None, :] >= first[:, None]) & (b[None, :] < last[:, None])).astype(np.float64)
            out[f >= hi, cnt - 1] = 1.0
            out[f <= lo, 0] = 1.0
            blocks.append(out)
        return {self.feature.name: np.concatenate(blocks, axis=1).astype(self.out_dtype)}
