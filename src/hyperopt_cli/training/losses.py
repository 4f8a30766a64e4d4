"""Training losses over soft targets: cross-entropy and focal loss, with label smoothing and class weights.

Both take `target_probs` of shape (batch, 3) — one-hot rows for plain batches, mixed rows
after mixup — and return the mean over the batch of the per-sample loss:

    q    = (1 - eps) * target_probs + eps / C          (label smoothing, C = 3)
    CE   = - sum_c w_c * q_c * log p_c
    focal= - sum_c w_c * q_c * (1 - p_c)^gamma * log p_c

with p = softmax(logits) and w the class weights (all ones when off). With gamma = 0 the
focal loss equals the cross-entropy. The mean is over samples (not over sum of weights),
which is what ``F.cross_entropy`` does for probability targets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from hyperopt_cli.config import TrainerConfig

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def smooth_targets(target_probs: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    if label_smoothing == 0.0:
        return target_probs
    return target_probs * (1.0 - label_smoothing) + label_smoothing / target_probs.shape[-1]


def soft_cross_entropy(
    logits: torch.Tensor,
    target_probs: torch.Tensor,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy against probability targets (same result as ``F.cross_entropy`` with them)."""
    return F.cross_entropy(logits, target_probs, weight=weight, label_smoothing=label_smoothing)


def focal_loss(
    logits: torch.Tensor,
    target_probs: torch.Tensor,
    gamma: float,
    alpha: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) generalised to soft targets; `alpha` are per-class weights."""
    log_p = F.log_softmax(logits, dim=-1)
    q = smooth_targets(target_probs, label_smoothing)
    per_class = -q * log_p
    if gamma != 0.0:
        # Floor 1 - p: at p == 1 the gradient of (1 - p)^gamma is infinite for gamma < 1 (inf * 0 = NaN).
        per_class = per_class * (-torch.expm1(log_p)).clamp_min(1e-12).pow(gamma)
    if alpha is not None:
        per_class = per_class * alpha
    return per_class.sum(dim=-1).mean()


def loss_class_weights(
    trainer_cfg: TrainerConfig, class_weights: np.ndarray | torch.Tensor | None
) -> torch.Tensor | None:
    """The per-class weights the loss applies, so that the classes are balanced exactly once.

    `class_weights` are the inverse class frequencies of the train segment (0 for an absent
    class). They apply only with ``use_class_weights``. With ``use_oversampling`` too, the
    epochs are already drawn balanced, and the inverse frequencies of that balanced
    distribution are uniform: every present class gets 1 (an absent one keeps 0). Applying
    the train-segment weights on top would balance twice and hand the rarest class most
    of the loss.
    """
    if not trainer_cfg.use_class_weights or class_weights is None:
        return None
    weight = torch.as_tensor(class_weights).to(dtype=torch.float32)
    if trainer_cfg.use_oversampling:
        weight = (weight > 0).to(torch.float32)
    return weight


def build_loss(
    trainer_cfg: TrainerConfig,
    class_weights: np.ndarray | torch.Tensor | None,
    device: torch.device | str = "cpu",
) -> LossFn:
    """The training loss the config asks for, as ``loss(logits, target_probs) -> scalar``.

    Class weights (as CE weights, or as the focal alpha) are those of `loss_class_weights`.
    """
    weight = loss_class_weights(trainer_cfg, class_weights)
    if weight is not None:
        weight = weight.to(device=device)
    smoothing = float(trainer_cfg.label_smoothing)
    if trainer_cfg.use_focal_loss:
        gamma = float(trainer_cfg.focal_gamma)
        return lambda logits, targets: focal_loss(logits, targets, gamma, weight, smoothing)
    return lambda logits, targets: soft_cross_entropy(logits, targets, weight, smoothing)
