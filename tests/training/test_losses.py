"""Losses against hand-written formulas on tiny inputs."""

import math

import pytest
import torch

from graphkit.errors import ConfigError
from graphkit.training.losses import (
    CrossEntropyLoss,
    FocalLoss,
    LinkContrastiveLoss,
    LinkCrossEntropyLoss,
    MSELoss,
    MultiLabelBCELoss,
    ShrinkageLoss,
    make_class_loss,
    make_lp_loss,
    make_regression_loss,
)

POS = torch.tensor([1.0, -0.5])
NEG = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.3, -2.0]])
W = torch.tensor([2.0, 0.5])


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def softmax_ce(row: list[float], target: int) -> float:
    return -(row[target] - math.log(sum(math.exp(v) for v in row)))


LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
LABELS = torch.tensor([0, 2])
CE = [softmax_ce([2.0, 0.5, -1.0], 0), softmax_ce([0.1, 0.2, 0.3], 2)]


def test_cross_entropy_and_class_weights():
    assert CrossEntropyLoss()(LOGITS, LABELS).item() == pytest.approx(sum(CE) / 2)
    # weights divide by the weight of the samples' classes: (1 * ce0 + 3 * ce1) / (1 + 3)
    weighted = CrossEntropyLoss("1,2,3")(LOGITS, LABELS).item()
    assert weighted == pytest.approx((1 * CE[0] + 3 * CE[1]) / 4)
    assert weighted > sum(CE) / 2  # the badly predicted sample got the larger weight


def test_focal_with_gamma_zero_is_cross_entropy():
    assert FocalLoss(alpha=None, gamma=0.0)(LOGITS, LABELS).item() == pytest.approx(sum(CE) / 2)


def test_focal_multiclass_by_hand():
    expected = sum((1 - math.exp(-ce)) ** 2 * ce for ce in CE) / 2
    assert FocalLoss(alpha=None, gamma=2.0)(LOGITS, LABELS).item() == pytest.approx(expected)
    per_class = sum(a * (1 - math.exp(-ce)) ** 2 * ce for a, ce in zip([0.2, 0.7], CE)) / 2
    assert FocalLoss(alpha=[0.2, 0.5, 0.7], gamma=2.0)(LOGITS, LABELS).item() == pytest.approx(per_class)


def test_binary_focal_by_hand_and_two_logit_form_agrees():
    z, y = [1.5, -0.5, 0.2], [1, 0, 0]
    expected = 0.0
    for zi, yi in zip(z, y):
        p = 1 / (1 + math.exp(-zi))
        pt, at = (p, 0.25) if yi == 1 else (1 - p, 0.75)
        expected += -at * (1 - pt) ** 2 * math.log(pt)
    loss = FocalLoss()(torch.tensor(z).unsqueeze(1), torch.tensor(y))
    assert loss.item() == pytest.approx(expected / 3)
    two_logits = torch.stack([torch.zeros(3), torch.tensor(z)], dim=1)  # softmax([0, z]) = sigmoid(z)
    assert FocalLoss()(two_logits, torch.tensor(y)).item() == pytest.approx(expected / 3)


def test_focal_scalar_alpha_needs_binary_task():
    with pytest.raises(ValueError, match="per-class weights"):
        FocalLoss(alpha=0.25)(LOGITS, LABELS)


def test_multilabel_bce_with_pos_weights():
    logits, labels = torch.tensor([[0.5, -1.0]]), torch.tensor([[1, 0]])
    expected = (-3.0 * log_sigmoid(0.5) - log_sigmoid(1.0)) / 2  # pos weight 3 on label 0
    assert MultiLabelBCELoss(pos_weights=[3.0, 1.0])(logits, labels).item() == pytest.approx(expected)


def test_regression_losses():
    pred, y = torch.tensor([[1.0], [2.0]]), torch.tensor([1.5, 0.0])  # errors 0.5, 2
    assert MSELoss()(pred, y).item() == pytest.approx((0.25 + 4.0) / 2)
    expected = sum(l * l / (1 + math.exp(10 * (0.2 - l))) for l in (0.5, 2.0)) / 2
    assert ShrinkageLoss()(pred, y).item() == pytest.approx(expected)
    assert ShrinkageLoss()(pred, y).item() < MSELoss()(pred, y).item()


