"""Edge classification / regression decoders: ``(h_src [B, d], h_dst [B, d], edge_feat [B, f] | None) -> [B, out]``.

The three GraphStorm ``decoder_type`` values, with their formulas and
initialisation (``python/graphstorm/model/edge_decoder.py``). As in GraphStorm,
a regression decoder first maps to ``in_dim`` features and then applies a
linear head with bias (``regression_head``); a classification decoder maps
straight to ``out_dim`` logits, without bias.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from graphkit.errors import ConfigError, did_you_mean


def _relu_xavier(lin: nn.Linear) -> nn.Linear:
    nn.init.xavier_uniform_(lin.weight, gain=nn.init.calculate_gain("relu"))
    return lin


def _ffn(dim: int, num_layers: int, dropout: float) -> nn.Sequential:
    """GraphStorm's ``NGNNMLP``: ``num_layers`` x (Linear(dim, dim), ReLU, Dropout)."""
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class BilinearEdgeDecoder(nn.Module):
    r"""The basis bilinear decoder of `"Graph Convolutional Matrix Completion"
    <https://arxiv.org/abs/1706.02263>`_ (GraphStorm's ``DenseBiDecoder``).

    .. math::
        \mathbf{y}_{c} = \sum_{b=1}^{n_B} C_{cb}\; \mathbf{h}_{src}^\top \mathbf{Q}_b\, \mathbf{h}_{dst}

    i.e. ``einsum('ai,bij,aj->ab', h_src, Q, h_dst) @ C.T``; with ``regression``
    ``C`` maps to ``in_dim`` features and a linear head with bias follows.
    ``Q`` and ``C`` are Xavier-uniform initialised; edge features are ignored.

    Args:
        in_dim (int): Width of the source and destination representations.
        out_dim (int): Number of classes, or of regression targets.
        num_basis (int, optional): Number of basis matrices :math:`n_B`
            (GraphStorm's ``num_decoder_basis``). (default: :obj:`2`)
        dropout (float, optional): Dropout on both node representations. (default: :obj:`0.0`)
        regression (bool, optional): Add GraphStorm's regression head. (default: :obj:`False`)
    """

    def __init__(self, in_dim: int, out_dim: int, num_basis: int = 2, dropout: float = 0.0,
                 regression: bool = False) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.num_basis, self.regression = in_dim, out_dim, num_basis, regression
        self.dropout = nn.Dropout(dropout)
        self.basis = nn.Parameter(torch.empty(num_basis, in_dim, in_dim))
        self.combine = nn.Linear(num_basis, in_dim if regression else out_dim, bias=False)
        self.head = nn.Linear(in_dim, out_dim) if regression else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.basis)
        nn.init.xavier_uniform_(self.combine.weight)
        if self.head is not None:
            self.head.reset_parameters()

    def forward(self, h_src: torch.Tensor, h_dst: torch.Tensor,
                edge_feat: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = torch.einsum("ai,bij,aj->ab", self.dropout(h_src), self.basis, self.dropout(h_dst))
        out = self.combine(out)
        return self.head(out) if self.head is not None else out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_dim}, {self.out_dim}, num_basis={self.num_basis})"


