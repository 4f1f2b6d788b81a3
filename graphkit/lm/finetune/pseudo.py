"""Pseudo-labels for supervised LM fine-tuning: a trained GNN's class probabilities on unlabelled nodes.

GLEM's LM step (Zhao et al., "Learning on Large-scale Text-attributed Graphs via Variational
Inference", ICLR 2023): the GNN, which sees the graph, labels the nodes that have no gold label,
and the LM learns from those labels as well as the gold ones. The LM thus trains on the text of
every node, the validation and test nodes included (transductively: their gold labels are never
read), instead of overfitting the few labelled ones.

The source is the prediction folder of ``graphkit infer`` (:mod:`graphkit.inference.outputs`):
``<folder>/<ntype>/part-*.parquet`` with the columns ``id`` (the user's node ID) and ``prob``
(the class probabilities, in the label's class order). Rows are matched to nodes by ID.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphkit.errors import GraphkitError
from graphkit.storage.graph import Graph
from graphkit.storage.paths import safe_name

log = logging.getLogger(__name__)


@dataclass
class PseudoLabels:
    """Soft labels of some nodes of one type: ``probs[i]`` is the distribution for node ``ids[i]``."""

    ids: np.ndarray  # int64 node indices, sorted, unique
    probs: np.ndarray  # float32 [len(ids), num_classes], rows sum to 1
    source: str = ""  # the folder read, for messages


def read_pseudo_labels(graph: Graph, ntype: str, folder: str, min_confidence: float = 0.0) -> PseudoLabels:
    """The predictions of ``ntype`` under ``folder`` (a ``graphkit infer --save-prediction-path``),
    keeping the nodes whose top class probability is at least ``min_confidence``."""
    sub = os.path.join(folder, safe_name(ntype))
    files = sorted(glob.glob(os.path.join(sub, "*.parquet")))
    if not files:
        raise GraphkitError(f"--pseudo-labels: no predictions of node type '{ntype}' under {folder} "
                            f"(expected {sub}/part-*.parquet).",
                            hint="Point it at the --save-prediction-path of `graphkit infer` on a node "
                                 "classification model of this node type.")
    raw = graph.id_map(ntype)
    ids, probs = [], []
    for path in files:
        t = pq.read_table(path)
        missing = [c for c in ("id", "prob") if c not in t.column_names]
        if missing:
            raise GraphkitError(f"{path}: no column {', '.join(repr(c) for c in missing)} (columns: "
                                f"{', '.join(t.column_names)}).",
                                hint="Classification predictions of `graphkit infer` have id, pred and prob.")
        col = t.column("id").combine_chunks()
        if col.type != raw.type:
            try:
                col = col.cast(raw.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise GraphkitError(f"{path}: column 'id' is {col.type}, but the node IDs of '{ntype}' are "
                                    f"{raw.type}.",
                                    hint="The predictions must come from a model of this graph.") from None
        idx = pc.index_in(col, value_set=raw)
        if idx.null_count:
            row = int(np.flatnonzero(np.asarray(idx.is_null()))[0])
            raise GraphkitError(f"{path}, row {row}: node ID {col[row].as_py()!r} is not a '{ntype}' node of "
                                f"{graph.root}.", hint="The predictions must come from a model of this graph.")
        p = _prob_matrix(t.column("prob").combine_chunks(), path)
        if probs and p.shape[1] != probs[0].shape[1]:
            raise GraphkitError(f"{path}: column 'prob' has {p.shape[1]} classes, {files[0]} has {probs[0].shape[1]}.")
        ids.append(np.asarray(idx, dtype=np.int64))
        probs.append(p)
    all_ids, all_probs = np.concatenate(ids), np.concatenate(probs)
    uniq, first = np.unique(all_ids, return_index=True)
    if len(uniq) != len(all_ids):
        raise GraphkitError(f"--pseudo-labels: {len(all_ids) - len(uniq)} node(s) of '{ntype}' appear more than "
                            f"once under {sub}.")
    all_probs = all_probs[first]
    if not np.isfinite(all_probs).all() or (all_probs < 0).any():
        raise GraphkitError(f"--pseudo-labels: column 'prob' under {sub} has negative or non-finite values.")
    all_probs /= np.maximum(all_probs.sum(1, keepdims=True), 1e-12)
    keep = all_probs.max(1) >= min_confidence
    log.info("pseudo-labels of %s from %s: %d nodes, %d at confidence >= %.2f", ntype, sub, len(uniq),
             int(keep.sum()), min_confidence)
    return PseudoLabels(uniq[keep], all_probs[keep].astype(np.float32), sub)


def _prob_matrix(col: pa.Array, path: str) -> np.ndarray:
    if not (pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type) or
            pa.types.is_large_list(col.type)) or not pa.types.is_floating(col.type.value_type):
        raise GraphkitError(f"{path}: column 'prob' is {col.type}, not a list of floats.")
    lengths = np.asarray(pc.list_value_length(col).fill_null(-1))
    if (lengths < 0).any():
        raise GraphkitError(f"{path}, row {int(np.flatnonzero(lengths < 0)[0])}: 'prob' is null.")
    if len(lengths) and (lengths != lengths[0]).any():
        row = int(np.flatnonzero(lengths != lengths[0])[0])
        raise GraphkitError(f"{path}, row {row}: 'prob' has {lengths[row]} values, row 0 has {lengths[0]}.")
    width = int(lengths[0]) if len(lengths) else 0
    return np.asarray(pc.list_flatten(col), dtype=np.float32).reshape(len(col), width)
