"""Inference with a student: alone (graph-free), or standing in for the GNN on nodes without neighbours.

- :func:`run_student_inference` (``graphkit infer --restore-model-path STUDENT_DIR``):
  embeddings of every node of the student's types from their own features or
  tokens, and the node task's predictions through the student's decoder —
  written exactly as ``graphkit infer`` writes them (Parquet keyed by raw IDs).
- :func:`isolated_hook` (``graphkit infer --restore-model-path GNN --student STUDENT_DIR``):
  after the GNN's layer-wise inference, the rows of the student's node types
  whose nodes have no in-neighbours over all edge types are replaced by the
  student's embeddings. Predictions are made from the embeddings afterwards,
  through the teacher's decoder, which is the distilled student's decoder too.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Optional

import numpy as np
import torch

from graphkit.distill import head as heads
from graphkit.distill.fit import embed
from graphkit.distill.inputs import StudentInputs
from graphkit.distill.isolated import isolated_nodes
from graphkit.distill.students import Student, load_student
from graphkit.distributed.context import current
from graphkit.errors import GraphkitError
from graphkit.inference.outputs import write_embeddings, write_node_predictions
from graphkit.inference.run import MARKER, InferenceResult
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.graph import Graph
from graphkit.storage.paths import safe_name

log = logging.getLogger(__name__)

EmbeddingHook = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


@torch.no_grad()
def student_embeddings(student: Student, graph: Graph, ntype: str, ids: Optional[np.ndarray] = None,
                       batch_size: int = 4096) -> torch.Tensor:
    """The student's embeddings of nodes ``ids`` (default: every node) of ``ntype``, from their own inputs."""
    if ntype not in student.spec.types:
        raise GraphkitError(f"the student was not trained for node type '{ntype}'.",
                            hint=f"Its node types: {', '.join(student.spec.types)}.")
    inputs = StudentInputs(graph, student.spec.kind, ntype, student.spec.types[ntype].features)
    ids = np.arange(graph.num_nodes(ntype)) if ids is None else np.asarray(ids, dtype=np.int64)
    return embed(student.net(ntype), inputs, ids, batch_size, desc=f"student {ntype}")


def isolated_hook(graph: Graph, student_path: str, batch_size: int = 4096) -> EmbeddingHook:
    """A function replacing the GNN embeddings of the student's types' isolated nodes by the student's."""
    student = load_student(student_path)
    if not student.spec.distilled:
        raise GraphkitError("this student was trained with --no-distill: its embeddings are not in the GNN's "
                            "space.", file=student_path, key="--student",
                            hint="Use a distilled student, or infer with it alone (--restore-model-path).")

    def hook(emb: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = dict(emb)
        for t in student.spec.types:
            if t not in out:
                continue
            if out[t].shape[1] != student.spec.emb_dim:
                raise GraphkitError(f"the student emits {student.spec.emb_dim}-wide embeddings and the GNN "
                                    f"{out[t].shape[1]}-wide ones for '{t}'.", file=student_path, key="--student",
                                    hint="Use the student distilled from this GNN.")
            ids = isolated_nodes(graph, t)
            if ids.size:
                out[t] = out[t].clone()
                out[t][torch.from_numpy(ids)] = student_embeddings(student, graph, t, ids, batch_size)
            log.info("student embeddings for %d isolated '%s' node(s) of %d", ids.size, t, out[t].shape[0])
        return out

    return hook


@torch.no_grad()
def run_student_inference(graph: Graph, student_path: str, save_embed_path: Optional[str] = None,
                          save_prediction_path: Optional[str] = None, batch_size: int = 4096) -> InferenceResult:
    """Every node of the student's types embedded (and predicted) by the student alone.

    It is cheap (no message passing), so under torchrun the main rank does it all and the others return.
    """
    if not current().is_main:
        return InferenceResult()
    student = load_student(student_path)
    emb = {t: student_embeddings(student, graph, t, batch_size=batch_size) for t in student.spec.types}
    res = InferenceResult()
    if save_embed_path:
        with atomic_output_dir(save_embed_path, markers=(MARKER,)) as tmp:
            open(os.path.join(tmp, MARKER), "w").close()
            for t, v in emb.items():
                write_embeddings(tmp, t, graph.id_map(t), v.numpy())
                res.embeddings[t] = os.path.join(save_embed_path, safe_name(t))
        log.info("student embeddings of %d node type(s) written to %s", len(emb), save_embed_path)
    if save_prediction_path:
        head = student.spec.head
        if head is None or student.decoder is None:
            raise GraphkitError("the student has no node task to predict (its teacher had none).", file=student_path,
                                hint="Write embeddings only (--save-embed-path).")
        pred, prob = heads.predictions(head, heads.outputs(student.decoder, emb[head.ntype], head))
        classes = head.classes if not (head.regression or head.multilabel) else None
        with atomic_output_dir(save_prediction_path, markers=(MARKER,)) as tmp:
            open(os.path.join(tmp, MARKER), "w").close()
            write_node_predictions(tmp, head.ntype, graph.id_map(head.ntype), pred, prob, classes)
            res.predictions[head.name] = os.path.join(save_prediction_path, safe_name(head.ntype))
        log.info("student predictions written to %s", save_prediction_path)
    return res
