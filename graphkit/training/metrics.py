r"""Evaluation metrics on torch tensors, named as in GraphStorm's ``eval_metric``.

Every metric is vectorised (no Python loop over samples; ROC-AUC loops over
classes only) and returns a Python ``float``; the per-class metrics return
``dict[int, float]``. Undefined values (an AUC with one class only) are
``nan``, never an exception, so a small validation batch cannot crash training.

GraphStorm names (``python/graphstorm/eval/eval_func.py``):

* ``accuracy``: share of correct argmax predictions. For multi-label labels
  ``[N, C]`` it is *exact-match* (subset) accuracy here; GraphStorm reports
  macro ROC-AUC under this name in multi-label mode.
* ``precision_recall``: the area under the precision-recall curve of a binary
  task (GraphStorm: ``auc(recall, precision)`` of ``precision_recall_curve``),
  not a precision or a recall.
* ``roc_auc``, ``per_class_roc_auc``: one-vs-rest ROC-AUC, macro averaged over
  the classes (or labels) that have both positives and negatives.
* ``f1_score``, ``per_class_f1_score``: macro F1 over the classes present in
  the labels or the predictions (scikit-learn's ``classification_report``).
* ``hit_at_<k>``: for link prediction the share of positives ranked in the
  top ``k``; for binary classification (``kind="classification"``) the number
  of positives among the ``k`` most confident predictions.
* ``mrr``, ``rmse``, ``mse``, ``mae``; graphkit adds ``precision``, ``recall``
  (macro), ``f1_micro`` and ``f1_macro``.

Link metrics take ``(pos_scores [B], neg_scores [B, K])``: each positive is
ranked against its own ``K`` negatives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from graphkit.errors import ConfigError, did_you_mean

MetricKind = Literal["classification", "regression", "link"]
MetricValue = float | dict[int, float]
Average = Literal["micro", "macro"] | None

# ---------------------------------------------------------------------------
# classification


def _labels_1d(labels: Tensor) -> Tensor:
    if labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 1:
        raise ValueError(f"single-label metrics need labels of shape [N], got {tuple(labels.shape)}")
    return labels.long()


def _predicted_class(pred: Tensor) -> Tensor:
    """Class indices from logits ``[N, C]`` (argmax) or from class indices ``[N]``."""
    if pred.dim() == 2:
        return pred.argmax(dim=1)
    if pred.dim() == 1 and not torch.is_floating_point(pred):
        return pred.long()
    raise ValueError("predictions must be logits [N, C] or integer class indices [N], "
                     f"got dtype {pred.dtype} and shape {tuple(pred.shape)}")


def _is_multilabel(labels: Tensor) -> bool:
    return labels.dim() == 2 and labels.shape[1] > 1


def _predicted_labels(pred: Tensor, threshold: float) -> Tensor:
    """Multi-label 0/1 predictions from logits (``> threshold``) or from given 0/1 predictions."""
    return pred > threshold if torch.is_floating_point(pred) else pred.bool()


def accuracy(pred: Tensor, labels: Tensor) -> float:
    r"""Share of correct predictions, :math:`\frac{1}{N}\sum_i [\hat{y}_i = y_i]`.

    Args:
        pred (torch.Tensor): Logits ``[N, C]`` (the argmax is the prediction)
            or predicted classes ``[N]`` (integer dtype).
        labels (torch.Tensor): True classes ``[N]``.
    """
    labels = _labels_1d(labels)
    return (_predicted_class(pred) == labels).double().mean().item()


def multilabel_accuracy(pred: Tensor, labels: Tensor, threshold: float = 0.0) -> float:
    r"""Exact-match (subset) accuracy: a sample counts only if all its labels are right.

    .. math::
        \frac{1}{N}\sum_i \prod_c [\hat{y}_{ic} = y_{ic}]

    Args:
        pred (torch.Tensor): Logits ``[N, C]``, or 0/1 predictions (integer or
            bool dtype).
        labels (torch.Tensor): 0/1 labels ``[N, C]``.
        threshold (float, optional): A logit above it predicts 1; ``0.0`` is a
            sigmoid probability of 0.5. (default: :obj:`0.0`)
    """
    hit = _predicted_labels(pred, threshold) == labels.bool()
    return hit.all(dim=1).double().mean().item()


class PrecisionRecallF1(NamedTuple):
    """Precision, recall and F1: floats when averaged, per-class lists otherwise."""

    precision: float | list[float]
    recall: float | list[float]
    f1: float | list[float]


def _prf_from_counts(tp: Tensor, fp: Tensor, fn: Tensor, present: Tensor, average: Average) -> PrecisionRecallF1:
    def ratio(num: Tensor, den: Tensor) -> Tensor:  # 0 where undefined, as scikit-learn's zero_division
        return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))

    tp, fp, fn = tp.double(), fp.double(), fn.double()
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    p, r, f = ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)
    if average == "micro":
        return PrecisionRecallF1(p.item(), r.item(), f.item())
    if average == "macro":
        n = present.sum().clamp(min=1)
        return PrecisionRecallF1(*(((x * present).sum() / n).item() for x in (p, r, f)))
    if average is None:
        return PrecisionRecallF1(p.tolist(), r.tolist(), f.tolist())
    raise ValueError(f"average must be 'micro', 'macro' or None, got {average!r}")


def precision_recall_f1(pred: Tensor, labels: Tensor, num_classes: int | None = None,
                        average: Average = "macro") -> PrecisionRecallF1:
    r"""Precision, recall and F1 of a single-label task, per class or averaged.

    For class :math:`c`, :math:`P_c = \frac{TP_c}{TP_c + FP_c}`,
    :math:`R_c = \frac{TP_c}{TP_c + FN_c}` and
    :math:`F1_c = \frac{2 TP_c}{2 TP_c + FP_c + FN_c}`; an undefined ratio is 0.
    ``"macro"`` averages over the classes that occur in the labels or the
    predictions (as scikit-learn does); ``"micro"`` pools the counts.

    Args:
        pred (torch.Tensor): Logits ``[N, C]`` or predicted classes ``[N]``.
        labels (torch.Tensor): True classes ``[N]``.
        num_classes (int, optional): Number of classes; inferred from the
            logits or the largest class seen. (default: :obj:`None`)
        average (str, optional): ``"macro"``, ``"micro"`` or :obj:`None` for
            per-class lists of length ``num_classes``. (default: :obj:`"macro"`)
    """
    labels = _labels_1d(labels)
    classes = _predicted_class(pred)
    if num_classes is None:
        num_classes = pred.shape[1] if pred.dim() == 2 else int(max(classes.max(), labels.max()).item()) + 1
    if max(classes.max(), labels.max()) >= num_classes or min(classes.min(), labels.min()) < 0:
        raise ValueError(f"classes must lie in [0, {num_classes}), got labels up to {labels.max().item()}")
    tp = torch.bincount(labels[classes == labels], minlength=num_classes)
    support = torch.bincount(labels, minlength=num_classes)
    predicted = torch.bincount(classes, minlength=num_classes)
    present = ((support + predicted) > 0).double()
    return _prf_from_counts(tp, predicted - tp, support - tp, present, average)


def f1(pred: Tensor, labels: Tensor, num_classes: int | None = None, average: Average = "macro") -> float:
    """F1 score of a single-label task; see :func:`precision_recall_f1`."""
    if average is None:
        raise ValueError("f1 returns one number; use precision_recall_f1(average=None) for per-class scores")
    return precision_recall_f1(pred, labels, num_classes, average).f1


def multilabel_precision_recall_f1(pred: Tensor, labels: Tensor, average: Average = "macro",
                                   threshold: float = 0.0) -> PrecisionRecallF1:
    r"""Precision, recall and F1 of a multi-label task, each label a binary task.

    ``"macro"`` averages over all ``C`` labels (scikit-learn's multi-label
    convention); ``"micro"`` pools the counts of all labels.

    Args:
        pred (torch.Tensor): Logits ``[N, C]`` or 0/1 predictions.
        labels (torch.Tensor): 0/1 labels ``[N, C]``.
        average (str, optional): ``"macro"``, ``"micro"`` or :obj:`None`.
            (default: :obj:`"macro"`)
        threshold (float, optional): Logit threshold for a positive prediction.
            (default: :obj:`0.0`)
    """
    hat, y = _predicted_labels(pred, threshold), labels.bool()
    tp, fp, fn = (hat & y).sum(0), (hat & ~y).sum(0), (~hat & y).sum(0)
    return _prf_from_counts(tp, fp, fn, torch.ones(y.shape[1], dtype=torch.float64), average)


def _average_ranks(x: Tensor) -> Tensor:
    """1-based ranks of ``x`` (ascending), ties sharing the average of their ranks."""
    sorted_x, order = x.sort()
    _, inverse, counts = torch.unique_consecutive(sorted_x, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()
    ranks = torch.empty_like(last[inverse])
    ranks[order] = (last - (counts - 1).double() / 2)[inverse]
    return ranks


def binary_roc_auc(scores: Tensor, target: Tensor) -> float:
    r"""ROC-AUC of one binary task, via the Mann-Whitney statistic with average ranks.

    .. math::
        \mathrm{AUC} = \frac{\sum_{i: y_i = 1} r_i - P(P+1)/2}{P \cdot N}

    where :math:`r_i` is the rank of score :math:`i` (ties get their average
    rank), :math:`P` the number of positives and :math:`N` of negatives. A
    positive tied with a negative counts one half, as in scikit-learn.
    Returns ``nan`` when either class is missing.

    Args:
        scores (torch.Tensor): Scores ``[N]``, higher meaning more positive.
        target (torch.Tensor): 0/1 targets ``[N]``.
    """
    target = target.bool().reshape(-1)
    n_pos = int(target.sum())
    n_neg = target.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    rank_sum = _average_ranks(scores.reshape(-1).double())[target].sum().item()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _one_vs_rest(scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(scores [N, C], 0/1 targets [N, C])`` for multi-class or multi-label input."""
    if _is_multilabel(labels):
        return scores, labels.bool()
    labels = _labels_1d(labels)
    if scores.dim() != 2:
        raise ValueError(f"per-class ROC-AUC needs scores [N, C], got {tuple(scores.shape)}")
    return scores, torch.nn.functional.one_hot(labels, scores.shape[1]).bool()


