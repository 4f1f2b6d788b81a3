"""The teacher: a trained GNN folder, its embeddings of every node, its node task and decoder."""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from graphkit.distill.spec import HeadSpec, is_student_dir
from graphkit.errors import GraphkitError
from graphkit.inference.embeddings import node_embeddings
from graphkit.inference.run import load_model
from graphkit.loading.features import FeatureStore
from graphkit.models.model import GraphModel
from graphkit.schema.tokens import TOKEN_FEATURES
from graphkit.storage.graph import Graph
from graphkit.training.config import TrainConfig
from graphkit.training.tasks.base import Task
from graphkit.training.tasks.node import NodeTask

log = logging.getLogger(__name__)


@dataclass
class Teacher:
    path: str
    cfg: TrainConfig
    store: FeatureStore
    tasks: list[Task]
    model: GraphModel

    @property
    def emb_dim(self) -> int:
        """The width of the encoder's output (what the decoders read), as ``build_model`` sizes it."""
        return int(getattr(self.model.encoder, "out_dim", self.cfg.hidden_size))

    def node_task(self, ntype: str) -> Optional[NodeTask]:
        """The first node task predicting ``ntype`` (its decoder is what students predict through)."""
        return next((t for t in self.tasks if isinstance(t, NodeTask) and t.ntype == ntype), None)

    def decoder(self, task: Task) -> nn.Module:
        """A frozen copy of ``task``'s decoder (eval mode, no gradients)."""
        dec = copy.deepcopy(self.model.decoders[task.name]).eval()
        for p in dec.parameters():
            p.requires_grad_(False)
        return dec

    @torch.no_grad()
    def embeddings(self, graph: Graph, ntypes: Sequence[str], batch_size: int) -> dict[str, torch.Tensor]:
        """Layer-wise full-graph embeddings of every node of ``ntypes`` (the distillation targets)."""
        return node_embeddings(self.model, graph, self.store, batch_size, node_types=list(ntypes))


def load_teacher(graph: Graph, path: str) -> Teacher:
    """The trained GNN at ``path`` (a ``graphkit train --save-model-path`` folder or its model.pt)."""
    if not os.path.exists(path):
        raise GraphkitError("the teacher model folder does not exist.", file=path, key="--restore-model-path",
                            hint="Pass a folder written by `graphkit train --save-model-path`.")
    if is_student_dir(path):
        raise GraphkitError("this is a student folder, not a trained GNN.", file=path, key="--restore-model-path",
                            hint="Distil from the GNN folder written by `graphkit train`.")
    cfg, store, tasks, model = load_model(graph, path)
    log.info("teacher: %s encoder, %d layer(s), tasks %s", cfg.model_encoder_type, model.num_layers,
             ", ".join(t.name for t in tasks))
    return Teacher(path, cfg, store, tasks, model)


def default_ntypes(teacher: Teacher, graph: Graph, kind: str) -> list[str]:
    """The teacher's node-task target type, else every type the student can read (features, or tokens)."""
    targets = [t.ntype for t in teacher.tasks if isinstance(t, NodeTask)]
    if targets:
        return targets[:1]
    if kind == "mlp":
        types = [t for t, names in teacher.store.features.items() if set(names) - set(TOKEN_FEATURES)]
    else:
        types = [t for t, m in graph.meta.node_types.items() if all(n in m.features for n in TOKEN_FEATURES[:2])]
    if not types:
        raise GraphkitError(f"no node type the {kind} student can read "
                            f"({'input features' if kind == 'mlp' else 'token features'}).", key="--ntype",
                            hint="Name one with --ntype.")
    return types


def head_spec(task: NodeTask, graph: Graph) -> HeadSpec:
    """What a student needs to predict and score ``task`` without the teacher."""
    meta = graph.meta.node_type(task.ntype).labels[task.label_name]
    classes = None if task.regression else meta.classes
    return HeadSpec(name=task.name, ntype=task.ntype, label=task.label_name, regression=task.regression,
                    multilabel=bool(task.cfg.multilabel), num_classes=int(task.num_classes),
                    decoder_type=task.cfg.decoder_type, mask_names=list(task.cfg.mask_fields or meta.mask_names),
                    metrics=[m.name for m in task.metrics], classes=list(classes) if classes is not None else None)
