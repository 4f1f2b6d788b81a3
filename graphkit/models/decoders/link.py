"""Link-prediction score functions: ``forward(h_src, h_dst, etype) -> scores``.

Three layouts, matching :mod:`graphkit.sampling.negative`:

* **paired** ``h_src [B, d]``, ``h_dst [B, d]`` -> ``[B]``;
* **per positive** ``h_src [B, d]``, ``h_dst [B, K, d]`` -> ``[B, K]`` (or the
  corrupted sources ``h_src [B, K, d]`` against ``h_dst [B, d]``);
* **joint** ``h_src [B, d]``, ``h_dst [K, d]`` -> ``[B, K]``: ``K`` negatives
  shared by the batch. With ``B == K`` the layout is ambiguous: pass
  ``joint=True`` (or ``h_dst`` as ``[1, K, d]``). Corrupted sources in the
  joint layout: ``h_src [1, K, d]`` against ``h_dst [B, d]`` -> ``[B, K]``.

Formulas, initialisation and the default ``gamma`` (12, GraphStorm's
``create_builtin_lp_decoder``) follow GraphStorm's
``python/graphstorm/model/edge_decoder.py`` and ``eval/utils.py``. Relation
parameters are keyed by the canonical edge type ``"src,rel,dst"``. Embedding
normalisation (``lp_embed_normalizer``) is the caller's: see :func:`l2_normalize`.

Note: TransE's score is GraphStorm's ``calc_transe_pos_score``; its relation
initialisation (uniform in ``+-gamma/d``, as for DistMult) is inferred, since
GraphStorm's ``LinkPredictTransEDecoder`` class itself was not checked.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from graphkit.errors import ConfigError, did_you_mean

EdgeTypeLike = Union[tuple[str, str, str], str]
DEFAULT_GAMMA = 12.0


def l2_normalize(h: torch.Tensor) -> torch.Tensor:
    """``h / ||h||_2`` along the last dimension (GraphStorm's ``lp_embed_normalizer: l2_norm``)."""
    return F.normalize(h, p=2.0, dim=-1)


def etype_key(etype: EdgeTypeLike) -> str:
    """A ParameterDict key for an edge type: ``"src,rel,dst"`` with ``%`` and ``.`` escaped."""
    text = etype if isinstance(etype, str) else ",".join(etype)
    return text.replace("%", "%25").replace(".", "%2E")


def broadcast_pair(h_src: torch.Tensor, h_dst: torch.Tensor,
                   joint: Optional[bool] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``h_src`` and ``h_dst`` reshaped so that they broadcast to ``[B, d]`` or ``[B, K, d]``."""
    if h_src.dim() == 2 and h_dst.dim() == 2:
        if joint is None:
            joint = h_src.shape[0] != h_dst.shape[0]
        if joint:
            return h_src.unsqueeze(1), h_dst.unsqueeze(0)
        if h_src.shape != h_dst.shape:
            raise ValueError(f"paired scoring needs equal shapes, got {tuple(h_src.shape)} and {tuple(h_dst.shape)}")
        return h_src, h_dst
    if h_src.dim() == 2 and h_dst.dim() == 3:
        return h_src.unsqueeze(1), h_dst
    if h_src.dim() == 3 and h_dst.dim() == 2:
        return h_src, h_dst.unsqueeze(1)
    raise ValueError(f"cannot pair h_src {tuple(h_src.shape)} with h_dst {tuple(h_dst.shape)}")


def _inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(a * b).sum(-1)`` for broadcast pairs, as a matmul when one side has a singleton K."""
    if a.dim() == 3 and a.shape[1] == 1:
        return (a @ b.transpose(1, 2)).squeeze(1)
    if a.dim() == 3 and b.shape[1] == 1:
        return (b @ a.transpose(1, 2)).squeeze(1)
    return (a * b).sum(-1)


class LinkScorer(nn.Module):
    """Base: ``forward`` broadcasts the pair, ``score`` computes on broadcastable ``[..., d]`` tensors."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, h_src: torch.Tensor, h_dst: torch.Tensor, etype: Optional[EdgeTypeLike] = None,
                joint: Optional[bool] = None) -> torch.Tensor:
        s, d = broadcast_pair(h_src, h_dst, joint)
        return self.score(s, d, etype)

    def score(self, s: torch.Tensor, d: torch.Tensor, etype: Optional[EdgeTypeLike]) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dim})"


class DotProduct(LinkScorer):
    r"""Dot product, :math:`s = \mathbf{h}^\top \mathbf{t}` (GraphStorm's ``dot_product``); no parameters."""

    def score(self, s: torch.Tensor, d: torch.Tensor, etype: Optional[EdgeTypeLike]) -> torch.Tensor:
        return _inner(s, d)


class RelationScorer(LinkScorer):
    """A scorer with one learnable vector per edge type, uniform in ``[-init, init]``."""

    def __init__(self, etypes: Sequence[EdgeTypeLike], dim: int, rel_dim: int, gamma: float) -> None:
        super().__init__(dim)
        self.gamma = float(gamma)
        self.init = self.gamma / rel_dim
        self.rel = nn.ParameterDict({etype_key(e): nn.Parameter(torch.empty(rel_dim)) for e in etypes})
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in self.rel.values():
            nn.init.uniform_(p, -self.init, self.init)

    def relation(self, etype: Optional[EdgeTypeLike]) -> torch.Tensor:
        key = None if etype is None else etype_key(etype)
        if key not in self.rel:
            raise KeyError(f"{self.__class__.__name__} has no relation for edge type {etype!r}; "
                           f"it knows {sorted(self.rel.keys())}")
        return self.rel[key]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dim}, num_relations={len(self.rel)}, gamma={self.gamma})"


class DistMult(RelationScorer):
    r"""DistMult of `"Embedding Entities and Relations for Learning and
    Inference in Knowledge Bases" <https://arxiv.org/abs/1412.6575>`_
    (GraphStorm's ``distmult``): :math:`s = \sum_i h_i\, r_i\, t_i`.

    Args:
        etypes (Sequence): The edge types to score (canonical tuples or ``"src,rel,dst"``).
        dim (int): Embedding width :math:`d`.
        gamma (float, optional): Sets the initialisation range :math:`\pm\gamma/d`. (default: :obj:`12.0`)
    """

    def __init__(self, etypes: Sequence[EdgeTypeLike], dim: int, gamma: float = DEFAULT_GAMMA) -> None:
        super().__init__(etypes, dim, dim, gamma)

    def score(self, s: torch.Tensor, d: torch.Tensor, etype: Optional[EdgeTypeLike]) -> torch.Tensor:
        return _inner(s * self.relation(etype), d)


class TransE(RelationScorer):
    r"""TransE of `"Translating Embeddings for Modeling Multi-relational Data"
    <https://papers.nips.cc/paper/5071-translating-embeddings-for-modeling-multi-relational-data>`_
    (GraphStorm's ``transe_l1`` / ``transe_l2``): :math:`s = \gamma - \|\mathbf{h} + \mathbf{r} - \mathbf{t}\|_p`.

    Args:
        etypes (Sequence): The edge types to score.
        dim (int): Embedding width :math:`d`.
        gamma (float, optional): The margin; also sets the initialisation range
            :math:`\pm\gamma/d` (inferred, see the module notes). (default: :obj:`12.0`)
        p (int, optional): ``1`` or ``2``, the norm of the distance. (default: :obj:`2`)
    """

    def __init__(self, etypes: Sequence[EdgeTypeLike], dim: int, gamma: float = DEFAULT_GAMMA, p: int = 2) -> None:
        if p not in (1, 2):
            raise ValueError(f"TransE supports the L1 and L2 norms, got p={p}")
        super().__init__(etypes, dim, dim, gamma)
        self.p = p

    def score(self, s: torch.Tensor, d: torch.Tensor, etype: Optional[EdgeTypeLike]) -> torch.Tensor:
        return self.gamma - torch.linalg.vector_norm(s + self.relation(etype) - d, ord=self.p, dim=-1)


class RotatE(RelationScorer):
    r"""RotatE of `"RotatE: Knowledge Graph Embedding by Relational Rotation in
    Complex Space" <https://arxiv.org/abs/1902.10197>`_ (GraphStorm's ``rotate``).

    An embedding is :math:`d/2` complex numbers (first half real, second half
    imaginary parts); the relation is a rotation with phase
    :math:`\theta = \pi\, r / (\gamma / (d/2))`, :math:`r` uniform in :math:`\pm\gamma/(d/2)`:

    .. math::
        s = \gamma - \sum_{i=1}^{d/2} \big| h_i\, e^{\mathrm{i}\theta_i} - t_i \big|

    (GraphStorm's ``calc_rotate_pos_score``: a sum of complex moduli, although
    its docstring writes a squared norm.)

    Args:
        etypes (Sequence): The edge types to score.
        dim (int): Embedding width :math:`d` (even).
        gamma (float, optional): The margin. (default: :obj:`12.0`)
    """

    def __init__(self, etypes: Sequence[EdgeTypeLike], dim: int, gamma: float = DEFAULT_GAMMA) -> None:
        if dim % 2:
            raise ValueError(f"RotatE needs an even embedding width, got {dim}")
        super().__init__(etypes, dim, dim // 2, gamma)

    def score(self, s: torch.Tensor, d: torch.Tensor, etype: Optional[EdgeTypeLike]) -> torch.Tensor:
        phase = self.relation(etype) * (math.pi / self.init)
        cos, sin = torch.cos(phase), torch.sin(phase)
        s_re, s_im = s.chunk(2, dim=-1)
        d_re, d_im = d.chunk(2, dim=-1)
        re = s_re * cos - s_im * sin - d_re
        im = s_re * sin + s_im * cos - d_im
        # vector_norm's gradient at a zero modulus is 0, where sqrt's is NaN
        return self.gamma - torch.linalg.vector_norm(torch.stack([re, im]), dim=0).sum(-1)


LINK_SCORERS = ("dot_product", "distmult", "rotate", "transe_l1", "transe_l2")


def make_link_scorer(name: str, etypes: Sequence[EdgeTypeLike], dim: int,
                     gamma: Optional[float] = None) -> LinkScorer:
    r"""The scorer a GraphStorm ``lp_decoder_type`` names (case-insensitive).

    Args:
        name (str): One of :data:`LINK_SCORERS`.
        etypes (Sequence): The training edge types (canonical tuples or ``"src,rel,dst"``).
        dim (int): Embedding width.
        gamma (float, optional): Margin / initialisation scale; :obj:`None` is
            GraphStorm's default, ``12.0``. (default: :obj:`None`)
    """
    key = name.lower()
    gamma = DEFAULT_GAMMA if gamma is None else gamma
    if key == "dot_product":
        return DotProduct(dim)
    if key == "distmult":
        return DistMult(etypes, dim, gamma)
    if key == "rotate":
        return RotatE(etypes, dim, gamma)
    if key in ("transe_l1", "transe_l2"):
        return TransE(etypes, dim, gamma, p=int(key[-1]))
    raise ConfigError(f"unknown link prediction decoder '{name}'.", key="lp_decoder_type",
                      hint=did_you_mean(key, LINK_SCORERS))
