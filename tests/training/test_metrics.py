"""Metrics on tiny hand-computed examples, cross-checked against scikit-learn when it is installed."""

import math

import pytest
import torch

from graphkit.errors import ConfigError
from graphkit.training.metrics import (
    METRICS,
    Metric,
    accuracy,
    binary_roc_auc,
    classification_hit_at_k,
    f1,
    get_metric,
    hits_at_k,
    mae,
    mrr,
    mse,
    multilabel_accuracy,
    multilabel_precision_recall_f1,
    per_class_roc_auc,
    pr_auc,
    precision_recall_f1,
    ranks,
    rmse,
    roc_auc,
)

# 3 classes: per class (P, R, F1) = (1/2, 1/2, 1/2), (2/3, 1, 4/5), (1, 1/2, 2/3)
LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
PRED = torch.tensor([0, 1, 1, 1, 2, 0])


def test_accuracy_from_classes_and_logits():
    assert accuracy(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0])) == pytest.approx(2 / 3)
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [0.5, 0.1]])
    assert accuracy(logits, torch.tensor([[0], [1], [1]])) == pytest.approx(2 / 3)  # [N, 1] labels


def test_accuracy_rejects_float_class_vector():
    with pytest.raises(ValueError, match="integer class indices"):
        accuracy(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]))


def test_precision_recall_f1_by_hand():
    macro = precision_recall_f1(PRED, LABELS, 3, "macro")
    assert macro.precision == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert macro.recall == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert macro.f1 == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)  # 0.6556
    micro = precision_recall_f1(PRED, LABELS, 3, "micro")
    assert micro == pytest.approx((4 / 6, 4 / 6, 4 / 6))
    per_class = precision_recall_f1(PRED, LABELS, 3, None)
    assert per_class.f1 == pytest.approx([1 / 2, 4 / 5, 2 / 3])
    assert f1(PRED, LABELS) == pytest.approx(0.655556, abs=1e-6)


def test_macro_skips_classes_absent_from_labels_and_predictions():
    # class 2 of 3 never occurs: macro averages classes 0 and 1 only
    assert f1(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), num_classes=3) == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert precision_recall_f1(torch.tensor([0, 1]), torch.tensor([0, 1]), 3, None).f1 == [1.0, 1.0, 0.0]


def test_labels_outside_the_classes_are_an_error():
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        precision_recall_f1(torch.zeros(2, 2), torch.tensor([0, 2]))


def test_roc_auc_with_tie_is_three_quarters():
    # the tied positive at 0.5 beats one negative and ties the other: (1 + 1/2 + 1 + 1/2) / 4
    assert roc_auc(torch.tensor([0.1, 0.5, 0.5, 0.5]), torch.tensor([0, 0, 1, 1])) == pytest.approx(0.75)
    two_column = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    assert roc_auc(two_column, torch.tensor([0, 0, 1, 1])) == pytest.approx(0.75)
    assert math.isnan(binary_roc_auc(torch.tensor([0.1, 0.2]), torch.tensor([1, 1])))


def test_multiclass_roc_auc_is_macro_one_vs_rest():
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]])
    labels = torch.tensor([0, 1, 2, 1])
    # class 0: positive 0.7 beats 0.2, 0.1, 0.3 -> 1; class 1: positives 0.5, 0.4 vs 0.2, 0.3 -> 1;
    # class 2: positive 0.6 beats 0.1, 0.3, 0.3 -> 1
    assert per_class_roc_auc(scores, labels) == pytest.approx({0: 1.0, 1: 1.0, 2: 1.0})
    scores[3] = torch.tensor([0.5, 0.2, 0.3])
    # class 1: positives 0.5, 0.2 against negatives 0.2, 0.3 -> (1 + 1 + 1/2 + 0) / 4
    assert per_class_roc_auc(scores, labels) == pytest.approx({0: 1.0, 1: 0.625, 2: 1.0})
    assert roc_auc(scores, labels) == pytest.approx((1.0 + 0.625 + 1.0) / 3)


def test_multilabel_roc_auc_skips_labels_with_one_class():
    labels = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 0, 1]])
    scores = torch.tensor([[0.9, 0.1, 0.2], [0.3, 0.2, 0.4], [0.2, 0.3, 0.1]])
    # label 0: positives 0.9, 0.2 against 0.3 -> (1 + 0) / 2; labels 1 and 2 have a single class
    assert per_class_roc_auc(scores, labels) == {0: 0.5}
    assert roc_auc(scores, labels) == pytest.approx(0.5)


def test_multilabel_accuracy_and_f1():
    labels = torch.tensor([[1, 0], [0, 1], [1, 1]])
    logits = torch.tensor([[2.0, -1.0], [1.0, 3.0], [0.5, 0.2]])  # predicts [1,0], [1,1], [1,1]
    assert multilabel_accuracy(logits, labels) == pytest.approx(2 / 3)
    # label 0: tp 2, fp 1 -> F1 4/5; label 1: tp 2, fp 0, fn 0 -> 1
    assert multilabel_precision_recall_f1(logits, labels).f1 == pytest.approx((4 / 5 + 1) / 2)
    assert METRICS["accuracy"](logits, labels) == pytest.approx(2 / 3)


def test_pr_auc_by_hand():
    # points (R, P): (0, 1), (1/2, 1), (1/2, 1/2), (1, 2/3), (1, 1/2)
    expected = 0.5 * 1.0 + 0.5 * (1 / 2 + 2 / 3) / 2
    assert pr_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == pytest.approx(expected)


