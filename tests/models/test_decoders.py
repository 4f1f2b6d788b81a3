"""Task decoders: hand-computed scores, broadcasting layouts, GraphStorm names, gradients, a toy fit."""

from __future__ import annotations

import math

import pytest
import torch

from graphkit.errors import ConfigError
from graphkit.models.decoders import (
    BilinearEdgeDecoder,
    DistMult,
    DotProduct,
    MLPEdgeDecoder,
    MLPEFeatEdgeDecoder,
    NodeDecoder,
    RotatE,
    TransE,
    l2_normalize,
    make_edge_decoder,
    make_link_scorer,
)
from graphkit.models.decoders.link import etype_key

RATES = ("user", "rates", "item")
BUYS = ("user", "buys", "item")


def _scorers(dim: int = 4) -> list:
    return [DotProduct(dim), DistMult([RATES], dim), RotatE([RATES], dim), TransE([RATES], dim, p=1),
            TransE([RATES], dim, p=2)]


# ---------------------------------------------------------------- node decoder

def test_node_decoder_linear_and_mlp():
    dec = NodeDecoder(2, 1)
    with torch.no_grad():
        dec.lin2.weight.copy_(torch.tensor([[1.0, -2.0]]))
        dec.lin2.bias.fill_(0.5)
    assert dec(torch.tensor([[3.0, 1.0]])).item() == pytest.approx(1.5)
    mlp = NodeDecoder(2, 1, hidden=2)
    with torch.no_grad():
        mlp.lin1.weight.copy_(torch.eye(2))
        mlp.lin1.bias.zero_()
        mlp.lin2.weight.copy_(torch.tensor([[1.0, 1.0]]))
        mlp.lin2.bias.zero_()
    assert mlp(torch.tensor([[3.0, -1.0]])).item() == pytest.approx(3.0)  # ReLU drops the -1
    assert NodeDecoder(8, 5, hidden=16)(torch.randn(7, 8)).shape == (7, 5)


# ---------------------------------------------------------------- link scorers: layouts

@pytest.mark.parametrize("scorer", _scorers(), ids=lambda s: f"{type(s).__name__}{getattr(s, 'p', '')}")
def test_link_scorer_layouts_agree(scorer):
    torch.manual_seed(0)
    B, K, d = 3, 5, 4
    src, dst, neg = torch.randn(B, d), torch.randn(B, d), torch.randn(K, d)
    paired = scorer(src, dst, RATES)
    assert paired.shape == (B,)
    per_pos = scorer(src, neg.expand(B, K, d), RATES)
    joint = scorer(src, neg, RATES)
    assert per_pos.shape == joint.shape == (B, K)
    explicit = torch.stack([scorer(src, neg[k].expand(B, d), RATES) for k in range(K)], dim=1)
    torch.testing.assert_close(per_pos, explicit)
    torch.testing.assert_close(joint, explicit)
    # corrupted sources: [B, K, d] against [B, d], and joint [1, K, d] against [B, d]
    heads = scorer(neg.expand(B, K, d), dst, RATES)
    explicit_heads = torch.stack([scorer(neg[k].expand(B, d), dst, RATES) for k in range(K)], dim=1)
    torch.testing.assert_close(heads, explicit_heads)
    torch.testing.assert_close(scorer(neg.unsqueeze(0), dst, RATES), explicit_heads)


def test_joint_with_batch_equal_to_k_needs_the_flag():
    src, neg = torch.eye(2), torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    dot = DotProduct(2)
    torch.testing.assert_close(dot(src, neg, None), torch.tensor([1.0, 0.0]))  # paired
    torch.testing.assert_close(dot(src, neg, None, joint=True), torch.tensor([[1.0, 2.0], [0.0, 0.0]]))


# ---------------------------------------------------------------- link scorers: hand-computed values

def test_dot_product_values():
    h = torch.tensor([[1.0, 2.0, 3.0]])
    t = torch.tensor([[4.0, -5.0, 6.0]])
    assert DotProduct(3)(h, t).item() == pytest.approx(4 - 10 + 18)


