"""Selection: purged folds inside train+val, the fold-mean objective at the best epoch, skill, PBO."""

from __future__ import annotations

import numpy as np
import pytest

from hyperopt_cli.config import DataConfig, LabelsConfig
from hyperopt_cli.data.folds import selection_splits
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.evaluation.pbo import pbo
from hyperopt_cli.search.selection import SKILL, FoldCurve, guard, select
from hyperopt_cli.training.metrics import prior_cross_entropy, sub_blocks


def epoch(loss: float, f1: float = 0.4, blocks: list[float] | None = None) -> dict:
    return {"val_loss": loss, "val_f1": f1, "val_blocks": {"val_loss": blocks or [loss] * 4, "val_f1": [f1] * 4}}


# --------------------------------------------------------------------------- folds


def test_the_last_fold_is_the_configured_split_and_earlier_ones_expand() -> None:
    train, val = np.arange(0, 700), np.arange(712, 862)  # a 12-bar purge already cut before val
    folds = selection_splits(train, val, 3, purge=12)
    assert len(folds) == 3
    fit, held = folds[-1]
    assert np.array_equal(fit, np.arange(700)) and np.array_equal(held, np.arange(700, 850))
    pool = np.concatenate([train, val])
    sizes = [len(f) for f, _ in folds]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]  # expanding windows
    for fit, held in folds:
        assert len(held) == len(val)
        assert (pool[fit] + 12 < pool[held[0]]).all()  # every label ends before its validation block
        assert pool[fit].max() < pool[held].min()


def test_folds_without_enough_training_samples_are_left_out() -> None:
    folds = selection_splits(np.arange(60), np.arange(80, 140), 3, purge=10)
    assert len(folds) == 1  # only the configured split itself is long enough


def test_prepare_folds_scales_each_fold_on_its_own_training_rows(synthetic_ohlcv) -> None:
    preparer = DataPreparer(synthetic_ohlcv.copy(), DataConfig(window=8))
    labels = LabelsConfig()
    assert preparer.prepare_folds(labels, 1) == [preparer.prepare(labels)]
    folds = preparer.prepare_folds(labels, 3)
    assert len(folds) == 3 and folds[-1] is preparer.prepare(labels)
    first = folds[0]
    rows = np.arange(preparer.warmup_bars, int(first.train.end_rows[-1]) + 1)
    assert np.abs(first.train.features[rows].mean(axis=0)).max() < 1e-3  # centred on its own rows only
    assert not np.array_equal(first.train.features, folds[-1].train.features)
    assert first.val.end_rows[0] > first.train.end_rows[-1] + labels.horizon
    assert preparer.prepare_folds(labels, 3)[0] is first  # cached


# --------------------------------------------------------------------------- objective


def test_the_objective_is_the_best_epoch_of_the_fold_mean_curve() -> None:
    curves = [
        FoldCurve([epoch(1.0), epoch(0.8), epoch(0.9)], 1.1),
        FoldCurve([epoch(1.2), epoch(1.0), epoch(0.7)], 1.1),
    ]
    chosen = select(curves, "val_loss", "minimize")
    assert chosen.curve == pytest.approx([1.1, 0.9, 0.8])
    assert (chosen.epochs, chosen.value) == (3, pytest.approx(0.8))
    assert chosen.fold_values == pytest.approx([0.9, 0.7])
    assert len(chosen.units) == 8 and chosen.units[:4] == pytest.approx([0.9] * 4)


def test_a_tie_keeps_the_earlier_epoch_and_nan_never_wins() -> None:
    curves = [FoldCurve([epoch(0.5), epoch(float("nan")), epoch(0.5)], 1.0)]
    assert select(curves, "val_loss", "minimize").epochs == 1
    assert select([FoldCurve([epoch(1.0, f1=0.3), epoch(1.0, f1=0.5)], 1.0)], "val_f1", "maximize").epochs == 2


def test_skill_is_zero_for_the_label_prior_and_compares_label_sets() -> None:
    train = np.array([0] * 10 + [1] * 80 + [2] * 10)
    val = np.array([0] * 10 + [1] * 80 + [2] * 10)
    prior = prior_cross_entropy(train, val)
    assert prior == pytest.approx(-(0.2 * np.log(11 / 103) + 0.8 * np.log(81 / 103)))
    # A model no better than the prior scores 0 whatever the labels; a lopsided label set earns nothing.
    curves = [FoldCurve([epoch(prior)], prior, [prior] * 4)]
    assert select(curves, SKILL, "maximize").value == pytest.approx(0.0)
    better = [FoldCurve([epoch(0.5 * prior)], prior, [prior] * 4)]
    assert select(better, SKILL, "maximize").value == pytest.approx(0.5)
    assert select(better, SKILL, "maximize").skill_units == pytest.approx([0.5] * 4)


def test_sub_blocks_cover_every_sample_once() -> None:
    assert [len(b) for b in sub_blocks(10)] == [3, 3, 2, 2]
    assert np.array_equal(np.concatenate(sub_blocks(10)), np.arange(10))
    assert [len(b) for b in sub_blocks(2)] == [1, 1] and sub_blocks(0) == []


# --------------------------------------------------------------------------- the incumbent guard


def test_guard_needs_a_gain_above_its_standard_error() -> None:
    inc = [0.50, 0.50, 0.50, 0.50]
    noisy = guard(inc, [0.60, 0.40, 0.62, 0.42], 0.01, "maximize", 1.0)
    assert not noisy.replace and noisy.delta == pytest.approx(0.01) and noisy.se > 0.01
    clear = guard(inc, [0.55, 0.56, 0.54, 0.55], 0.05, "maximize", 1.0)
    assert clear.replace and clear.n_units == 4
    assert guard([0.9] * 4, [0.8, 0.81, 0.79, 0.8], 0.1, "minimize", 1.0).replace  # a lower loss is a gain
    assert not guard([0.8, 0.81, 0.79, 0.8], [0.9] * 4, -0.1, "minimize", 0.0).replace


def test_guard_without_comparable_units_falls_back_to_the_objective() -> None:
    assert guard(None, None, 0.01, "maximize", 1.0).replace
    assert not guard([0.5] * 4, [0.6] * 8, -0.01, "maximize", 1.0).replace


# --------------------------------------------------------------------------- PBO


def test_pbo_is_low_when_in_sample_skill_holds_out_of_sample() -> None:
    rng = np.random.default_rng(0)
    skill = np.linspace(0.0, 1.0, 12)[:, None] + rng.normal(scale=0.05, size=(12, 12))
    assert pbo(skill) == pytest.approx(0.0)


def test_pbo_of_pure_noise_is_about_one_half() -> None:
    values = [pbo(np.random.default_rng(seed).normal(size=(20, 12))) for seed in range(30)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert 0.35 < float(np.mean(values)) < 0.65


def test_pbo_is_high_when_the_in_sample_winner_loses_out_of_sample() -> None:
    # Each configuration is lucky on one half of the units and unlucky on the other: picking on
    # one half picks a configuration that is below the median on the other.
    n = 8
    scores = np.zeros((n, 8))
    for i in range(n):
        scores[i, i % 8] = 1.0
        scores[i, (i + 4) % 8] = -1.0
    assert pbo(scores) > 0.5


def test_pbo_needs_two_configurations_and_two_units() -> None:
    assert pbo([[0.1, 0.2]]) is None and pbo([[0.1], [0.2]]) is None
    assert pbo([[0.1, 0.2, float("nan")], [0.2, 0.3, 0.1], [0.0, 0.1, 0.3]]) is not None  # the NaN row is left out
