"""What a partitioning method produces: the partition of every node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

METHODS = ("metis", "random")


@dataclass
class Assignment:
    """``node_part[t][i]`` is the partition (int32, ``0..num_parts-1``) owning node ``i`` of type ``t``."""

    num_parts: int
    method: str
    node_part: dict[str, np.ndarray]
    details: dict[str, Any] = field(default_factory=dict)  # method facts for partition.json, e.g. METIS constraints