def per_class_roc_auc(scores: Tensor, labels: Tensor) -> dict[int, float]:
    """One-vs-rest ROC-AUC of every class (or label) that has positives and negatives.

    Args:
        scores (torch.Tensor): Class scores or probabilities ``[N, C]``.
        labels (torch.Tensor): True classes ``[N]`` or 0/1 labels ``[N, C]``.
    """
    scores, targets = _one_vs_rest(scores, labels)
    aucs = {c: binary_roc_auc(scores[:, c], targets[:, c]) for c in range(scores.shape[1])}
    return {c: a for c, a in aucs.items() if not math.isnan(a)}


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    r"""ROC-AUC: binary, or one-vs-rest macro average for multi-class and multi-label.

    A binary task takes positive-class scores ``[N]`` or two-column scores
    ``[N, 2]`` (column 1 is used). With ``C > 2`` classes, or labels
    ``[N, C]``, the AUC of every class against the rest is averaged over the
    classes that have both positives and negatives (scikit-learn raises
    instead when a class is missing). Pass probabilities for parity with
    scikit-learn's multi-class ``roc_auc_score``: logits rank samples
    differently once softmax couples the columns.

    Args:
        scores (torch.Tensor): Scores ``[N]``, ``[N, 2]`` or ``[N, C]``.
        labels (torch.Tensor): True classes ``[N]`` or 0/1 labels ``[N, C]``.
    """
    if not _is_multilabel(labels) and (scores.dim() == 1 or scores.shape[1] <= 2):
        return binary_roc_auc(scores if scores.dim() == 1 else scores[:, -1], _labels_1d(labels))
    aucs = list(per_class_roc_auc(scores, labels).values())
    return sum(aucs) / len(aucs) if aucs else math.nan


