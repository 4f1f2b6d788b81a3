"""``graphkit infer``: a trained model over the whole graph -> embeddings, predictions, ranked links."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from graphkit.distributed.context import DistContext, current
from graphkit.inference.embeddings import node_embeddings
from graphkit.inference.outputs import parts_needed, write_embeddings, write_links, write_node_predictions, write_parts
from graphkit.inference.ranks import first_part, rank_output_dir, share, share_counts
from graphkit.models.decoders import l2_normalize
from graphkit.storage.graph import Graph
from graphkit.storage.paths import safe_name
from graphkit.training.checkpoint import load_checkpoint, load_model_state
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
    load_model_state(model, ck["model"], model_path)
    model.eval()
    return cfg, store, tasks, model


@torch.no_grad()
def top_k_links(scorer, etype, h_src: torch.Tensor, h_dst: torch.Tensor, k: int, indptr: np.ndarray,
                indices: np.ndarray, exclude_known: bool,
                chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    if not srcs:  # no source nodes (e.g. an empty share)
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(srcs), np.concatenate(dsts), np.concatenate(scores)


@torch.no_grad()
def run_inference(graph: Graph, model_path: str, save_embed_path: Optional[str] = None,
                  save_prediction_path: Optional[str] = None, topk: int = 10, exclude_known_links: bool = True,
                  overrides: Optional[dict] = None,
                  embedding_hook: Optional[Callable[[dict], dict]] = None,
                  ctx: Optional[DistContext] = None, device: Optional[str] = None) -> InferenceResult:
    """Embeddings, predictions and ranked links of the model in ``model_path``, as Parquet by raw ID.

    ``embedding_hook(emb) -> emb`` may replace rows before any output (graphkit.distill.predict.isolated_hook).
    ``ctx``: the ranks sharing the work (default: the job's, :func:`~graphkit.distributed.context.current`).
    Under torchrun every rank calls this: each computes its share of every layer and writes the parts of
    its share of nodes (node outputs, ranked links by source node) and of edges (edge predictions, by edge
    ID) into the same output folders (:mod:`graphkit.inference.ranks`). ``device``: where the GNN computes
    the embeddings (default: the context's); the decoders run on the CPU, where the embeddings are kept.
    """
    ctx = ctx or current()
    dev = torch.device(device or ctx.device)
    with contextlib.ExitStack() as outputs:  # created (and checked) first, renamed into place at the end
        emb_dir = outputs.enter_context(rank_output_dir(save_embed_path, (MARKER,), ctx)) if save_embed_path else None
        pred_dir = outputs.enter_context(rank_output_dir(save_prediction_path, (MARKER,), ctx)) \
            if save_prediction_path else None
        cfg, store, tasks, model = load_model(graph, model_path, overrides)
        emb = node_embeddings(model.to(dev), graph, store, int(cfg.eval_batch_size), ctx=ctx, device=dev)
        model.cpu()
        if embedding_hook is not None:
            emb = embedding_hook(emb)
        res = InferenceResult()
        if any(isinstance(t, LinkTask) and t.normalize for t in tasks):
            emb = {t: l2_normalize(v) for t, v in emb.items()}
        if emb_dir:
            if ctx.is_main:
                open(os.path.join(emb_dir, MARKER), "w").close()
            for t, v in emb.items():
                lo, hi = share(v.shape[0], ctx.rank, ctx.world_size)
                write_embeddings(emb_dir, t, graph.id_map(t).slice(lo, hi - lo), v[lo:hi].numpy(),
                                 first=_first_part(share_counts(v.shape[0], ctx.world_size), ctx))
                res.embeddings[t] = os.path.join(str(save_embed_path), safe_name(t))
        if pred_dir:
            if ctx.is_main:
                open(os.path.join(pred_dir, MARKER), "w").close()
            for task in tasks:
                folder = _predict(task, model, graph, emb, pred_dir, topk, exclude_known_links, ctx)
                res.predictions[task.name] = os.path.join(str(save_prediction_path),
                                                          os.path.relpath(folder, pred_dir))
    if save_embed_path:
        log.info("embeddings of %d node type(s) written to %s", len(emb), save_embed_path)
    if save_prediction_path:
        log.info("predictions written to %s", save_prediction_path)
    return res


def _first_part(rows_per_rank: list[int], ctx: DistContext) -> int:
    """This rank's first part file number: the files written by the ranks before it."""
    return first_part([parts_needed(r) for r in rows_per_rank], ctx.rank)


def _predict(task, model, graph: Graph, emb: dict, out: str, topk: int, exclude_known: bool,
             ctx: DistContext) -> str:
    decoder = model.decoders[task.name]
    if isinstance(task, NodeTask):
        n = emb[task.ntype].shape[0]
        lo, hi = share(n, ctx.rank, ctx.world_size)
        ids, first = graph.id_map(task.ntype).slice(lo, hi - lo), _first_part(share_counts(n, ctx.world_size), ctx)
        out_t = decoder(emb[task.ntype][lo:hi])
        classes = graph.meta.node_type(task.ntype).labels[task.label_name].classes
        if task.regression:
            return write_node_predictions(out, task.ntype, ids, out_t.squeeze(-1).numpy(), first=first)
        prob = torch.sigmoid(out_t) if task.cfg.multilabel else torch.softmax(out_t, dim=-1)
        pred = (prob > 0.5).long() if task.cfg.multilabel else prob.argmax(-1)
        if task.cfg.multilabel:
            return write_node_predictions(out, task.ntype, ids, pred.numpy(), prob.numpy(), first=first)
        return write_node_predictions(out, task.ntype, ids, pred.numpy(), prob.numpy(), classes, first=first)
    if isinstance(task, EdgeTask):
        s, _, d = task.etype
        m = graph.num_edges(task.etype)
        lo, hi = share(m, ctx.rank, ctx.world_size)  # by edge ID: the parts in order are the edges in order
        src, dst = (np.array(a[lo:hi]) for a in graph.edges(task.etype))  # writable copies of the mapped arrays
        feat = task.edge_features(np.arange(lo, hi))
        o = decoder(emb[s][torch.from_numpy(src)], emb[d][torch.from_numpy(dst)], feat)
        pred = o.squeeze(-1).numpy() if task.regression else o.argmax(-1).numpy()
        folder = os.path.join(out, safe_name(",".join(task.etype)))
        write_parts(folder, {"src_id": graph.id_map(s).take(src), "dst_id": graph.id_map(d).take(dst), "pred": pred},
                    first=_first_part(share_counts(m, ctx.world_size), ctx))
        return folder
    assert isinstance(task, LinkTask)
    folder = out
    for e in task.etypes:
        s, _, d = e
        n_src, k = emb[s].shape[0], min(topk, emb[d].shape[0])
        lo, hi = share(n_src, ctx.rank, ctx.world_size)  # by source node
        indptr, indices, _ = (np.asarray(a) for a in graph.csr(e))
        src, dst, score = top_k_links(decoder, e, emb[s][lo:hi], emb[d], topk, indptr[lo:hi + 1], indices,
                                      exclude_known)
        rank = np.tile(np.arange(1, k + 1), hi - lo)
        folder = write_links(out, e, graph.id_map(s).take(src + lo), graph.id_map(d).take(dst), score, rank,
                             first=_first_part([c * k for c in share_counts(n_src, ctx.world_size)], ctx))
    return folder