class MLPEdgeDecoder(nn.Module):
    r"""GraphStorm's ``MLPEdgeDecoder``: an optional feed-forward stack on the
    concatenated pair, then a linear map without bias.

    .. math::
        \mathbf{y} = \mathrm{FFN}\big(\mathbf{h}_{src} \,\Vert\, \mathbf{h}_{dst}\big)\, \mathbf{W}

    ``W`` is Xavier-uniform initialised with the ReLU gain.

    Args:
        in_dim (int): Width of the source and destination representations.
        out_dim (int): Number of classes, or of regression targets.
        num_ffn_layers (int, optional): Layers ``Linear(2d, 2d) -> ReLU -> Dropout``
            before the output map (GraphStorm's ``num_ffn_layers_in_decoder``). (default: :obj:`0`)
        dropout (float, optional): Dropout inside the feed-forward layers. (default: :obj:`0.0`)
        regression (bool, optional): Add GraphStorm's regression head. (default: :obj:`False`)
    """

    def __init__(self, in_dim: int, out_dim: int, num_ffn_layers: int = 0, dropout: float = 0.0,
                 regression: bool = False) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.regression = in_dim, out_dim, regression
        self.ffn = _ffn(2 * in_dim, num_ffn_layers, dropout)
        self.decoder = nn.Linear(2 * in_dim, in_dim if regression else out_dim, bias=False)
        self.head = nn.Linear(in_dim, out_dim) if regression else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.ffn:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        _relu_xavier(self.decoder)
        if self.head is not None:
            self.head.reset_parameters()

    def forward(self, h_src: torch.Tensor, h_dst: torch.Tensor,
                edge_feat: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.decoder(self.ffn(torch.cat([h_src, h_dst], dim=-1)))
        return self.head(out) if self.head is not None else out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_dim}, {self.out_dim})"


class MLPEFeatEdgeDecoder(nn.Module):
    r"""GraphStorm's ``MLPEFeatEdgeDecoder``: the node pair and the edge
    features are projected separately, then combined.

    .. math::
        \mathbf{n} &= \mathrm{Drop}\,\mathrm{ReLU}\,\mathrm{Norm}\big((\mathbf{h}_{src} \Vert \mathbf{h}_{dst})
            \mathbf{W}_{nn}\big), \qquad
        \mathbf{f} = \mathrm{Drop}\,\mathrm{ReLU}\,\mathrm{Norm}(\mathbf{e}\, \mathbf{W}_{feat}) \\
        \mathbf{y} &= \mathrm{ReLU}\,\mathrm{Norm}\big(\mathrm{FFN}(\mathbf{n} \Vert \mathbf{f})\,
            \mathbf{W}_{comb}\big)\, \mathbf{W}_{out}

    All four maps are bias-free and Xavier-uniform initialised with the ReLU gain.

    Args:
        in_dim (int): Width :math:`d` of the source and destination representations.
        feat_dim (int): Width of the edge features (GraphStorm's ``decoder_edge_feat``).
        out_dim (int): Number of classes, or of regression targets.
        num_ffn_layers (int, optional): Feed-forward layers on :math:`\mathbf{n} \Vert \mathbf{f}`. (default: :obj:`0`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.0`)
        norm (str, optional): ``"batch"``, ``"layer"`` or :obj:`None` (GraphStorm's
            ``decoder_norm``). (default: :obj:`None`)
        regression (bool, optional): Add GraphStorm's regression head. (default: :obj:`False`)
    """

    def __init__(self, in_dim: int, feat_dim: int, out_dim: int, num_ffn_layers: int = 0, dropout: float = 0.0,
                 norm: Optional[str] = None, regression: bool = False) -> None:
        super().__init__()
        if norm not in (None, "batch", "layer"):
            raise ValueError(f"unknown decoder norm '{norm}' (choose batch, layer or none)")
        self.in_dim, self.feat_dim, self.out_dim, self.regression = in_dim, feat_dim, out_dim, regression
        self.nn_proj = nn.Linear(2 * in_dim, in_dim, bias=False)
        self.feat_proj = nn.Linear(feat_dim, in_dim, bias=False)
        self.ffn = _ffn(2 * in_dim, num_ffn_layers, dropout)
        self.combine = nn.Linear(2 * in_dim, in_dim, bias=False)
        self.decoder = nn.Linear(in_dim, in_dim if regression else out_dim, bias=False)
        self.head = nn.Linear(in_dim, out_dim) if regression else None
        norm_cls = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}.get(norm or "")
        self.norms = nn.ModuleList([norm_cls(in_dim) for _ in range(3)]) if norm_cls else None
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.nn_proj, self.feat_proj, self.combine, self.decoder):
            _relu_xavier(lin)
        for m in self.ffn:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        for m in self.norms or []:
            m.reset_parameters()
        if self.head is not None:
            self.head.reset_parameters()

    def _norm(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.norms[i](x) if self.norms is not None else x

    def forward(self, h_src: torch.Tensor, h_dst: torch.Tensor,
                edge_feat: Optional[torch.Tensor] = None) -> torch.Tensor:
        if edge_feat is None:
            raise ValueError("MLPEFeatEdgeDecoder needs edge features (decoder_edge_feat)")
        n = self.dropout(torch.relu(self._norm(0, self.nn_proj(torch.cat([h_src, h_dst], dim=-1)))))
        f = self.dropout(torch.relu(self._norm(1, self.feat_proj(edge_feat))))
        out = self.decoder(torch.relu(self._norm(2, self.combine(self.ffn(torch.cat([n, f], dim=-1))))))
        return self.head(out) if self.head is not None else out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_dim}, {self.out_dim}, feat_dim={self.feat_dim})"


