from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperopt_cli.config import TrainerConfig
from hyperopt_cli.data.prepare import class_weights
from hyperopt_cli.training.losses import build_loss, focal_loss, loss_class_weights, smooth_targets, soft_cross_entropy
from hyperopt_cli.training.trainer import epoch_order

WEIGHTS = torch.tensor([1.5, 0.5, 1.0])


def _batch(seed: int, n: int = 16, soft: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 3, generator=gen) * 3
    labels = torch.randint(0, 3, (n,), generator=gen)
    targets = F.one_hot(labels, 3).float()
    if soft:
        lam = torch.rand(n, 1, generator=gen)
        targets = lam * targets + (1 - lam) * targets[torch.randperm(n, generator=gen)]
    return logits, labels, targets


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_on_one_hot_targets_is_torch_cross_entropy(smoothing: float) -> None:
    logits, labels, targets = _batch(0)
    expected = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    assert torch.allclose(soft_cross_entropy(logits, targets, label_smoothing=smoothing), expected)


def test_weighted_cross_entropy_is_the_per_sample_weighted_mean() -> None:
    logits, _, targets = _batch(1, soft=True)
    q = smooth_targets(targets, 0.1)
    expected = -(WEIGHTS * q * F.log_softmax(logits, -1)).sum(-1).mean()
    assert torch.allclose(soft_cross_entropy(logits, targets, WEIGHTS, 0.1), expected)


@pytest.mark.parametrize("soft", [False, True])
def test_focal_with_gamma_zero_equals_cross_entropy(soft: bool) -> None:
    logits, _, targets = _batch(2, soft=soft)
    assert torch.allclose(
        focal_loss(logits, targets, gamma=0.0, alpha=WEIGHTS, label_smoothing=0.1),
        soft_cross_entropy(logits, targets, WEIGHTS, 0.1),
    )


def test_focal_on_hard_targets_is_the_textbook_formula() -> None:
    logits, labels, targets = _batch(3)
    p_true = torch.softmax(logits, -1).gather(1, labels[:, None]).squeeze(1)
    expected = (-WEIGHTS[labels] * (1 - p_true) ** 2 * torch.log(p_true)).mean()
    assert torch.allclose(focal_loss(logits, targets, gamma=2.0, alpha=WEIGHTS), expected, atol=1e-6)


def test_focal_down_weights_easy_examples_more_than_hard_ones() -> None:
    targets = F.one_hot(torch.tensor([0, 0]), 3).float()
    easy, hard = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    ratio = [focal_loss(x, targets[:1], 2.0) / soft_cross_entropy(x, targets[:1]) for x in (easy, hard)]
    assert ratio[0] < ratio[1] < 1


def test_focal_gradient_stays_finite_at_certain_predictions() -> None:
    logits = torch.tensor([[200.0, 0.0, 0.0], [0.0, 200.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 0.0], [0.7, 0.3, 0.0]])
    loss = focal_loss(logits, targets, gamma=0.5, alpha=WEIGHTS, label_smoothing=0.1)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), gamma=st.floats(0.1, 4.0), smoothing=st.floats(0.0, 0.3))
def test_focal_is_non_negative_and_below_cross_entropy(seed: int, gamma: float, smoothing: float) -> None:
    logits, _, targets = _batch(seed, n=8, soft=True)
    focal = focal_loss(logits, targets, gamma, label_smoothing=smoothing)
    assert 0 <= focal <= soft_cross_entropy(logits, targets, label_smoothing=smoothing) + 1e-6


@pytest.mark.parametrize("use_focal", [False, True])
@pytest.mark.parametrize("use_weights", [False, True])
def test_build_loss_follows_the_config(use_focal: bool, use_weights: bool) -> None:
    cfg = TrainerConfig(use_focal_loss=use_focal, use_class_weights=use_weights, focal_gamma=1.5, label_smoothing=0.05)
    logits, _, targets = _batch(4, soft=True)
    loss = build_loss(cfg, np.array([1.5, 0.5, 1.0], dtype=np.float32))(logits, targets)
    alpha = WEIGHTS if use_weights else None
    if use_focal:
        expected = focal_loss(logits, targets, 1.5, alpha, 0.05)
    else:
        expected = soft_cross_entropy(logits, targets, alpha, 0.05)
    assert torch.allclose(loss, expected)


