"""Link prediction: score true edges above sampled negatives.

Leak-free by default: validation and test edges are removed from message
passing for training *and* evaluation, in their edge type and in every edge
type sharing their edge IDs (reverse types made by ``--add-reverse-edges``, or
named in ``reverse_edge_types_map`` and carrying their own masks). Setting
``lp_keep_held_out_edges: true`` keeps them in the message-passing graph (only
each batch's targets and their reverses are excluded) — what GraphStorm does
with ``--add-reverse-edges`` and ``lp.yaml``: it reproduces GraphStorm's leaky
MRR on the peer graph (0.244 vs 0.242-0.244), for comparisons only.

Evaluation ranks every val/test edge ``(u, v)`` against
``num_negative_edges_eval`` corrupted sources and as many corrupted
destinations (GraphStorm's protocol, unfiltered).
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from graphkit.distributed.dealt_batches import DealtBatches
from graphkit.errors import ConfigError
from graphkit.loading.pipeline import EdgeSeeds, MiniBatch, _Pipeline
from graphkit.models.decoders import l2_normalize, make_link_scorer
from graphkit.sampling.base import EdgeType
from graphkit.sampling.negative import build_negative_sampler
from graphkit.sampling.neighbor import mix_seed
from graphkit.training.evaluation import EvalOutput
from graphkit.training.losses import make_lp_loss
from graphkit.training.metrics import ranks
from graphkit.training.tasks.base import SPLITS, Task, mask_ids, parse_etype


class LinkTask(Task):
    kind = "link_prediction"
    default_metric = "mrr"
    metric_kind = "link"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        g, cfg = self.graph, self.cfg
        if cfg.train_etype:
            names = [cfg.train_etype] if isinstance(cfg.train_etype, str) else cfg.train_etype
            self.etypes = [parse_etype(t, g, "train_etype") for t in names]
        else:
            self.etypes = [e for e in g.edge_types if not g.meta.edge_type(e).reverse_of]
        if cfg.eval_etype:
            names = [cfg.eval_etype] if isinstance(cfg.eval_etype, str) else cfg.eval_etype
            self.eval_etypes = [parse_etype(t, g, "eval_etype") for t in names]
        else:
            self.eval_etypes = list(self.etypes)
        names = cfg.mask_fields or ["train_mask", "val_mask", "test_mask"]
        self.ids: dict[str, dict[EdgeType, np.ndarray]] = {s: {} for s in SPLITS}
        for e in dict.fromkeys(self.etypes + self.eval_etypes):
            masks = g.meta.edge_type(e).masks
            for s, m in zip(SPLITS, names):
                self.ids[s][e] = mask_ids(g, e, m, node=False) if m in masks else (
                    np.arange(g.num_edges(e)) if s == "train" else np.zeros(0, np.int64))
        self.reverse_map: dict[EdgeType, EdgeType] = {}
        for item in cfg.reverse_edge_types_map or []:
            parts = [p.strip() for p in str(item).split(",")]
            if len(parts) != 4:
                raise ConfigError(f"reverse_edge_types_map entry '{item}' is not 'src,rel,rev_rel,dst'.",
                                  key="reverse_edge_types_map")
            fwd = (parts[0], parts[1], parts[3])
            rev = (parts[3], parts[2], parts[0])
            if fwd in g.edge_types and rev in g.edge_types:
                self.reverse_map[fwd] = rev  # e.g. 'rates-rev' made by --add-reverse-edges is paired anyway
        self.static_exclude = self._held_out_edges(names)
        self.normalize = cfg.lp_embed_normalizer == "l2_norm"
        self.loss_fn = make_lp_loss(cfg.lp_loss_func, temperature=float(cfg.contrastive_loss_temperature))
        n_nodes = {t: g.num_nodes(t) for t in g.node_types}
        self.train_neg = build_negative_sampler(cfg.train_negative_sampler, n_nodes, int(cfg.num_negative_edges))
        self.eval_neg = build_negative_sampler(cfg.eval_negative_sampler, n_nodes, int(cfg.num_negative_edges_eval),
                                               evaluation=True)

    def _held_out_edges(self, names: list[str]) -> dict[EdgeType, np.ndarray]:
        """Val/test edges of every edge type with LP masks, and of reverse types sharing their IDs."""
        g = self.graph
        out: dict[EdgeType, np.ndarray] = {}
        if self.train_cfg.lp_keep_held_out_edges:
            return out  # GraphStorm-compatible (leaky) evaluation
        for e in g.edge_types:
            meta = g.meta.edge_type(e)
            if not all(m in meta.masks for m in names[1:]):
                continue
            held = np.concatenate([mask_ids(g, e, m, node=False) for m in names[1:]])
            if held.size:
                out[e] = held
        return out

    def sampler_options(self) -> dict:
        return {"reverse_types": self.reverse_map, "static_exclude": self.static_exclude}

    def decoder(self, hidden: int) -> nn.Module:
        etypes = list(dict.fromkeys(self.etypes + self.eval_etypes))
        return make_link_scorer(self.cfg.lp_decoder_type, etypes, hidden, gamma=self.cfg.gamma)

    def train_batches(self, seed: int) -> Iterable[MiniBatch]:
        sampler = self.sampler(False)
        loaders = [self.ready(EdgeSeeds(e, self.ids["train"][e], self.batch_size, shuffle=True,
                                        seed=int(mix_seed(seed, i)), **self.shard())
                              .sample(sampler, negative=self.train_neg,
                                      exclude_targets=bool(self.cfg.exclude_training_targets))
                              .fetch(self.store)) for i, e in enumerate(self.etypes)]
        return _Chain(loaders)

    def _embed(self, model: nn.Module, mb: MiniBatch) -> dict[str, torch.Tensor]:
        h = model.embed(mb.subgraph, mb.x)
        return {t: l2_normalize(v) for t, v in h.items()} if self.normalize else h

    def _scores(self, model: nn.Module, mb: MiniBatch) -> tuple[torch.Tensor, torch.Tensor]:
        eb = mb.edges
        assert eb is not None
        s, _, d = eb.etype
        h = self._embed(model, mb)
        scorer = model.decoders[self.name]
        h_src, h_dst = h[s][eb.src_index], h[d][eb.dst_index]
        pos = scorer(h_src, h_dst, eb.etype)
        negs = []
        if eb.neg_dst_index is not None:
            joint = eb.neg_dst_index.dim() == 1
            negs.append(scorer(h_src, h[d][eb.neg_dst_index], eb.etype, joint=joint))
        if eb.neg_src_index is not None:
            neg_src = h[s][eb.neg_src_index]
            negs.append(scorer(neg_src.unsqueeze(0) if neg_src.dim() == 2 else neg_src, h_dst, eb.etype))
        return pos, torch.cat(negs, dim=1)

    def loss(self, model: nn.Module, mb: MiniBatch) -> torch.Tensor:
        pos, neg = self._scores(model, mb)
        return self.loss_fn(pos, neg)

    def eval_loaders(self, split: str, deal: Callable[[_Pipeline], DealtBatches]) -> list[DealtBatches]:
        sampler = self.sampler(True)
        return [deal(EdgeSeeds(e, self.ids[split][e], int(self.train_cfg.eval_batch_size), seed=int(mix_seed(7, i))))
                .sample(sampler, negative=self.eval_neg, exclude_targets=False).fetch(self.store)
                for i, e in enumerate(self.eval_etypes) if self.ids[split][e].size]

    def eval_outputs(self, model: nn.Module, mb: MiniBatch) -> EvalOutput:
        """Each positive edge's rank among its own negatives, keyed by edge ID (no labels)."""
        assert mb.eids is not None
        pos, neg = self._scores(model, mb)
        r = ranks(pos, neg)
        return EvalOutput(mb.eids, r, r.new_zeros((r.shape[0], 0)))

    def score(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
        return self.scalarize({m.name: m.from_ranks(a) for m in self.metrics})


class _Chain:
    """Batches of several edge types' loaders, one after another (GraphStorm's per-etype batches)."""

    def __init__(self, loaders: list) -> None:
        self.loaders = loaders

    def set_epoch(self, epoch: int) -> None:
        for ld in self.loaders:
            ld.set_epoch(epoch)

    def __len__(self) -> int:
        return sum(len(ld) for ld in self.loaders)

    def __iter__(self) -> Iterator[MiniBatch]:
        return itertools.chain.from_iterable(self.loaders)