def test_distmult_values_and_init():
    dm = DistMult([RATES, BUYS], 3, gamma=12.0)
    for p in dm.rel.values():  # GraphStorm: uniform in +-gamma/dim
        assert p.abs().max().item() <= 4.0
    with torch.no_grad():
        dm.rel[etype_key(RATES)].copy_(torch.tensor([2.0, 0.0, -1.0]))
    h, t = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[4.0, 5.0, 6.0]])
    assert dm(h, t, RATES).item() == pytest.approx(1 * 2 * 4 + 0 + 3 * -1 * 6)  # -10
    assert dm(h, t, "user,rates,item").item() == pytest.approx(-10.0)  # string form of the etype
    with pytest.raises(KeyError, match="no relation"):
        dm(h, t, ("user", "likes", "item"))


@pytest.mark.parametrize("p,expected", [(1, 10.0 - 7.0), (2, 10.0 - 5.0)])
def test_transe_values(p, expected):
    te = TransE([RATES], 2, gamma=10.0, p=p)
    with torch.no_grad():
        te.rel[etype_key(RATES)].copy_(torch.tensor([1.0, 1.0]))
    h, t = torch.tensor([[0.0, 0.0]]), torch.tensor([[4.0, 5.0]])  # h + r - t = (-3, -4)
    assert te(h, t, RATES).item() == pytest.approx(expected)
    assert make_link_scorer(f"transe_l{p}", [RATES], 2).p == p


def test_rotate_quarter_turn_maps_real_axis_to_imaginary_axis():
    ro = RotatE([RATES], 2, gamma=6.0)
    assert ro.rel[etype_key(RATES)].abs().max().item() <= 6.0  # GraphStorm: uniform in +-gamma/(d/2)
    with torch.no_grad():  # phase = r * pi / (gamma / (d/2)) = pi/2
        ro.rel[etype_key(RATES)].fill_(ro.init / 2)
    h = torch.tensor([[1.0, 0.0]])  # 1 + 0i
    tails = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])  # i, 1, -i, -1
    scores = ro(h, tails, RATES, joint=True)[0]
    torch.testing.assert_close(scores, torch.tensor([6.0, 6.0 - math.sqrt(2), 4.0, 6.0 - math.sqrt(2)]))
    assert scores.argmax().item() == 0  # the rotated head is i: the max score, gamma


def test_rotate_gradient_is_finite_at_an_exact_match():
    ro = RotatE([RATES], 2)
    h = torch.tensor([[1.0, 0.0]], requires_grad=True)
    phase = ro.rel[etype_key(RATES)].item() * math.pi / ro.init
    t = torch.tensor([[math.cos(phase), math.sin(phase)]])  # h rotated: a zero modulus
    ro(h, t, RATES).sum().backward()
    assert torch.isfinite(h.grad).all()


def test_etype_keys_escape_dots():
    dm = DistMult([("paper", "cites.v2", "paper"), RATES], 2)
    assert "paper,cites%2Ev2,paper" in dm.rel
    assert dm(torch.ones(1, 2), torch.ones(1, 2), ("paper", "cites.v2", "paper")).shape == (1,)


def test_l2_normalize():
    torch.testing.assert_close(l2_normalize(torch.tensor([[3.0, 4.0]])), torch.tensor([[0.6, 0.8]]))


def test_make_link_scorer_names():
    assert isinstance(make_link_scorer("dot_product", [RATES], 4), DotProduct)
    assert isinstance(make_link_scorer("DistMult", [RATES], 4), DistMult)
    ro = make_link_scorer("rotate", [RATES], 4)
    assert isinstance(ro, RotatE) and ro.gamma == 12.0  # GraphStorm's default gamma
    assert make_link_scorer("transe_l2", [RATES], 4, gamma=3.0).gamma == 3.0
    with pytest.raises(ConfigError, match="Did you mean 'distmult'"):
        make_link_scorer("distmul", [RATES], 4)


# ---------------------------------------------------------------- edge decoders

