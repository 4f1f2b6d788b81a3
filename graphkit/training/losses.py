r"""Training losses, chosen by GraphStorm's ``class_loss_func``, ``regression_loss_func`` and ``lp_loss_func``.

Classification and regression losses are called as ``loss(logits, labels)``.
Link-prediction losses are called as ``loss(pos_scores, neg_scores, weight)``
with ``pos_scores [B]``, ``neg_scores [B, K]`` (the ``K`` negatives of each
positive edge) and optional per-positive-edge weights ``[B]`` (GraphStorm's
``lp_edge_weight_for_loss``; negatives always weigh 1). Every loss is a mean.

GraphStorm semantics (``python/graphstorm/model/loss_func.py`` and its docs):
``cross_entropy`` is binary cross-entropy averaged over all ``B (1 + K)``
scores; ``contrastive`` divides the scores by the temperature inside the
loss; ``focal`` is the sigmoid focal loss with ``alpha = 0.25``,
``gamma = 2`` by default; ``bpr`` and ``shrinkage`` follow their papers.
GraphStorm ships no ``logsigmoid`` loss (its docs listed one by mistake);
graphkit's is the class-balanced form of ``cross_entropy``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphkit.errors import ConfigError, did_you_mean

Weights = Sequence[float] | Tensor | str | None


def _as_weights(weights: Weights, key: str) -> Tensor | None:
    """Per-class weights from a list, a tensor or GraphStorm's ``"0.1,0.9"`` string."""
    if weights is None:
        return None
    try:
        if isinstance(weights, str):
            weights = [float(w) for w in weights.split(",")]
        tensor = torch.as_tensor(weights, dtype=torch.float32).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"weights must be numbers, got {weights!r}.", key=key) from err
    if tensor.numel() == 0 or not torch.isfinite(tensor).all() or (tensor <= 0).any():
        raise ConfigError(f"weights must be positive and finite, got {tensor.tolist()}.", key=key)
    return tensor


def _same_shape(pred: Tensor, target: Tensor) -> Tensor:
    if pred.numel() != target.numel():
        raise ValueError(f"predictions {tuple(pred.shape)} and labels {tuple(target.shape)} differ in size")
    return pred.reshape(target.shape)  # [N, 1] against [N] must not broadcast to [N, N]


# ---------------------------------------------------------------------------
# classification


class CrossEntropyLoss(nn.Module):
    r"""Softmax cross-entropy with optional class weights (GraphStorm's ``imbalance_class_weights``).

    .. math::
        \mathcal{L} = \frac{\sum_i w_{y_i} \cdot (-\log \mathrm{softmax}(z_i)_{y_i})}{\sum_i w_{y_i}}

    Args:
        class_weights (list or torch.Tensor or str, optional): Weight of each
            class, e.g. ``[0.1, 0.9]`` or ``"0.1,0.9"``. (default: :obj:`None`)

    Shapes:
        - **input:** logits :math:`(N, C)`, labels :math:`(N)`
        - **output:** scalar
    """

    def __init__(self, class_weights: Weights = None) -> None:
        super().__init__()
        self.register_buffer("class_weights", _as_weights(class_weights, "imbalance_class_weights"))

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(logits, labels.reshape(-1).long(), weight=self.class_weights)


class MultiLabelBCELoss(nn.Module):
    r"""Binary cross-entropy per label of a multi-label task, averaged over all entries.

    .. math::
        \mathcal{L} = -\frac{1}{NC}\sum_{i,c} w_c \left[p_c\, y_{ic} \log \sigma(z_{ic})
        + (1 - y_{ic}) \log (1 - \sigma(z_{ic}))\right]

    Args:
        pos_weights (list or torch.Tensor or str, optional): :math:`p_c`, the
            weight of positives of each label (GraphStorm's
            ``multilabel_weights``). (default: :obj:`None`)
        class_weights (list or torch.Tensor or str, optional): :math:`w_c`, the
            weight of each label. (default: :obj:`None`)

    Shapes:
        - **input:** logits :math:`(N, C)`, 0/1 labels :math:`(N, C)`
        - **output:** scalar
    """

    def __init__(self, pos_weights: Weights = None, class_weights: Weights = None) -> None:
        super().__init__()
        self.register_buffer("pos_weights", _as_weights(pos_weights, "multilabel_weights"))
        self.register_buffer("class_weights", _as_weights(class_weights, "imbalance_class_weights"))

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, labels.float(), weight=self.class_weights,
                                                  pos_weight=self.pos_weights)