def test_classification_hit_at_k_counts_positives_in_top_k():
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    assert classification_hit_at_k(scores, torch.tensor([1, 1, 0, 1]), k=3) == 2.0


def test_regression_metrics():
    pred, labels = torch.tensor([[1.0], [2.0], [4.0]]), torch.tensor([1.0, 3.0, 2.0])  # [N, 1] vs [N]
    assert mse(pred, labels) == pytest.approx(5 / 3)
    assert rmse(pred, labels) == pytest.approx(math.sqrt(5 / 3))
    assert mae(pred, labels) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in size"):
        mse(torch.zeros(2), torch.zeros(3))


def test_mrr_and_hits_with_known_ranks():
    pos = torch.tensor([5.0, 1.0, 2.0])
    neg = torch.tensor([[1.0, 2.0], [3.0, 4.0], [3.0, 0.0]])  # ranks 1, 3, 2
    assert ranks(pos, neg).tolist() == [1.0, 3.0, 2.0]
    assert mrr(pos, neg) == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    assert hits_at_k(pos, neg, 1) == pytest.approx(1 / 3)
    assert hits_at_k(pos, neg, 2) == pytest.approx(2 / 3)


def test_tied_negative_costs_half_a_rank():
    pos, neg = torch.tensor([1.0]), torch.tensor([[1.0, 0.0, 2.0]])
    assert ranks(pos, neg).item() == 2.5  # one higher, one tied
    assert mrr(pos, neg) == pytest.approx(1 / 2.5)
    assert hits_at_k(pos, neg, 2) == 0.0


def test_get_metric_parses_hit_at_k_by_kind():
    pos, neg = torch.tensor([5.0, 1.0, 2.0]), torch.tensor([[1.0, 2.0], [3.0, 4.0], [3.0, 0.0]])
    hit2 = get_metric("hit_at_2")
    assert hit2.kind == "link" and hit2(pos, neg) == pytest.approx(2 / 3)
    hit1 = get_metric("hit_at_1", kind="classification")
    assert hit1(torch.tensor([0.2, 0.9]), torch.tensor([0, 1])) == 1.0


def test_get_metric_errors_suggest_names():
    with pytest.raises(ConfigError, match="Did you mean 'roc_auc'"):
        get_metric("roc_acu")
    with pytest.raises(ConfigError, match="regression metric"):
        get_metric("rmse", kind="classification")
    with pytest.raises(ConfigError, match="unknown"):
        get_metric("hit_at_0")
    with pytest.raises(ConfigError, match="regression task"):
        get_metric("hit_at_5", kind="regression")


def test_metric_direction_and_per_class_scalar():
    assert not METRICS["rmse"].higher_is_better and METRICS["mrr"].higher_is_better
    assert METRICS["rmse"].is_better(0.5, 0.7) and not METRICS["rmse"].is_better(0.9, 0.7)
    assert METRICS["accuracy"].is_better(0.1, None) and not METRICS["accuracy"].is_better(math.nan, 0.1)
    per_class = METRICS["per_class_f1_score"](PRED, LABELS)
    assert per_class == pytest.approx({0: 1 / 2, 1: 4 / 5, 2: 2 / 3})
    assert Metric.scalar(per_class) == pytest.approx(METRICS["f1_score"](PRED, LABELS))


def test_registry_covers_graphstorm_names():
    for name in ["accuracy", "precision_recall", "roc_auc", "f1_score", "per_class_f1_score", "per_class_roc_auc",
                 "mrr", "rmse", "mse", "mae", "precision", "recall", "f1_micro", "f1_macro"]:
        assert get_metric(name).name == name
    assert METRICS["f1_micro"](PRED, LABELS) == pytest.approx(4 / 6)
    assert METRICS["precision"](PRED, LABELS) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)


# ---------------------------------------------------------------------------
# cross-checks against scikit-learn (skipped without it)


def test_against_sklearn_on_random_data():
    skm = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (200,), generator=g)
    logits = torch.randn(200, 4, generator=g)
    pred = logits.argmax(1)
    for avg in ("macro", "micro"):
        ours = precision_recall_f1(logits, labels, 4, avg)
        assert ours.precision == pytest.approx(skm.precision_score(labels, pred, average=avg))
        assert ours.recall == pytest.approx(skm.recall_score(labels, pred, average=avg))
        assert ours.f1 == pytest.approx(skm.f1_score(labels, pred, average=avg))
    probs = logits.softmax(1).double()
    assert roc_auc(probs, labels) == pytest.approx(skm.roc_auc_score(labels, probs, multi_class="ovr"))
    binary = (labels > 1).long()
    coarse = (logits[:, 0] * 2).round() / 2  # many ties
    assert roc_auc(coarse, binary) == pytest.approx(skm.roc_auc_score(binary, coarse))
    p, r, _ = skm.precision_recall_curve(binary, coarse)
    assert pr_auc(coarse, binary) == pytest.approx(skm.auc(r, p))
    ml_labels = torch.randint(0, 2, (200, 3), generator=g)
    ml_logits = torch.randn(200, 3, generator=g)
    assert roc_auc(ml_logits, ml_labels) == pytest.approx(skm.roc_auc_score(ml_labels, ml_logits, average="macro"))
    ml_pred = (ml_logits > 0).long()
    assert multilabel_precision_recall_f1(ml_logits, ml_labels).f1 == pytest.approx(
        skm.f1_score(ml_labels, ml_pred, average="macro"))
    assert multilabel_accuracy(ml_logits, ml_labels) == pytest.approx(skm.accuracy_score(ml_labels, ml_pred))