@pytest.mark.parametrize(
    ("focal", "uniform_logits_loss"),
    [
        (False, math.log(3)),  # p = 1/3 for every class and sum(q) = 1: -log(1/3)
        (True, (2 / 3) ** 2 * math.log(3)),  # times (1 - p)^gamma with gamma = 2
    ],
)
def test_build_loss_accepts_missing_class_weights(focal: bool, uniform_logits_loss: float) -> None:
    """use_class_weights without weights is the unweighted loss, not an error nor some other loss."""
    cfg = TrainerConfig(use_class_weights=True, use_focal_loss=focal, focal_gamma=2.0, label_smoothing=0.1)
    uniform = torch.zeros(4, 3)
    one_hot = F.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    assert build_loss(cfg, None)(uniform, one_hot).item() == pytest.approx(uniform_logits_loss, rel=1e-6)
    logits, _, targets = _batch(5)
    unweighted = TrainerConfig(use_class_weights=False, use_focal_loss=focal, focal_gamma=2.0, label_smoothing=0.1)
    missing = build_loss(cfg, None)(logits, targets)
    assert torch.equal(missing, build_loss(unweighted, WEIGHTS.numpy())(logits, targets))
    assert not torch.allclose(missing, build_loss(cfg, WEIGHTS.numpy())(logits, targets))  # weights do matter


def _loss_share_per_class(cfg: TrainerConfig, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each class's share of one epoch's total training loss, measured through build_loss.

    With all-zero logits every sample's unweighted loss is the same (log 3), so the shares
    are exactly the shares of loss weight the classes get in the epoch the trainer draws.
    """
    order = epoch_order(labels, seed=0, epoch=0, oversample=cfg.use_oversampling)
    epoch_labels = torch.from_numpy(labels[order])
    loss_fn = build_loss(cfg, weights)
    totals = []
    for c in range(3):
        members = epoch_labels[epoch_labels == c]
        targets = torch.nn.functional.one_hot(members, 3).to(torch.float32)
        totals.append(float(loss_fn(torch.zeros(len(members), 3), targets)) * len(members))
    return np.array(totals) / sum(totals)


@pytest.mark.parametrize("use_focal", [False, True])
@pytest.mark.parametrize(("use_weights", "use_oversampling"), [(True, True), (True, False), (False, True)])
def test_classes_are_balanced_once(use_focal: bool, use_weights: bool, use_oversampling: bool) -> None:
    labels = np.repeat(np.array([0, 1, 2]), [150, 700, 150])  # HOLD-heavy, like real triple-barrier labels
    cfg = TrainerConfig(
        use_focal_loss=use_focal, use_class_weights=use_weights, use_oversampling=use_oversampling, label_smoothing=0.0
    )
    shares = _loss_share_per_class(cfg, labels, class_weights(labels))
    np.testing.assert_allclose(shares, [1 / 3] * 3, atol=0.01)


def test_weights_on_top_of_oversampling_would_balance_twice() -> None:
    """What the rule prevents: the train-segment weights applied to an oversampled epoch."""
    labels = np.repeat(np.array([0, 1, 2]), [150, 700, 150])
    weights = class_weights(labels)
    order = epoch_order(labels, seed=0, epoch=0, oversample=True)
    per_class = np.bincount(labels[order], minlength=3) * weights
    assert per_class[1] / per_class.sum() < 0.15  # the majority class would get far less than a third


def test_oversampling_keeps_an_absent_class_at_zero_weight() -> None:
    cfg = TrainerConfig(use_class_weights=True, use_oversampling=True)
    weight = loss_class_weights(cfg, np.array([0.0, 0.8, 1.2], dtype=np.float32))
    assert weight is not None and weight.tolist() == [0.0, 1.0, 1.0]
