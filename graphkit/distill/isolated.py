"""Nodes without edges: finding them, removing chosen nodes' edges, and scoring models on such nodes.

:class:`EdgeRemovedGraph` is a view of a graph in which every edge touching the
chosen nodes (in- and out-edges, in every edge type, reverse types included)
is gone from the CSC/CSR arrays that message passing reads. Edge IDs keep
their meaning, so edge features still line up. A GNN re-created on the view
(``load_model(view, path)``) sees those nodes as new, isolated nodes — what a
graph-free student is for. :func:`evaluate_isolated` scores a teacher (with
and without the edges) or a student on a split's nodes treated that way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import torch

from graphkit.distill import head as heads
from graphkit.distill.fit import embed
from graphkit.distill.inputs import StudentInputs
from graphkit.distill.spec import HeadSpec, is_student_dir
from graphkit.distill.students import load_student
from graphkit.distill.teacher import Teacher, head_spec, load_teacher
from graphkit.errors import GraphkitError
from graphkit.inference.embeddings import node_embeddings
from graphkit.schema.graph_meta import EdgeType
from graphkit.storage.graph import Graph
from graphkit.training.tasks.node import NodeTask

log = logging.getLogger(__name__)


def in_degree(graph: Graph, ntype: str) -> np.ndarray:
    """In-degree of every node of ``ntype``, summed over all edge types (reverse types included)."""
    deg = np.zeros(graph.num_nodes(ntype), dtype=np.int64)
    for e in graph.edge_types:
        if e[2] == ntype:
            deg += np.diff(np.asarray(graph.csc(e)[0]))
    return deg


def isolated_nodes(graph: Graph, ntype: str) -> np.ndarray:
    """IDs of the nodes of ``ntype`` with no in-neighbours over all edge types (a GNN sees only themselves)."""
    return np.flatnonzero(in_degree(graph, ntype) == 0)


def _drop_edges(indptr: np.ndarray, indices: np.ndarray, eids: np.ndarray, drop_own: np.ndarray,
                drop_other: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A compressed adjacency without the entries whose row node or column node is dropped."""
    owner = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    keep = ~(drop_own[owner] | drop_other[indices])
    counts = np.bincount(owner[keep], minlength=indptr.size - 1)
    new_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(indptr.dtype)
    return new_indptr, np.ascontiguousarray(indices[keep]), np.ascontiguousarray(eids[keep])


class EdgeRemovedGraph(Graph):
    """``graph`` without any edge touching ``nodes`` (``{ntype: node IDs}``), in memory.

    Only the CSC/CSR arrays (what samplers, degrees and constructed features read)
    change; ``edges()`` still lists every edge, and edge IDs are unchanged.
    """

    def __init__(self, graph: Graph, nodes: Mapping[str, np.ndarray]) -> None:
        super().__init__(graph.root, graph.meta)
        self.removed = {t: np.zeros(graph.num_nodes(t), dtype=bool) for t in graph.node_types}
        for t, ids in nodes.items():
            self.removed[t][np.asarray(ids, dtype=np.int64)] = True
        self._cache: dict[tuple[str, EdgeType], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def csc(self, etype: EdgeType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = ("csc", tuple(etype))
        if key not in self._cache:
            arrays = (np.asarray(a) for a in super().csc(etype))
            self._cache[key] = _drop_edges(*arrays, self.removed[etype[2]], self.removed[etype[0]])
        return self._cache[key]

    def csr(self, etype: EdgeType) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = ("csr", tuple(etype))
        if key not in self._cache:
            arrays = (np.asarray(a) for a in super().csr(etype))
            self._cache[key] = _drop_edges(*arrays, self.removed[etype[0]], self.removed[etype[2]])
        return self._cache[key]


@dataclass
class IsolatedScores:
    """A model's task metrics on a split's nodes, as they are and with their edges removed."""

    model: str  # "teacher", "distilled-student" or "no-distill-student"
    ntype: str
    split: str
    num_nodes: int
    with_edges: dict[str, float] = field(default_factory=dict)
    isolated: dict[str, float] = field(default_factory=dict)  # a student's equal ``with_edges``: it reads no edges


def evaluate_isolated(graph: Graph, model_path: str, split: str = "test", batch_size: int = 4096) -> IsolatedScores:
    """Score a trained GNN or a student folder on ``split``'s nodes of the node task, whose edges are removed.

    For a GNN: once on ``graph``, once re-created on an :class:`EdgeRemovedGraph`
    without every edge touching those nodes. For a student: from the nodes' own
    features (it never reads edges).
    """
    if is_student_dir(model_path):
        return _student_scores(graph, model_path, split, batch_size)
    teacher = load_teacher(graph, model_path)
    task = next((t for t in teacher.tasks if isinstance(t, NodeTask)), None)
    if task is None:
        raise GraphkitError("the model has no node task to score.", file=model_path)
    head = head_spec(task, graph)
    ids = heads.split_ids(graph, head)[split]
    scores = IsolatedScores("teacher", head.ntype, split, len(ids))
    scores.with_edges = _gnn_scores(teacher, graph, head, ids, batch_size)
    view = EdgeRemovedGraph(graph, {head.ntype: ids})
    # re-created on the view: its degrees, samplers and constructed features see the edges removed
    scores.isolated = _gnn_scores(load_teacher(view, model_path), view, head, ids, batch_size)
    log.info("teacher on %d %s nodes: with edges %s, isolated %s", len(ids), split, scores.with_edges,
             scores.isolated)
    return scores


@torch.no_grad()
def _gnn_scores(teacher: Teacher, graph: Graph, head: HeadSpec, ids: np.ndarray, batch_size: int
                ) -> dict[str, float]:
    emb = node_embeddings(teacher.model, graph, teacher.store, batch_size, node_types=[head.ntype])[head.ntype]
    t = torch.from_numpy(ids)
    out = heads.outputs(teacher.model.decoders[head.name], emb[t], head)
    return heads.score(head, out, heads.targets(graph, head, ids))


@torch.no_grad()
def _student_scores(graph: Graph, path: str, split: str, batch_size: int) -> IsolatedScores:
    student = load_student(path)
    head = student.spec.head
    if head is None or student.decoder is None:
        raise GraphkitError("the student has no node task to score (distilled from a teacher without one).",
                            file=path)
    ids = heads.split_ids(graph, head)[split]
    inputs = StudentInputs(graph, student.spec.kind, head.ntype, student.spec.types[head.ntype].features)
    emb = embed(student.net(head.ntype), inputs, ids, batch_size)
    res = heads.score(head, heads.outputs(student.decoder, emb, head), heads.targets(graph, head, ids))
    name = "distilled-student" if student.spec.distilled else "no-distill-student"
    return IsolatedScores(name, head.ntype, split, len(ids), with_edges=res, isolated=dict(res))


def isolated_report(graph: Graph, teacher_path: str, student_paths: Mapping[str, str], split: str = "test",
                    metric: str = "accuracy", batch_size: int = 4096) -> dict[str, float]:
    """One number per model for a benchmark table: ``teacher-with-edges``, ``teacher-isolated`` and each
    student (by the given name), all on ``split``'s nodes with their edges removed."""
    t = evaluate_isolated(graph, teacher_path, split, batch_size)
    out = {"teacher-with-edges": t.with_edges[metric], "teacher-isolated": t.isolated[metric]}
    for name, path in student_paths.items():
        out[name] = evaluate_isolated(graph, path, split, batch_size).isolated[metric]
    return out