class FocalLoss(nn.Module):
    r"""Focal loss from `"Focal Loss for Dense Object Detection" <https://arxiv.org/abs/1708.02002>`_.

    .. math::
        \mathcal{L} = -\frac{1}{N}\sum_i \alpha_{t}\, (1 - p_{t})^{\gamma} \log p_{t}

    where :math:`p_t` is the predicted probability of the true class. One
    logit per sample (``[N]`` or ``[N, 1]``), or logits shaped as the labels
    (multi-label), use the sigmoid, and :math:`\alpha_t = \alpha` for
    positives, :math:`1 - \alpha` for negatives (GraphStorm's binary focal
    loss). Logits ``[N, C]`` with class labels ``[N]`` use the softmax; with
    ``C = 2`` this equals the sigmoid form on :math:`z_1 - z_0`, and with
    ``C > 2`` ``alpha`` must be per-class weights. ``gamma = 0`` and
    ``alpha = None`` give plain cross-entropy.

    Args:
        alpha (float or list, optional): Positive-class weight of the binary
            loss, per-class weights, or :obj:`None` for none. (default: :obj:`0.25`)
        gamma (float, optional): Focusing parameter. (default: :obj:`2.0`)

    Shapes:
        - **input:** logits :math:`(N)`, :math:`(N, 1)`, :math:`(N, C)`; labels :math:`(N)` or as logits
        - **output:** scalar
    """

    def __init__(self, alpha: float | Sequence[float] | Tensor | None = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"gamma must be >= 0 for the focal loss, got {gamma}.", key="gamma")
        self.gamma = gamma
        self.binary_alpha = float(alpha) if isinstance(alpha, (int, float)) else None
        if self.binary_alpha is not None and not 0.0 <= self.binary_alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1] for the focal loss, got {alpha}.", key="alpha")
        per_class = None if alpha is None or self.binary_alpha is not None else _as_weights(alpha, "alpha")
        self.register_buffer("class_alpha", per_class)

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        if logits.dim() == 2 and logits.shape[1] > 1 and logits.shape != labels.shape:
            return self._softmax(logits, labels.reshape(-1).long())
        target = labels.reshape(-1).float() if logits.dim() == 1 or logits.shape[1] == 1 else labels.float()
        logits = logits.reshape(target.shape)
        log_pt = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        if self.binary_alpha is None and self.class_alpha is not None:
            raise ValueError("per-class alpha needs logits [N, C] and class labels [N]")
        return self._focal(log_pt, 1.0 if self.binary_alpha is None else self._alpha_t(target))

    def _softmax(self, logits: Tensor, labels: Tensor) -> Tensor:
        log_pt = F.log_softmax(logits, dim=1).gather(1, labels.unsqueeze(1)).squeeze(1)
        if self.binary_alpha is not None:
            if logits.shape[1] != 2:
                raise ValueError(f"a scalar alpha is the positive-class weight of a binary task; "
                                 f"pass per-class weights for {logits.shape[1]} classes")
            alpha = self._alpha_t(labels.float())
        else:
            alpha = 1.0 if self.class_alpha is None else self.class_alpha[labels]
        return self._focal(log_pt, alpha)

    def _alpha_t(self, target: Tensor) -> Tensor:
        return self.binary_alpha * target + (1 - self.binary_alpha) * (1 - target)

    def _focal(self, log_pt: Tensor, alpha: Tensor | float) -> Tensor:
        return (-alpha * (1 - log_pt.exp()).pow(self.gamma) * log_pt).mean()


