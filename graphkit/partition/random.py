"""Random partitioning: per node type, a seeded permutation cut into equal parts.

The cheap choice for huge graphs: O(N), every type split exactly evenly (sizes
differ by at most one), and train/val/test seeds balanced in expectation; the
edge cut is about ``1 - 1/num_parts``.
"""

from __future__ import annotations

import numpy as np

from graphkit.partition.assignment import Assignment
from graphkit.storage.graph import Graph


def random_parts(num_nodes: int, num_parts: int, rng: np.random.Generator) -> np.ndarray:
    """Node ``perm[j]`` goes to part ``j * num_parts // num_nodes``: part sizes differ by at most one."""
    part = np.empty(num_nodes, dtype=np.int32)
    part[rng.permutation(num_nodes)] = np.arange(num_nodes, dtype=np.int64) * num_parts // max(num_nodes, 1)
    return part


def random_assign(graph: Graph, num_parts: int, seed: int = 0) -> Assignment:
    rng = np.random.default_rng(seed)
    node_part = {t: random_parts(graph.num_nodes(t), num_parts, rng) for t in graph.node_types}
    return Assignment(num_parts=num_parts, method="random", node_part=node_part)
