"""``edge_dst_hard_negative``: per-edge lists of destination nodes to use as hard negatives."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from graphkit.construct.columns import ColumnRef, _is_list
from graphkit.construct.transforms.base import Param, Transform, register


@register
class EdgeDstHardNegative(Transform):
    """Raw destination IDs per edge (a list column, or text split by ``separator``).

    The transform stage keeps the raw IDs; the ID-mapping stage maps them with
    the destination type's ID map into an int64 ``(E, max_len)`` array padded
    with -1 (unknown IDs are dropped, as in GraphStorm).
    """

    name = "edge_dst_hard_negative"
    input = "raw"
    max_columns = 1
    maps_dst_ids = True
    params = {"separator": Param((str,), doc="Split a text value into several IDs.")}

    def apply(self, col: ColumnRef, state: dict) -> dict[str, pa.Array]:
        arr = col.array
        if _is_list(arr.type):
            return {self.feature.name: arr}
        if self.p["separator"] is None:
            raise self.error("separator", "a text column of hard negatives needs a 'separator'.")
        return {self.feature.name: pc.split_pattern(pc.cast(arr, pa.string()), pattern=self.p["separator"])}
