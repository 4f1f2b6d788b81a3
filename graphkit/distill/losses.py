r"""Distillation losses.

- Embedding matching (GraphStorm's distillation):
  :math:`\mathrm{MSE}(\mathbf{h}^{student}_i, \mathbf{h}^{teacher}_i)`.
- Soft labels through the teacher's frozen decoder (Hinton et al., 2015,
  https://arxiv.org/abs/1503.02531): :math:`T^2\,\mathrm{KL}(\mathrm{softmax}(z^t/T)\,\|\,\mathrm{softmax}(z^s/T))`;
  multi-label tasks use binary cross-entropy against :math:`\sigma(z^t/T)`, regression the MSE of the outputs.
  The :math:`T^2` keeps the gradient scale independent of the temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from graphkit.distill.spec import HeadSpec


def embedding_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(student, teacher)


def relative_mse(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """MSE divided by the teacher embeddings' variance (``1 - R²``): 1.0 is "predicts the mean", 0 is exact."""
    var = float(((teacher - teacher.mean(0)) ** 2).mean())
    return float(F.mse_loss(student, teacher)) / max(var, 1e-12)


def soft_label_loss(student_out: torch.Tensor, teacher_out: torch.Tensor, head: HeadSpec,
                    temperature: float) -> torch.Tensor:
    """The student's decoder outputs against the teacher's (both through the same frozen decoder)."""
    t = float(temperature)
    if head.regression:
        return F.mse_loss(student_out, teacher_out)
    if head.multilabel:
        return F.binary_cross_entropy_with_logits(student_out / t, torch.sigmoid(teacher_out / t)) * t * t
    return F.kl_div(F.log_softmax(student_out / t, dim=-1), F.log_softmax(teacher_out / t, dim=-1),
                    reduction="batchmean", log_target=True) * t * t