def pr_auc(scores: Tensor, labels: Tensor) -> float:
    r"""Area under the precision-recall curve of a binary task (GraphStorm's ``precision_recall``).

    The curve has one point per distinct score threshold plus
    :math:`(R=0, P=1)`; the area is the trapezoidal rule over recall, as
    ``sklearn.metrics.auc(recall, precision)``. Returns ``nan`` without positives.

    Args:
        scores (torch.Tensor): Positive-class scores ``[N]`` or ``[N, 2]``.
        labels (torch.Tensor): 0/1 labels ``[N]``.
    """
    scores = scores if scores.dim() == 1 else scores[:, -1]
    sorted_scores, order = scores.double().sort(descending=True)
    y = _labels_1d(labels)[order].double()
    if y.sum() == 0:
        return math.nan
    _, counts = torch.unique_consecutive(sorted_scores, return_counts=True)
    last = counts.cumsum(0) - 1  # last index of each threshold's block
    tps = y.cumsum(0)[last]
    precision = torch.cat([tps.new_ones(1), tps / (last + 1)])
    recall = torch.cat([tps.new_zeros(1), tps / tps[-1]])
    return torch.trapezoid(precision, recall).item()


def classification_hit_at_k(scores: Tensor, labels: Tensor, k: int) -> float:
    """GraphStorm's ``hit_at_k`` for binary classification: positives among the ``k`` top-scored samples.

    Returns a count (at most ``k``), as GraphStorm does.

    Args:
        scores (torch.Tensor): Positive-class scores ``[N]`` or ``[N, 2]``.
        labels (torch.Tensor): 0/1 labels ``[N]``.
        k (int): How many of the most confident predictions to inspect.
    """
    scores = scores if scores.dim() == 1 else scores[:, -1]
    top = scores.topk(min(k, scores.numel())).indices
    return float((_labels_1d(labels)[top] == 1).sum().item())