def test_bilinear_matches_explicit_formula():
    torch.manual_seed(0)
    dec = BilinearEdgeDecoder(3, 4, num_basis=2)
    u, v = torch.randn(5, 3), torch.randn(5, 3)
    Q, C = dec.basis.detach(), dec.combine.weight.detach()  # [2, 3, 3], [4, 2]
    per_basis = torch.stack([(u @ Q[b] * v).sum(-1) for b in range(2)], dim=1)  # u^T Q_b v
    torch.testing.assert_close(dec(u, v), per_basis @ C.T)
    torch.testing.assert_close(dec(u, v), torch.einsum("ai,bij,aj,cb->ac", u, Q, v, C))


def test_edge_decoder_shapes_and_regression_head():
    u, v, e = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6, 3)
    for reg in (False, True):
        out = 1 if reg else 5
        assert BilinearEdgeDecoder(4, out, regression=reg)(u, v).shape == (6, out)
        assert MLPEdgeDecoder(4, out, num_ffn_layers=1, regression=reg)(u, v).shape == (6, out)
        for norm in (None, "batch", "layer"):
            assert MLPEFeatEdgeDecoder(4, 3, out, norm=norm, regression=reg)(u, v, e).shape == (6, out)
    with pytest.raises(ValueError, match="edge features"):
        MLPEFeatEdgeDecoder(4, 3, 2)(u, v)


def test_make_edge_decoder_names():
    for name, cls in [("DenseBiDecoder", BilinearEdgeDecoder), ("bilinear", BilinearEdgeDecoder),
                      (None, BilinearEdgeDecoder), ("MLPDecoder", MLPEdgeDecoder), ("mlp", MLPEdgeDecoder),
                      ("MLPEFeatEdgeDecoder", MLPEFeatEdgeDecoder), ("mlp_efeat", MLPEFeatEdgeDecoder)]:
        assert type(make_edge_decoder(name, 4, 2, feat_dim=3)) is cls
    assert make_edge_decoder("DenseBiDecoder", 4, 2, num_basis=5).basis.shape == (5, 4, 4)
    with pytest.raises(ConfigError, match="Did you mean 'MLPDecoder'"):
        make_edge_decoder("MLPDecoer", 4, 2)
    with pytest.raises(ConfigError, match="decoder_edge_feat"):
        make_edge_decoder("mlp_efeat", 4, 2)


# ---------------------------------------------------------------- gradients and a toy fit

def _edge_decoders() -> list:
    return [BilinearEdgeDecoder(4, 2), MLPEdgeDecoder(4, 2, num_ffn_layers=1), MLPEFeatEdgeDecoder(4, 3, 2),
            MLPEFeatEdgeDecoder(4, 3, 1, regression=True)]


@pytest.mark.parametrize("module", _edge_decoders() + _scorers() + [NodeDecoder(4, 2, hidden=3)],
                         ids=lambda m: type(m).__name__)
def test_every_parameter_gets_a_gradient(module):
    torch.manual_seed(1)
    u, v, e = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4), torch.randn(6, 3)
    if isinstance(module, NodeDecoder):
        out = module(u)
    elif isinstance(module, (BilinearEdgeDecoder, MLPEdgeDecoder, MLPEFeatEdgeDecoder)):
        out = module(u, v, e)
    else:
        out = module(u, torch.randn(6, 5, 4), RATES)
    out.pow(2).sum().backward()
    assert u.grad is not None and u.grad.abs().sum() > 0
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("make", [lambda: BilinearEdgeDecoder(4, 2), lambda: MLPEdgeDecoder(4, 2),
                                  lambda: MLPEFeatEdgeDecoder(4, 3, 2)], ids=["bilinear", "mlp", "mlp_efeat"])
def test_edge_decoders_fit_a_separable_toy_problem(make):
    torch.manual_seed(0)
    n = 64
    u, v, e = torch.randn(n, 4), torch.randn(n, 4), torch.randn(n, 3)
    u[:, -1] = v[:, -1] = 1.0  # a constant feature lets the bilinear form express linear terms
    y = (u[:, 0] - v[:, 1] > 0).long()
    dec = make()
    opt = torch.optim.Adam(dec.parameters(), lr=0.05)
    losses = []
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(dec(u, v, e), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
