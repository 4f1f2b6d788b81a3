"""A language model as the input encoder of text node types, trained end to end with the GNN.

GraphStorm's LM+GNN co-training (its ``GSLMNodeEncoderInputLayer``): the tokens of a text node
type go through a Hugging Face encoder (BERT, ...), are pooled to one vector per node and, in
:class:`~graphkit.models.input.InputLayer`, projected to the GNN's hidden size. Running the LM
with gradients over every input node of a mini-batch (thousands of texts after two hops of
sampling) does not fit in memory, so per mini-batch:

- ``train_nodes`` nodes (GraphStorm's ``lm_train_nodes``; -1: all) run with gradients. They are
  the batch's first input nodes of the LM's node types: samplers list the seed nodes first,
  then their 1-hop neighbours, then 2-hop, so these are the seeds (a random subset of them, as
  seed batches are shuffled) and then the nodes nearest to them, whose text matters most to the
  loss. (GraphStorm draws random input nodes instead, mostly far neighbours.) The choice uses no
  random numbers, so it does not shift the run's random stream;
- the rest run forward-only (``torch.no_grad``, LM in eval mode: no dropout), in sub-batches of
  ``infer_batch_size`` (``lm_infer_batch_size``).

With ``cache`` (``cache_lm_embed``) forward-only embeddings are kept in a per-node table and
reused: in training, any row computed since the epoch began is reused (at most one epoch old,
the staleness historical-embedding methods accept; rows computed with gradients refresh it); in
evaluation only rows computed forward-only with the current LM weights, so evaluation and
inference results are exact. "Current weights" is tracked by the parameters' in-place version
counters, which every optimizer step and ``load_state_dict`` bump. A frozen or static LM
(``train_nodes`` 0) is thus run once per node for a whole run. The table holds ``num_nodes x
hidden`` float32 per text type, on the LM's device; it is not saved in checkpoints.

For the first ``freeze_epochs`` epochs (``freeze_lm_encoder_epochs``; ``set_epoch`` is called by
the trainer) every node runs forward-only: the GNN warms up on fixed text embeddings. Parameters
keep ``requires_grad`` (DDP needs a fixed parameter set; unused ones are allowed), they just get
no gradient, so optimizers leave them untouched.

``precision`` ``auto`` runs the LM under bfloat16 autocast on GPUs with bfloat16 and in float32
elsewhere; ``bf16`` also uses bfloat16 on CPUs that compute it natively (AVX512-BF16 or AMX, about
1.7x faster there; see :mod:`graphkit.lm.device`); ``fp32`` never does. Weights stay float32; no
loss scaling is needed, unlike float16, which is not used; pooled outputs are float32. Padding columns that
are padding in every row of a sub-batch are dropped before the LM runs (outputs unchanged).

Args:
    lm: a Hugging Face encoder (``transformers.AutoModel``) whose output has ``last_hidden_state``.
    node_types: the text node types it encodes.
    num_nodes: ``{node type: number of nodes}`` (sizes the cache).
    train_nodes: nodes per mini-batch that back-propagate through the LM; -1 all, 0 none (default: 0).
    infer_batch_size: texts per forward-only pass (default: 32).
    pooling: ``pooler`` (falls back to ``cls`` without a pooler), ``cls`` or ``mean`` (default: pooler).
    freeze_epochs: epochs during which the LM gets no gradient (default: 0).
    cache: keep forward-only embeddings across steps (default: False).
    gradient_checkpoint: recompute LM activations in backward to save memory (default: False).
    max_seq_length: read only the first N stored tokens of every text (default: all).
    precision: ``auto``, ``fp32`` or ``bf16`` (default: auto).

Shapes:
    input: ``nodes[t]`` global IDs ``[n_t]``, ``texts[t]`` :class:`TextFeatures` of ``n_t`` rows.
    output: ``{t: [n_t, lm hidden size]}``.
"""

from __future__ import annotations

import logging
from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from graphkit.errors import ConfigError
from graphkit.lm.device import autocast, resolve_precision
from graphkit.lm.embed import accepts_token_types, pool
from graphkit.loading.features import TextFeatures
from graphkit.sampling.base import NodeType

log = logging.getLogger(__name__)

LM_PRECISIONS = ("auto", "fp32", "bf16")  # co-training: no fp16 (it would need loss scaling)


class _EmbeddingCache:
    """Per node: its last LM embedding, the LM weight version it was computed with, and whether
    it was computed forward-only (eval mode, so reusable as an exact result)."""

    def __init__(self, num_nodes: int, dim: int, device: torch.device) -> None:
        self.emb = torch.zeros(num_nodes, dim, device=device)
        self.version = torch.full((num_nodes,), -1, dtype=torch.int64, device=device)
        self.exact = torch.zeros(num_nodes, dtype=torch.bool, device=device)

    def valid(self, ids: torch.Tensor, since: int, now: int, exact: bool) -> torch.Tensor:
        v = self.version[ids]
        return (v == now) & self.exact[ids] if exact else v >= since

    def store(self, ids: torch.Tensor, emb: torch.Tensor, now: int, exact: bool) -> None:
        self.emb[ids] = emb.detach().to(self.emb.dtype)
        self.version[ids] = now
        self.exact[ids] = exact