# ---------------------------------------------------------------------------
# regression


def _residual(pred: Tensor, labels: Tensor) -> Tensor:
    if pred.numel() != labels.numel():
        raise ValueError(f"predictions {tuple(pred.shape)} and labels {tuple(labels.shape)} differ in size")
    return pred.reshape(labels.shape).double() - labels.double()  # [N, 1] vs [N] must not broadcast


def mse(pred: Tensor, labels: Tensor) -> float:
    r"""Mean squared error, :math:`\frac{1}{N}\sum_i (\hat{y}_i - y_i)^2`."""
    return _residual(pred, labels).pow(2).mean().item()


def rmse(pred: Tensor, labels: Tensor) -> float:
    r"""Root mean squared error, :math:`\sqrt{\mathrm{MSE}}`."""
    return math.sqrt(mse(pred, labels))


def mae(pred: Tensor, labels: Tensor) -> float:
    r"""Mean absolute error, :math:`\frac{1}{N}\sum_i |\hat{y}_i - y_i|`."""
    return _residual(pred, labels).abs().mean().item()


# ---------------------------------------------------------------------------
# link prediction


def ranks(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    r"""Rank of each positive among itself and its own negatives (1 is best).

    Ties are resolved as in OGB's MRR evaluator, averaging the optimistic and
    the pessimistic rank, so a negative scoring exactly as the positive costs
    one half:

    .. math::
        r_b = 1 + \sum_k [s^-_{bk} > s^+_b] + \tfrac{1}{2} \sum_k [s^-_{bk} = s^+_b]

    Args:
        pos_scores (torch.Tensor): Positive scores ``[B]``.
        neg_scores (torch.Tensor): Negative scores ``[B, K]``.
    """
    if pos_scores.dim() != 1 or neg_scores.dim() != 2 or neg_scores.shape[0] != pos_scores.shape[0]:
        raise ValueError(f"link metrics need pos_scores [B] and neg_scores [B, K], got "
                         f"{tuple(pos_scores.shape)} and {tuple(neg_scores.shape)}")
    pos = pos_scores.unsqueeze(1)
    higher = (neg_scores > pos).sum(1).double()
    tied = (neg_scores == pos).sum(1).double()
    return 1.0 + higher + tied / 2


def mrr(pos_scores: Tensor, neg_scores: Tensor) -> float:
    r"""Mean reciprocal rank, :math:`\frac{1}{B}\sum_b 1 / r_b`; see :func:`ranks`."""
    return mrr_of_ranks(ranks(pos_scores, neg_scores))


def hits_at_k(pos_scores: Tensor, neg_scores: Tensor, k: int) -> float:
    r"""Share of positives ranked in the top ``k``, :math:`\frac{1}{B}\sum_b [r_b \le k]`.

    Uses the tie-averaged rank of :func:`ranks`, as OGB's MRR evaluator does.
    """
    return hits_of_ranks(ranks(pos_scores, neg_scores), k)


def mrr_of_ranks(r: Tensor) -> float:
    """:func:`mrr` from the ranks of :func:`ranks` (distributed evaluation gathers ranks, not scores)."""
    return r.reciprocal().mean().item()


def hits_of_ranks(r: Tensor, k: int) -> float:
    """:func:`hits_at_k` from the ranks of :func:`ranks`."""
    return (r <= k).double().mean().item()


# ---------------------------------------------------------------------------
# registry


@dataclass(frozen=True)
class Metric:
    """A named metric: ``fn(preds, labels)`` or, for link prediction, ``fn(pos, neg)``.

    Args:
        name (str): The GraphStorm ``eval_metric`` name.
        fn (callable): Computes the value, a float or a per-class dict.
        higher_is_better (bool): Direction used to pick the best model.
        kind (str): ``"classification"``, ``"regression"`` or ``"link"``.
        of_ranks (callable, optional): For link metrics, the same value from
            the positives' ranks alone (:func:`ranks`), which is what
            distributed evaluation gathers. (default: :obj:`None`)
    """

    name: str
    fn: Callable[[Tensor, Tensor], MetricValue]
    higher_is_better: bool
    kind: MetricKind
    of_ranks: Callable[[Tensor], float] | None = None

    def __call__(self, a: Tensor, b: Tensor) -> MetricValue:
        return self.fn(a, b)

    def from_ranks(self, r: Tensor) -> MetricValue:
        """The metric from the positives' ranks ``r [B]`` (link metrics only)."""
        if self.of_ranks is None:
            raise ValueError(f"metric '{self.name}' is not a ranking metric")
        return self.of_ranks(r)

    @staticmethod
    def scalar(value: MetricValue) -> float:
        """One number for model selection; the mean of a per-class value (its macro average)."""
        if isinstance(value, dict):
            return sum(value.values()) / len(value) if value else math.nan
        return float(value)

    def is_better(self, value: MetricValue, best: MetricValue | None) -> bool:
        """Whether ``value`` beats ``best`` (``None``: nothing yet); ``nan`` never wins."""
        new = self.scalar(value)
        if math.isnan(new):
            return False
        if best is None or math.isnan(self.scalar(best)):
            return True
        return new > self.scalar(best) if self.higher_is_better else new < self.scalar(best)


def _num_classes(pred: Tensor, labels: Tensor) -> int:
    if pred.dim() == 2:
        return pred.shape[1]
    return int(max(pred.max(), _labels_1d(labels).max()).item()) + 1


def _per_class_f1(pred: Tensor, labels: Tensor) -> dict[int, float]:
    if _is_multilabel(labels):
        return dict(enumerate(multilabel_precision_recall_f1(pred, labels, None).f1))
    labels_1d, classes = _labels_1d(labels), _predicted_class(pred)
    scores = precision_recall_f1(pred, labels_1d, _num_classes(pred, labels_1d), None).f1
    present = set(torch.cat([labels_1d, classes]).unique().tolist())
    return {c: s for c, s in enumerate(scores) if c in present}


def _averaged(part: int, average: Literal["micro", "macro"]) -> Callable[[Tensor, Tensor], float]:
    def fn(pred: Tensor, labels: Tensor) -> float:
        if _is_multilabel(labels):
            return multilabel_precision_recall_f1(pred, labels, average)[part]
        return precision_recall_f1(pred, labels, _num_classes(pred, labels), average)[part]
    return fn


def _accuracy(pred: Tensor, labels: Tensor) -> float:
    return multilabel_accuracy(pred, labels) if _is_multilabel(labels) else accuracy(pred, labels)


_C, _R, _L = "classification", "regression", "link"
METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("accuracy", _accuracy, True, _C),
    Metric("precision_recall", pr_auc, True, _C),
    Metric("roc_auc", roc_auc, True, _C),
    Metric("per_class_roc_auc", per_class_roc_auc, True, _C),
    Metric("f1_score", _averaged(2, "macro"), True, _C),
    Metric("per_class_f1_score", _per_class_f1, True, _C),
    Metric("precision", _averaged(0, "macro"), True, _C),
    Metric("recall", _averaged(1, "macro"), True, _C),
    Metric("f1_macro", _averaged(2, "macro"), True, _C),
    Metric("f1_micro", _averaged(2, "micro"), True, _C),
    Metric("mse", mse, False, _R),
    Metric("rmse", rmse, False, _R),
    Metric("mae", mae, False, _R),
    Metric("mrr", mrr, True, _L, of_ranks=mrr_of_ranks),
]}
_HIT_AT = re.compile(r"hit_at_(\d+)")


