"""``graphkit infer``: a trained model over the whole graph -> embeddings, predictions, ranked links."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from graphkit.inference.embeddings import node_embeddings
from graphkit.inference.outputs import write_embeddings, write_links, write_node_predictions, write_parts
from graphkit.models.decoders import l2_normalize
from graphkit.storage.atomic import atomic_output_dir
from graphkit.storage.graph import Graph
from graphkit.storage.paths import safe_name
from graphkit.training.checkpoint import load_checkpoint
from graphkit.training.config import TrainConfig, apply_overrides
from graphkit.training.tasks.edge import EdgeTask
from graphkit.training.tasks.link import LinkTask
from graphkit.training.tasks.node import NodeTask
from graphkit.training.trainer import setup

log = logging.getLogger(__name__)
MARKER = "_GRAPHKIT_OUTPUT"


@dataclass
class InferenceResult:
    embeddings: dict[str, str] = field(default_factory=dict)  # ntype -> folder
    predictions: dict[str, str] = field(default_factory=dict)  # task -> folder


def load_model(graph: Graph, model_path: str, overrides: Optional[dict] = None):
    ck = load_checkpoint(model_path)
    cfg = TrainConfig.from_json(ck["config"])
    if overrides:
        apply_overrides(cfg, overrides)
    store, tasks, model = setup(graph, cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    return cfg, store, tasks, model


@torch.no_grad()
def top_k_links(scorer, etype, h_src: torch.Tensor, h_dst: torch.Tensor, k: int, indptr: np.ndarray,
                indices: np.ndarray, exclude_known: bool, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every source node, its ``k`` best-scoring destinations (known edges excluded if asked)."""
    k = min(k, h_dst.shape[0])
    srcs, dsts, scores = [], [], []
    for start in range(0, h_src.shape[0], chunk):
        stop = min(start + chunk, h_src.shape[0])
        s = scorer(h_src[start:stop], h_dst, etype, joint=True)  # [chunk, N_dst]
        if exclude_known:
            rows = np.repeat(np.arange(stop - start), np.diff(indptr[start:stop + 1]))
            cols = np.array(indices[indptr[start]:indptr[stop]])  # a writable copy of the memory-mapped slice
            s[torch.from_numpy(rows), torch.from_numpy(cols)] = float("-inf")
        val, idx = torch.topk(s, k, dim=1)
        srcs.append(np.repeat(np.arange(start, stop), k))
        dsts.append(idx.reshape(-1).numpy())
        scores.append(val.reshape(-1).numpy())
    return np.concatenate(srcs), np.concatenate(dsts), np.concatenate(scores)


@torch.no_grad()
def run_inference(graph: Graph, model_path: str, save_embed_path: Optional[str] = None,
                  save_prediction_path: Optional[str] = None, topk: int = 10, exclude_known_links: bool = True,
                  overrides: Optional[dict] = None) -> InferenceResult:
    cfg, store, tasks, model = load_model(graph, model_path, overrides)
    emb = node_embeddings(model, graph, store, int(cfg.eval_batch_size))
    res = InferenceResult()
    if any(isinstance(t, LinkTask) and t.normalize for t in tasks):
        emb = {t: l2_normalize(v) for t, v in emb.items()}
    if save_embed_path:
        with atomic_output_dir(save_embed_path, markers=(MARKER,)) as tmp:
            open(os.path.join(tmp, MARKER), "w").close()
            for t, v in emb.items():
                write_embeddings(tmp, t, graph.id_map(t), v.numpy())
                res.embeddings[t] = os.path.join(save_embed_path, safe_name(t))
        log.info("embeddings of %d node type(s) written to %s", len(emb), save_embed_path)
    if save_prediction_path:
        with atomic_output_dir(save_prediction_path, markers=(MARKER,)) as tmp:
            open(os.path.join(tmp, MARKER), "w").close()
            for task in tasks:
                folder = _predict(task, model, graph, emb, tmp, topk, exclude_known_links)
                res.predictions[task.name] = os.path.join(save_prediction_path, os.path.relpath(folder, tmp))
        log.info("predictions written to %s", save_prediction_path)
    return res


def _predict(task, model, graph: Graph, emb: dict, out: str, topk: int, exclude_known: bool) -> str:
    decoder = model.decoders[task.name]
    if isinstance(task, NodeTask):
        out_t = decoder(emb[task.ntype])
        classes = graph.meta.node_type(task.ntype).labels[task.label_name].classes
        if task.regression:
            return write_node_predictions(out, task.ntype, graph.id_map(task.ntype), out_t.squeeze(-1).numpy())
        prob = torch.sigmoid(out_t) if task.cfg.multilabel else torch.softmax(out_t, dim=-1)
        pred = (prob > 0.5).long() if task.cfg.multilabel else prob.argmax(-1)
        if task.cfg.multilabel:
            return write_node_predictions(out, task.ntype, graph.id_map(task.ntype), pred.numpy(), prob.numpy())
        return write_node_predictions(out, task.ntype, graph.id_map(task.ntype), pred.numpy(), prob.numpy(), classes)
    if isinstance(task, EdgeTask):
        s, _, d = task.etype
        src, dst = (np.array(a) for a in graph.edges(task.etype))  # writable copies of the memory-mapped arrays
        feat = task.edge_features(np.arange(len(src)))
        o = decoder(emb[s][torch.from_numpy(src)], emb[d][torch.from_numpy(dst)], feat)
        pred = o.squeeze(-1).numpy() if task.regression else o.argmax(-1).numpy()
        folder = os.path.join(out, safe_name(",".join(task.etype)))
        write_parts(folder, {"src_id": graph.id_map(s).take(src), "dst_id": graph.id_map(d).take(dst), "pred": pred})
        return folder
    assert isinstance(task, LinkTask)
    folder = out
    for e in task.etypes:
        s, _, d = e
        indptr, indices, _ = (np.asarray(a) for a in graph.csr(e))
        src, dst, score = top_k_links(decoder, e, emb[s], emb[d], topk, indptr, indices, exclude_known)
        rank = np.tile(np.arange(1, min(topk, emb[d].shape[0]) + 1), emb[s].shape[0])
        folder = write_links(out, e, graph.id_map(s).take(src), graph.id_map(d).take(dst), score, rank)
    return folder