class LMNodeEncoder(nn.Module):
    def __init__(self, lm: nn.Module, node_types: Sequence[NodeType], num_nodes: Mapping[NodeType, int],
                 train_nodes: int = 0, infer_batch_size: int = 32, pooling: str = "pooler", freeze_epochs: int = 0,
                 cache: bool = False, gradient_checkpoint: bool = False, max_seq_length: Optional[int] = None,
                 precision: str = "auto") -> None:
        super().__init__()
        if precision not in LM_PRECISIONS:
            raise ValueError(f"precision must be one of {LM_PRECISIONS}, got {precision!r}")
        self.precision = precision
        self._resolved: dict[torch.device, str] = {}
        self.max_seq_length = max_seq_length
        self.lm = lm
        self.node_types = tuple(node_types)
        self.num_nodes = {t: int(num_nodes[t]) for t in self.node_types}
        self.out_dim = int(lm.config.hidden_size)
        self.train_nodes, self.infer_batch_size, self.pooling = int(train_nodes), int(infer_batch_size), pooling
        self.freeze_epochs, self.use_cache = int(freeze_epochs), bool(cache)
        self.frozen = self.freeze_epochs > 0
        self._takes_token_types = accepts_token_types(lm)
        if gradient_checkpoint:
            if not getattr(lm, "supports_gradient_checkpointing", False):
                raise ConfigError(f"the language model {type(lm).__name__} does not support gradient checkpointing.",
                                  key="node_lm_configs.gradient_checkpoint")
            # Non-reentrant checkpointing works with forward-only passes and DDP's unused parameters.
            if hasattr(lm, "activation_checkpointing_enable"):  # transformers >= 5.x's name
                lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            else:
                lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self._cache: dict[NodeType, _EmbeddingCache] = {}
        self._epoch_version = 0
        self.last_trained: dict[NodeType, torch.Tensor] = {}  # global IDs run with gradients in the last step
        self.stats = {"with_grad": 0, "forward_only": 0, "cache_hits": 0}  # rows since the last set_epoch

    def extra_repr(self) -> str:
        return (f"node_types={list(self.node_types)}, out_dim={self.out_dim}, train_nodes={self.train_nodes}, "
                f"infer_batch_size={self.infer_batch_size}, pooling={self.pooling}, "
                f"freeze_epochs={self.freeze_epochs}, cache={self.use_cache}")

    def set_epoch(self, epoch: int) -> None:
        """Freeze or unfreeze the LM for ``epoch``; the training cache starts over."""
        if any(self.stats.values()):
            log.info("LM encoder %s: %d texts with gradients, %d forward-only, %d from the cache",
                     ",".join(self.node_types), self.stats["with_grad"], self.stats["forward_only"],
                     self.stats["cache_hits"])
        self.stats = dict.fromkeys(self.stats, 0)
        frozen = epoch < self.freeze_epochs
        if self.frozen and not frozen and self.train_nodes != 0:
            log.info("LM encoder %s: fine-tuning the LM from epoch %d", ",".join(self.node_types), epoch)
        self.frozen = frozen
        self._epoch_version = self.weights_version()

    def weights_version(self) -> int:
        """Grows with every in-place change of the LM's weights (optimizer steps, loading a state dict)."""
        return sum(p._version for p in self.lm.parameters())

    # --- forward ---------------------------------------------------------------------------
    def forward(self, nodes: Mapping[NodeType, torch.Tensor], texts: Mapping[NodeType, TextFeatures]
                ) -> dict[NodeType, torch.Tensor]:
        types = [t for t in self.node_types if t in nodes]
        device = next(self.lm.parameters()).device
        with_grad = self.training and torch.is_grad_enabled() and not self.frozen and self.train_nodes != 0
        chosen = self._train_rows([len(texts[t]) for t in types], device) if with_grad else {}
        pieces: dict[NodeType, list[tuple[torch.Tensor, torch.Tensor]]] = {t: [] for t in types}
        self.last_trained = {}
        version = self.weights_version()
        sel = {types[i]: rows for i, rows in chosen.items() if rows.numel()}
        if sel:
            emb = self._encode(_concat([texts[t].to(device).rows(r) for t, r in sel.items()]))
            for (t, rows), e in zip(sel.items(), emb.split([r.numel() for r in sel.values()])):
                pieces[t].append((rows, e))
                ids = nodes[t].to(device)[rows]
                self.last_trained[t] = ids
                if self.use_cache:
                    self._table(t, device).store(ids, e, version, exact=False)
            self.stats["with_grad"] += int(emb.shape[0])
        rest = {}
        for i, t in enumerate(types):
            n = len(texts[t])
            keep = torch.ones(n, dtype=torch.bool, device=device)
            if i in chosen:
                keep[chosen[i]] = False
            rows = keep.nonzero().squeeze(1)
            if self.use_cache and rows.numel():
                ids = nodes[t].to(device)[rows]
                hit = self._table(t, device).valid(ids, self._epoch_version, version, exact=not self.training)
                if bool(hit.any()):
                    pieces[t].append((rows[hit], self._cache[t].emb[ids[hit]]))
                    self.stats["cache_hits"] += int(hit.sum())
                rows = rows[~hit]
            if rows.numel():
                rest[t] = rows
        if rest:
            emb = self._encode_forward_only(_concat([texts[t].to(device).rows(r) for t, r in rest.items()]))
            for (t, rows), e in zip(rest.items(), emb.split([r.numel() for r in rest.values()])):
                pieces[t].append((rows, e))
                if self.use_cache:
                    self._table(t, device).store(nodes[t].to(device)[rows], e, version, exact=True)
            self.stats["forward_only"] += int(emb.shape[0])
        return {t: _assemble(pieces[t], len(texts[t]), self.out_dim, device) for t in types}

    def _train_rows(self, sizes: list[int], device: torch.device) -> dict[int, torch.Tensor]:
        """Per node type (by index), the batch rows that run with gradients: the first ``train_nodes``
        rows in input order, taken position by position across the LM's node types."""
        total = sum(sizes)
        if self.train_nodes == -1 or self.train_nodes >= total:
            return {i: torch.arange(n, device=device) for i, n in enumerate(sizes)}
        pos = torch.cat([torch.arange(n, device=device) for n in sizes])
        typ = torch.cat([torch.full((n,), i, device=device) for i, n in enumerate(sizes)])
        first = torch.argsort(pos * len(sizes) + typ)[: self.train_nodes]
        return {i: pos[first[typ[first] == i]].sort().values for i in range(len(sizes))}

    def _table(self, ntype: NodeType, device: torch.device) -> _EmbeddingCache:
        c = self._cache.get(ntype)
        if c is None or c.emb.device != device:
            c = self._cache[ntype] = _EmbeddingCache(self.num_nodes[ntype], self.out_dim, device)
        return c

    def _encode_forward_only(self, text: TextFeatures) -> torch.Tensor:
        was = self.lm.training
        self.lm.eval()
        try:
            with torch.no_grad():
                n = len(text)
                return torch.cat([self._encode(text.rows(slice(s, s + self.infer_batch_size)))
                                  for s in range(0, n, self.infer_batch_size)])
        finally:
            self.lm.train(was)

    def _encode(self, text: TextFeatures) -> torch.Tensor:
        """Pooled LM output of the rows of ``text`` (all on the LM's device), float32 ``[n, out_dim]``."""
        mask = text.attention_mask
        used = mask.any(0).nonzero()
        length = int(used.max()) + 1 if used.numel() else 1  # drop columns that are padding in every row
        if self.max_seq_length:
            length = min(length, self.max_seq_length)
        mask = mask[:, :length].long()
        kwargs = {"input_ids": text.input_ids[:, :length].long(), "attention_mask": mask}
        if text.token_type_ids is not None and self._takes_token_types:
            kwargs["token_type_ids"] = text.token_type_ids[:, :length].long()
        device = mask.device
        if device not in self._resolved:
            self._resolved[device] = resolve_precision(self.precision, device, fp16=False)
        with autocast(device, self._resolved[device]):
            out = self.lm(**kwargs)
        return pool(out, mask, self.pooling).float()


def _concat(parts: list[TextFeatures]) -> TextFeatures:
    """The token rows of several node types as one batch (shorter sequences padded at the end)."""
    if len(parts) == 1:
        return parts[0]
    length = max(p.input_ids.shape[1] for p in parts)

    def cat(name: str) -> Optional[torch.Tensor]:
        ts = [getattr(p, name) for p in parts]
        if any(t is None for t in ts):
            return None
        return torch.cat([nn.functional.pad(t.long(), (0, length - t.shape[1])) for t in ts])

    return TextFeatures(cat("input_ids"), cat("attention_mask"), cat("token_type_ids"))  # type: ignore[arg-type]


def _assemble(pieces: list[tuple[torch.Tensor, torch.Tensor]], n: int, dim: int, device: torch.device
              ) -> torch.Tensor:
    """Rows of one node type from (batch rows, embeddings) pieces, keeping the autograd graph."""
    if len(pieces) == 1 and pieces[0][0].numel() == n:
        rows, emb = pieces[0]
        return emb.index_select(0, torch.argsort(rows))
    out = torch.zeros(n, dim, device=device)
    for rows, emb in pieces:
        out = out.index_copy(0, rows, emb.to(out.dtype))
    return out