def _hit_at(k: int, kind: MetricKind) -> Metric:
    if kind == _C:
        return Metric(f"hit_at_{k}", lambda s, y: classification_hit_at_k(s, y, k), True, _C)
    return Metric(f"hit_at_{k}", lambda pos, neg: hits_at_k(pos, neg, k), True, _L,
                  of_ranks=lambda r: hits_of_ranks(r, k))


def get_metric(name: str, kind: MetricKind | None = None) -> Metric:
    """The metric called ``name``; ``hit_at_<k>`` works for any ``k >= 1``.

    Args:
        name (str): A GraphStorm ``eval_metric`` name, e.g. ``"roc_auc"``.
        kind (str, optional): The task kind. When given, a metric of another
            kind is a :class:`~graphkit.errors.ConfigError`, and ``hit_at_<k>``
            resolves to the classification or the link variant.
            (default: :obj:`None`, where ``hit_at_<k>`` is the link variant)
    """
    choices = [n for n, m in METRICS.items() if kind in (None, m.kind)] + (["hit_at_<k>"] if kind != _R else [])
    match = _HIT_AT.fullmatch(name)
    if match and int(match.group(1)) >= 1:
        if kind == _R:
            raise ConfigError(f"'{name}' is a ranking metric and cannot evaluate a regression task.",
                              key="eval_metric", hint=f"Valid choices: {', '.join(sorted(choices))}.")
        return _hit_at(int(match.group(1)), kind or _L)
    metric = METRICS.get(name)
    if metric is None:
        raise ConfigError(f"unknown evaluation metric '{name}'.", key="eval_metric", hint=did_you_mean(name, choices))
    if kind is not None and metric.kind != kind:
        raise ConfigError(f"'{name}' is a {metric.kind} metric and cannot evaluate a {kind} task.",
                          key="eval_metric", hint=f"Valid choices: {', '.join(sorted(choices))}.")
    return metric
