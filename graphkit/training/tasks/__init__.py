"""Tasks: node, edge and link objectives; ``make_task`` picks the class from the config section."""

from __future__ import annotations

from graphkit.loading.features import FeatureStore
from graphkit.storage.graph import Graph
from graphkit.training.config import TaskConfig, TrainConfig
from graphkit.training.tasks.base import Task
from graphkit.training.tasks.edge import EdgeTask
from graphkit.training.tasks.link import LinkTask
from graphkit.training.tasks.node import NodeTask

_CLASSES: dict[str, type[Task]] = {
    "node_classification": NodeTask, "node_regression": NodeTask,
    "edge_classification": EdgeTask, "edge_regression": EdgeTask,
    "link_prediction": LinkTask,
}


def make_task(cfg: TaskConfig, train: TrainConfig, graph: Graph, store: FeatureStore) -> Task:
    return _CLASSES[cfg.kind](cfg, train, graph, store)