# ---------------------------------------------------------------------------
# regression


class MSELoss(nn.Module):
    r"""Mean squared error, :math:`\frac{1}{N}\sum_i (\hat{y}_i - y_i)^2` (GraphStorm's ``mse``).

    Predictions ``[N, 1]`` are matched to labels ``[N]`` instead of broadcasting.
    """

    def forward(self, pred: Tensor, labels: Tensor) -> Tensor:
        return F.mse_loss(_same_shape(pred, labels), labels.float())


class ShrinkageLoss(nn.Module):
    r"""Shrinkage loss from `"Deep Regression Tracking with Shrinkage Loss" <https://arxiv.org/abs/1807.08228>`_.

    Squared error that down-weights easy samples (small error :math:`l`):

    .. math::
        \mathcal{L} = \frac{1}{N}\sum_i \frac{l_i^2}{1 + \exp(\alpha (\gamma - l_i))},
        \quad l_i = |\hat{y}_i - y_i|

    Args:
        alpha (float, optional): Shrinkage speed, the paper's :math:`a`. (default: :obj:`10.0`)
        gamma (float, optional): Localisation, the paper's :math:`c`. (default: :obj:`0.2`)
    """

    def __init__(self, alpha: float = 10.0, gamma: float = 0.2) -> None:
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def forward(self, pred: Tensor, labels: Tensor) -> Tensor:
        err = (_same_shape(pred, labels) - labels.float()).abs()
        return (err.pow(2) * torch.sigmoid(self.alpha * (err - self.gamma))).mean()


# ---------------------------------------------------------------------------
# link prediction


class LinkPredictionLoss(nn.Module):
    """Base of link-prediction losses: checks shapes and defaults the positive-edge weights to 1."""

    def forward(self, pos_scores: Tensor, neg_scores: Tensor, weight: Tensor | None = None) -> Tensor:
        if pos_scores.dim() != 1 or neg_scores.dim() != 2 or neg_scores.shape[0] != pos_scores.shape[0]:
            raise ValueError(f"link losses need pos_scores [B] and neg_scores [B, K], got "
                             f"{tuple(pos_scores.shape)} and {tuple(neg_scores.shape)}")
        if weight is None:
            weight = torch.ones_like(pos_scores)
        elif weight.shape != pos_scores.shape:
            raise ValueError(f"weight must be [B] = {tuple(pos_scores.shape)}, got {tuple(weight.shape)}")
        return self.loss(pos_scores, neg_scores, weight.to(pos_scores.dtype))

    def loss(self, pos: Tensor, neg: Tensor, weight: Tensor) -> Tensor:
        raise NotImplementedError


class LinkCrossEntropyLoss(LinkPredictionLoss):
    r"""Binary cross-entropy: positives are label 1, negatives 0 (GraphStorm's ``cross_entropy``).

    .. math::
        \mathcal{L} = -\frac{1}{B(1+K)}\Big[\sum_b w_b \log\sigma(s^+_b)
        + \sum_{b,k} \log(1 - \sigma(s^-_{bk}))\Big]

    With ``adversarial_temperature`` :math:`T` (GraphStorm's adversarial
    negatives) each positive's negatives are weighted by their detached
    :math:`\mathrm{softmax}_k(T s^-_{bk})`, and the positive and negative
    means are averaged: :math:`\frac{1}{2}(\mathrm{avg}_b\, \ell^+_b + \mathrm{avg}_b\, \ell^-_b)`.

    Args:
        adversarial_temperature (float, optional): :math:`T`; :obj:`None` for
            plain cross-entropy. (default: :obj:`None`)
    """

    def __init__(self, adversarial_temperature: float | None = None) -> None:
        super().__init__()
        self.adversarial_temperature = adversarial_temperature

    def loss(self, pos: Tensor, neg: Tensor, weight: Tensor) -> Tensor:
        if self.adversarial_temperature is None:
            scores = torch.cat([pos, neg.reshape(-1)])
            labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg.reshape(-1))])
            weights = torch.cat([weight, torch.ones_like(neg.reshape(-1))])
            return F.binary_cross_entropy_with_logits(scores, labels, weight=weights)
        pos_loss = -(weight * F.logsigmoid(pos)).mean()
        adv = torch.softmax(neg * self.adversarial_temperature, dim=1).detach()
        neg_loss = -(adv * F.logsigmoid(-neg)).sum(1).mean()
        return (pos_loss + neg_loss) / 2