EDGE_DECODERS: dict[str, type[nn.Module]] = {
    "DenseBiDecoder": BilinearEdgeDecoder, "bilinear": BilinearEdgeDecoder,
    "MLPDecoder": MLPEdgeDecoder, "mlp": MLPEdgeDecoder,
    "MLPEFeatEdgeDecoder": MLPEFeatEdgeDecoder, "mlp_efeat": MLPEFeatEdgeDecoder,
}


def make_edge_decoder(name: Optional[str], in_dim: int, out_dim: int, *, num_basis: int = 2, feat_dim: int = 0,
                      num_ffn_layers: int = 0, dropout: float = 0.0, norm: Optional[str] = None,
                      regression: bool = False) -> nn.Module:
    r"""The edge decoder a GraphStorm ``decoder_type`` (or a lowercase alias) names.

    Args:
        name (str, optional): ``DenseBiDecoder`` / ``bilinear``, ``MLPDecoder`` /
            ``mlp`` or ``MLPEFeatEdgeDecoder`` / ``mlp_efeat``; :obj:`None` is
            GraphStorm's default, ``DenseBiDecoder``.
        in_dim (int): Width of the node representations.
        out_dim (int): Number of classes, or of regression targets.
        num_basis (int, optional): Basis matrices of the bilinear decoder. (default: :obj:`2`)
        feat_dim (int, optional): Edge-feature width, required by ``MLPEFeatEdgeDecoder``. (default: :obj:`0`)
        num_ffn_layers (int, optional): Extra feed-forward layers of the MLP decoders. (default: :obj:`0`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.0`)
        norm (str, optional): ``decoder_norm`` of ``MLPEFeatEdgeDecoder``. (default: :obj:`None`)
        regression (bool, optional): Build a regression decoder. (default: :obj:`False`)
    """
    name = name or "DenseBiDecoder"
    cls = EDGE_DECODERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown edge decoder '{name}'.", key="decoder_type", hint=did_you_mean(name, EDGE_DECODERS))
    if cls is BilinearEdgeDecoder:
        if num_ffn_layers:
            raise ConfigError("DenseBiDecoder takes no feed-forward layers; raise num_decoder_basis instead.",
                              key="num_ffn_layers_in_decoder")
        return cls(in_dim, out_dim, num_basis=num_basis, dropout=dropout, regression=regression)
    if cls is MLPEdgeDecoder:
        return cls(in_dim, out_dim, num_ffn_layers=num_ffn_layers, dropout=dropout, regression=regression)
    if feat_dim <= 0:
        raise ConfigError("MLPEFeatEdgeDecoder needs edge features.", key="decoder_edge_feat",
                          hint="Name the edge feature(s) the decoder reads in decoder_edge_feat.")
    return cls(in_dim, feat_dim, out_dim, num_ffn_layers=num_ffn_layers, dropout=dropout, norm=norm,
               regression=regression)
