r"""Graph-aware fine-tuning: the texts of connected nodes should be close (LM-GNN's graph-aware BERT).

Ioannidis et al., *Efficient and effective training of language and graph neural network
models* (2022), fine-tune the LM on link prediction over the graph before training the GNN.
Here a batch is ``B`` edges ``(u_i, v_i)`` of one edge type. Both ends are encoded with the
shared LM, pooled and L2-normalised (:math:`s_i`, :math:`d_i`), and the loss is the symmetric
InfoNCE with in-batch negatives,

.. math::
    \mathcal{L} = \tfrac12\Big(\mathrm{CE}\big(S D^\top/\tau, I\big) + \mathrm{CE}\big(D S^\top/\tau, I\big)\Big),

where every other edge's destination (source) is a negative for edge :math:`i`. With
``num_negatives = K`` each batch also draws :math:`K` random destination nodes, shared by the
batch ("joint" negatives), as extra columns of :math:`S D^\top`. A candidate that *is* the
positive node (the same node twice in a batch) is masked out rather than counted as a negative.

Edges in a link-prediction label's validation or test mask are left out of training; the
validation edges (if any) give the in-batch MRR that picks the epoch to keep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from graphkit.errors import GraphkitError
from graphkit.lm.finetune.base import Objective
from graphkit.lm.finetune.text import NodeText
from graphkit.lm.tokens import text_node_types
from graphkit.schema.graph_meta import EdgeType, EdgeTypeMeta
from graphkit.storage.graph import Graph

log = logging.getLogger(__name__)


def parse_etype(text: str, graph: Graph) -> EdgeType:
    parts = tuple(p.strip() for p in text.split(","))
    if len(parts) != 3:
        raise GraphkitError(f"--etype '{text}' is not 'src,relation,dst'.")
    graph.meta.edge_type(parts)  # raises for unknown types, listing the known ones
    return parts  # type: ignore[return-value]


def lp_split_masks(graph: Graph, etype: EdgeType) -> Optional[tuple[str, str]]:
    """Names of the (val, test) masks of a link-prediction label of ``etype`` (or of its forward type)."""
    meta: EdgeTypeMeta = graph.meta.edge_type(etype)
    labels = meta.labels
    if not labels and meta.reverse_of:
        labels = graph.meta.edge_type(tuple(meta.reverse_of)).labels  # type: ignore[arg-type]
    for label in labels.values():
        if label.task_type == "link_prediction" and len(label.mask_names) == 3:
            val, test = label.mask_names[1], label.mask_names[2]
            if val in meta.masks and test in meta.masks:
                return val, test
    return None


@dataclass
class EdgeSplit:
    etype: EdgeType
    src: np.ndarray  # endpoints of every edge of the type (memory-mapped)
    dst: np.ndarray
    train: np.ndarray  # edge IDs
    val: np.ndarray
    test: np.ndarray


class GraphAwareObjective(Objective):
    """Link prediction on text with in-batch (and optional joint random) negatives; see the module docstring.

    Args:
        graph: The graph.
        etypes: Edge types to train on; default every forward edge type whose ends both have tokens.
        temperature: :math:`\\tau` of the InfoNCE loss.
        num_negatives: Extra random destination nodes per batch (0: in-batch negatives only).
        train_edges: Keep this many random training edges (all edge types together); None: all.
        eval_rows: Evaluate on at most this many validation/test edges per edge type; None: all.
        seed: Seed of the subsampling.
    """

    mode = "graph-aware"

    def __init__(self, graph: Graph, etypes: Optional[Sequence[str]] = None, temperature: float = 0.05,
                 num_negatives: int = 0, train_edges: Optional[int] = None, eval_rows: Optional[int] = None,
                 seed: int = 0) -> None:
        if temperature <= 0:
            raise GraphkitError(f"--temperature must be > 0, got {temperature}.")
        if num_negatives < 0:
            raise GraphkitError(f"--num-negatives must be >= 0, got {num_negatives}.")
        self.graph = graph
        self.temperature = float(temperature)
        self.num_negatives = int(num_negatives)
        text_types = set(text_node_types(graph.meta))
        if etypes:
            chosen = [parse_etype(e, graph) for e in etypes]
            for e in chosen:
                missing = [t for t in (e[0], e[2]) if t not in text_types]
                if missing:
                    raise GraphkitError(f"--etype {','.join(e)}: node type '{missing[0]}' has no token features.",
                                        hint="Both ends of the edge type need text: add a tokenize_hf transform "
                                             "to their node types in the construction config.")
        else:
            chosen = [m.etype for m in graph.meta.edge_types
                      if not m.reverse_of and m.src_type in text_types and m.dst_type in text_types]
            if not chosen:
                raise GraphkitError("no edge type connects two node types with token features.",
                                    hint="Graph-aware fine-tuning needs text on both ends of an edge type: add "
                                         "tokenize_hf transforms, or use --mode supervised.")
        rng = np.random.default_rng(seed)
        self.splits = [self._split(e, eval_rows, rng) for e in chosen]
        if train_edges is not None:
            self._subsample(int(train_edges), rng)
        if self.num_train() == 0:
            raise GraphkitError("no training edges: every edge of the chosen edge types is a validation or test "
                                "edge.", hint="Choose other edge types with --etype.")
        for s in self.splits:
            log.info("graph-aware fine-tuning on %s: %d training, %d validation, %d test edges", ",".join(s.etype),
                     len(s.train), len(s.val), len(s.test))

    def _split(self, etype: EdgeType, eval_rows: Optional[int], rng: np.random.Generator) -> EdgeSplit:
        src, dst = self.graph.edges(etype)
        n = len(src)
        masks = lp_split_masks(self.graph, etype)
        empty = np.zeros(0, np.int64)
        if masks is None:
            return EdgeSplit(etype, src, dst, np.arange(n, dtype=np.int64), empty, empty)
        val_m = np.asarray(self.graph.edge_mask(etype, masks[0])) != 0
        test_m = np.asarray(self.graph.edge_mask(etype, masks[1])) != 0
        val, test = np.flatnonzero(val_m), np.flatnonzero(test_m)
        if eval_rows is not None:
            val, test = (np.sort(rng.permutation(ids)[:eval_rows]) for ids in (val, test))
        return EdgeSplit(etype, src, dst, np.flatnonzero(~(val_m | test_m)), val, test)

    def _subsample(self, k: int, rng: np.random.Generator) -> None:
        """Keep ``k`` training edges drawn uniformly from all chosen edge types together."""
        total = self.num_train()
        if k >= total:
            return
        keep = np.zeros(total, bool)
        keep[rng.choice(total, size=k, replace=False)] = True
        offset = 0
        for s in self.splits:
            n = len(s.train)
            s.train = s.train[keep[offset:offset + n]]
            offset += n

    def num_train(self) -> int:
        return sum(len(s.train) for s in self.splits)

    def train_batches(self, rng: np.random.Generator, batch_size: int) -> Iterator[tuple[int, np.ndarray]]:
        batches = []
        for i, s in enumerate(self.splits):
            ids = rng.permutation(s.train)
            batches += [(i, ids[a:a + batch_size]) for a in range(0, len(ids), batch_size)]
        min_rows = 1 if self.num_negatives else 2  # one edge and no extra negatives: nothing to contrast
        for j in rng.permutation(len(batches)):
            if len(batches[j][1]) >= min_rows:
                yield batches[j]

    def _logits(self, text: NodeText, split: EdgeSplit, eids: np.ndarray, neg: Optional[np.ndarray]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        s_t, _, d_t = split.etype
        u, v = np.asarray(split.src[eids]), np.asarray(split.dst[eids])
        req = [(s_t, u), (d_t, v)] + ([(d_t, neg)] if neg is not None else [])
        h = [F.normalize(x, dim=-1) for x in text.encode_groups(req)]
        hs, hd = h[0], h[1]
        cand, cand_ids = hd, v
        if neg is not None:
            cand, cand_ids = torch.cat([hd, h[2]]), np.concatenate([v, neg])
        dev = hs.device
        fwd = hs @ cand.T / self.temperature
        bwd = hd @ hs.T / self.temperature
        fwd = fwd.masked_fill(_false_negatives(v, cand_ids, dev), float("-inf"))
        bwd = bwd.masked_fill(_false_negatives(u, u, dev), float("-inf"))
        return fwd, bwd

    def loss(self, text: NodeText, batch: tuple[int, np.ndarray], rng: np.random.Generator) -> torch.Tensor:
        i, eids = batch
        split = self.splits[i]
        neg = None
        if self.num_negatives:
            neg = rng.integers(0, self.graph.num_nodes(split.etype[2]), size=self.num_negatives)
        fwd, bwd = self._logits(text, split, eids, neg)
        target = torch.arange(len(eids), device=fwd.device)
        return 0.5 * (F.cross_entropy(fwd, target) + F.cross_entropy(bwd, target))

    def has_split(self, split: str) -> bool:
        return any(len(getattr(s, split)) for s in self.splits)

    @property
    def select_metric(self) -> Optional[str]:  # type: ignore[override]
        return "mrr" if self.has_split("val") else None

    def evaluate(self, text: NodeText, split: str, batch_size: int) -> dict[str, float]:
        """In-batch MRR and loss over the split's edges, in batches of ``batch_size`` (source -> destination)."""
        rr_sum, loss_sum, n = 0.0, 0.0, 0
        for s in self.splits:
            ids = getattr(s, split)
            for a in range(0, len(ids), batch_size):
                eids = ids[a:a + batch_size]
                fwd, _ = self._logits(text, s, eids, None)
                pos = fwd.diagonal()
                rank = 1 + (fwd > pos.unsqueeze(1)).sum(1)
                rr_sum += float((1.0 / rank.float()).sum())
                loss_sum += float(F.cross_entropy(fwd, torch.arange(len(eids), device=fwd.device), reduction="sum"))
                n += len(eids)
        return {"mrr": rr_sum / max(n, 1), "loss": loss_sum / max(n, 1), "edges": float(n)}

    def describe(self) -> dict[str, Any]:
        return {"etypes": [",".join(s.etype) for s in self.splits], "temperature": self.temperature,
                "num_negatives": self.num_negatives,
                "edges": {",".join(s.etype): {"train": len(s.train), "val": len(s.val), "test": len(s.test)}
                          for s in self.splits}}


def _false_negatives(pos_ids: np.ndarray, cand_ids: np.ndarray, device: torch.device) -> torch.Tensor:
    """``[B, C]``: candidate ``j`` is row ``i``'s positive node but not its own column ``i``."""
    same = torch.from_numpy(np.asarray(pos_ids)[:, None] == np.asarray(cand_ids)[None, :])
    same.fill_diagonal_(False)
    return same.to(device)