class LinkLogSigmoidLoss(LinkPredictionLoss):
    r"""Log-sigmoid loss with positives and negatives weighing equally in total (DGL-KE's ``Logsigmoid``).

    .. math::
        \mathcal{L} = \frac{1}{2}\Big[-\frac{1}{B}\sum_b w_b \log\sigma(s^+_b)
        - \frac{1}{BK}\sum_{b,k} \log\sigma(-s^-_{bk})\Big]

    Unlike ``cross_entropy``, the :math:`K` negatives of a positive do not
    outweigh it :math:`K` to 1. It equals adversarial cross-entropy at
    temperature 0.
    """

    def loss(self, pos: Tensor, neg: Tensor, weight: Tensor) -> Tensor:
        return (-(weight * F.logsigmoid(pos)).mean() - F.logsigmoid(-neg).mean()) / 2


class LinkContrastiveLoss(LinkPredictionLoss):
    r"""InfoNCE: softmax cross-entropy of each positive against its own negatives (GraphStorm's ``contrastive``).

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_b w_b \log
        \frac{\exp(s^+_b / \tau)}{\exp(s^+_b / \tau) + \sum_k \exp(s^-_{bk} / \tau)}

    The raw scores are divided by :math:`\tau` here, as in GraphStorm's
    ``LinkPredictContrastiveLossFunc`` (GraphStorm ignores edge weights for
    this loss; graphkit applies them).

    Args:
        temperature (float, optional): :math:`\tau`, GraphStorm's
            ``contrastive_loss_temperature``. (default: :obj:`1.0`)
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"the temperature must be > 0, got {temperature}.", key="contrastive_loss_temperature")
        self.temperature = temperature

    def loss(self, pos: Tensor, neg: Tensor, weight: Tensor) -> Tensor:
        logits = torch.cat([pos.unsqueeze(1), neg], dim=1) / self.temperature
        return -(weight * F.log_softmax(logits, dim=1)[:, 0]).mean()


class LinkBPRLoss(LinkPredictionLoss):
    r"""Bayesian personalised ranking from `"BPR" <https://arxiv.org/abs/1205.2618>`_ (GraphStorm's ``bpr``).

    .. math::
        \mathcal{L} = -\frac{1}{BK}\sum_{b,k} w_b \log\sigma(s^+_b - s^-_{bk})
    """

    def loss(self, pos: Tensor, neg: Tensor, weight: Tensor) -> Tensor:
        return -(weight.unsqueeze(1) * F.logsigmoid(pos.unsqueeze(1) - neg)).mean()


# ---------------------------------------------------------------------------
# factories

CLASS_LOSSES = ("cross_entropy", "focal")
REGRESSION_LOSSES = ("mse", "shrinkage")
LP_LOSSES = ("cross_entropy", "logsigmoid", "contrastive", "bpr")


def _unknown(kind: str, name: str, choices: Sequence[str], key: str) -> ConfigError:
    return ConfigError(f"unknown {kind} loss '{name}'.", key=key, hint=did_you_mean(name, choices))


def make_class_loss(name: str = "cross_entropy", *, multilabel: bool = False, class_weights: Weights = None,
                    pos_weights: Weights = None, alpha: float | None = None,
                    gamma: float | None = None, num_classes: int | None = None) -> nn.Module:
    """The classification loss for GraphStorm's ``class_loss_func``.

    Args:
        name (str, optional): ``"cross_entropy"`` or ``"focal"``. (default: :obj:`"cross_entropy"`)
        multilabel (bool, optional): Labels are 0/1 ``[N, C]``. (default: :obj:`False`)
        class_weights (list or str, optional): ``imbalance_class_weights``. (default: :obj:`None`)
        pos_weights (list or str, optional): ``multilabel_weights``. (default: :obj:`None`)
        alpha (float, optional): Focal ``alpha``; :obj:`None` is 0.25. (default: :obj:`None`)
        gamma (float, optional): Focal ``gamma``; :obj:`None` is 2. (default: :obj:`None`)
        num_classes (int, optional): Checked against the focal loss's scalar ``alpha``, which
            only has a meaning for binary (or multi-label) tasks. (default: :obj:`None`)
    """
    if name == "cross_entropy":
        if multilabel:
            return MultiLabelBCELoss(pos_weights=pos_weights, class_weights=class_weights)
        if pos_weights is not None:
            raise ConfigError("multilabel_weights needs multilabel: true.", key="multilabel_weights")
        return CrossEntropyLoss(class_weights)
    if name == "focal":
        if class_weights is not None or pos_weights is not None:
            raise ConfigError("class weights do not combine with the focal loss; set its alpha instead.",
                              key="imbalance_class_weights")
        if num_classes is not None and num_classes > 2 and not multilabel:
            raise ConfigError(f"the focal loss is for binary or multi-label tasks; this one has {num_classes} classes.",
                              key="class_loss_func", hint="Use cross_entropy (with imbalance_class_weights).")
        return FocalLoss(alpha=0.25 if alpha is None else alpha, gamma=2.0 if gamma is None else gamma)
    raise _unknown("classification", name, CLASS_LOSSES, "class_loss_func")


def make_regression_loss(name: str = "mse", *, alpha: float | None = None,
                         gamma: float | None = None) -> nn.Module:
    """The regression loss for GraphStorm's ``regression_loss_func``.

    Args:
        name (str, optional): ``"mse"`` or ``"shrinkage"``. (default: :obj:`"mse"`)
        alpha (float, optional): Shrinkage speed; :obj:`None` is 10. (default: :obj:`None`)
        gamma (float, optional): Shrinkage localisation; :obj:`None` is 0.2. (default: :obj:`None`)
    """
    if name == "mse":
        return MSELoss()
    if name == "shrinkage":
        return ShrinkageLoss(alpha=10.0 if alpha is None else alpha, gamma=0.2 if gamma is None else gamma)
    raise _unknown("regression", name, REGRESSION_LOSSES, "regression_loss_func")


def make_lp_loss(name: str = "cross_entropy", *, temperature: float = 1.0,
                 adversarial_temperature: float | None = None) -> LinkPredictionLoss:
    """The link-prediction loss for GraphStorm's ``lp_loss_func``.

    Args:
        name (str, optional): ``"cross_entropy"``, ``"logsigmoid"``,
            ``"contrastive"`` or ``"bpr"``. (default: :obj:`"cross_entropy"`)
        temperature (float, optional): ``contrastive_loss_temperature``. (default: :obj:`1.0`)
        adversarial_temperature (float, optional): Adversarial negatives for
            ``cross_entropy``. (default: :obj:`None`)
    """
    if adversarial_temperature is not None and name != "cross_entropy":
        raise ConfigError("adversarial_temperature works with lp_loss_func: cross_entropy only.",
                          key="adversarial_temperature")
    if name == "cross_entropy":
        return LinkCrossEntropyLoss(adversarial_temperature)
    if name == "logsigmoid":
        return LinkLogSigmoidLoss()
    if name == "contrastive":
        return LinkContrastiveLoss(temperature)
    if name == "bpr":
        return LinkBPRLoss()
    raise _unknown("link prediction", name, LP_LOSSES, "lp_loss_func")