def test_lp_cross_entropy_and_weighted_by_hand():
    pos_terms = [-log_sigmoid(p) for p in POS.tolist()]
    neg_terms = [-log_sigmoid(-n) for row in NEG.tolist() for n in row]
    assert make_lp_loss("cross_entropy")(POS, NEG).item() == pytest.approx((sum(pos_terms) + sum(neg_terms)) / 8)
    weighted = (2.0 * pos_terms[0] + 0.5 * pos_terms[1] + sum(neg_terms)) / 8
    assert make_lp_loss("cross_entropy")(POS, NEG, W).item() == pytest.approx(weighted)


def test_lp_logsigmoid_balances_positives_and_negatives():
    pos_mean = -(log_sigmoid(1.0) + log_sigmoid(-0.5)) / 2
    neg_mean = -sum(log_sigmoid(-n) for row in NEG.tolist() for n in row) / 6
    assert make_lp_loss("logsigmoid")(POS, NEG).item() == pytest.approx((pos_mean + neg_mean) / 2)
    at_zero = LinkCrossEntropyLoss(adversarial_temperature=0.0)(POS, NEG)
    assert at_zero.item() == pytest.approx((pos_mean + neg_mean) / 2)


def test_lp_adversarial_weights_hard_negatives():
    loss = LinkCrossEntropyLoss(adversarial_temperature=1.0)(POS, NEG).item()
    neg = 0.0
    for row in NEG.tolist():
        z = sum(math.exp(v) for v in row)
        neg += sum(math.exp(v) / z * -log_sigmoid(-v) for v in row)
    pos = -(log_sigmoid(1.0) + log_sigmoid(-0.5)) / 2
    assert loss == pytest.approx((pos + neg / 2) / 2)


def test_lp_contrastive_is_softmax_ce_over_pos_and_negs_over_temperature():
    t = 0.5
    rows = [[p / t] + [n / t for n in negs] for p, negs in zip(POS.tolist(), NEG.tolist())]
    expected = (softmax_ce(rows[0], 0) + softmax_ce(rows[1], 0)) / 2
    assert make_lp_loss("contrastive", temperature=t)(POS, NEG).item() == pytest.approx(expected)
    weighted = (2.0 * softmax_ce(rows[0], 0) + 0.5 * softmax_ce(rows[1], 0)) / 2
    assert LinkContrastiveLoss(t)(POS, NEG, W).item() == pytest.approx(weighted)


def test_lp_bpr_by_hand():
    terms = [[-log_sigmoid(p - n) for n in negs] for p, negs in zip(POS.tolist(), NEG.tolist())]
    assert make_lp_loss("bpr")(POS, NEG).item() == pytest.approx(sum(map(sum, terms)) / 6)
    assert make_lp_loss("bpr")(POS, NEG, W).item() == pytest.approx((2.0 * sum(terms[0]) + 0.5 * sum(terms[1])) / 6)


def test_lp_losses_check_shapes_and_backpropagate():
    with pytest.raises(ValueError, match=r"neg_scores \[B, K\]"):
        make_lp_loss("bpr")(POS, NEG.reshape(-1))
    pos = POS.clone().requires_grad_()
    make_lp_loss("contrastive")(pos, NEG).backward()
    assert (pos.grad < 0).all()  # raising a positive score lowers the loss


def test_factories_build_graphstorm_choices():
    assert isinstance(make_class_loss("cross_entropy", multilabel=True), MultiLabelBCELoss)
    focal = make_class_loss("focal")
    assert (focal.binary_alpha, focal.gamma) == (0.25, 2.0)
    shrink = make_regression_loss("shrinkage", alpha=5.0)
    assert (shrink.alpha, shrink.gamma) == (5.0, 0.2)


def test_factories_reject_unknown_names_with_suggestions():
    with pytest.raises(ConfigError, match="Did you mean 'contrastive'"):
        make_lp_loss("contrastve")
    with pytest.raises(ConfigError, match="Did you mean 'focal'"):
        make_class_loss("focall")
    with pytest.raises(ConfigError, match="regression_loss_func"):
        make_regression_loss("huber")
    with pytest.raises(ConfigError, match="imbalance_class_weights"):
        make_class_loss("focal", class_weights=[1.0, 2.0])
    with pytest.raises(ConfigError, match="positive and finite"):
        CrossEntropyLoss("1,-2")
