from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from hyperopt_cli.config import DataConfig, LabelsConfig
from hyperopt_cli.data.load import load_ohlcv
from hyperopt_cli.data.prepare import SEGMENTS, DataPreparer
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.training.metrics import (
    classification_metrics,
    confusion_matrix,
    is_collapsed,
    prediction_distribution,
    trading_score,
)

labels = st.lists(st.integers(0, 2), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_matches_sklearn(data: st.DataObject) -> None:
    y_true = np.array(data.draw(labels))
    y_pred = np.array(data.draw(st.lists(st.integers(0, 2), min_size=len(y_true), max_size=len(y_true))))
    m = classification_metrics(y_true, y_pred)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=0)
    per_class = f1_score(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=0)
    assert m["macro_precision"] == pytest.approx(p)
    assert m["macro_recall"] == pytest.approx(r)
    assert m["macro_f1"] == pytest.approx(f)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["per_class_f1"] == pytest.approx(list(per_class))
    assert sum(m["pred_distribution"]) == pytest.approx(1.0)


def test_confusion_matrix_rows_are_true_classes() -> None:
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([1, 0, 1, 1]))
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


@pytest.mark.parametrize("bad", [np.array([0, 3]), np.array([-1, 0])])
def test_rejects_values_that_are_not_class_indices(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="class indices"):
        classification_metrics(np.array([0, 1]), bad)


def test_collapse_is_more_than_ninety_percent_in_one_class() -> None:
    pred = np.array([1] * 91 + [0] * 9)
    assert prediction_distribution(pred).tolist() == pytest.approx([0.09, 0.91, 0.0])
    assert is_collapsed(prediction_distribution(pred))
    assert not is_collapsed([0.9, 0.1, 0.0])
    assert classification_metrics(np.zeros(100, int), pred)["collapsed"]


def test_empty_input_gives_zeros_not_errors() -> None:
    m = classification_metrics(np.array([], int), np.array([], int))
    assert m["macro_f1"] == 0.0 and m["accuracy"] == 0.0 and m["pred_distribution"] == [0.0, 0.0, 0.0]
    assert trading_score(np.array([], int), np.array([])) == 0.0


@pytest.mark.parametrize(
    ("pred", "returns", "by_hand"),
    [
        # positions +1 -1 0 +1 (mean .25); mean r = 0 so cov = mean(s*r) = -.0025; var r = .003/4: -1/sqrt(120)
        ([2, 0, 1, 2], [0.02, -0.01, 0.03, -0.04], -1 / math.sqrt(120)),
        # always BUY on a rising market: a constant signal scores exactly 0 (market-neutral)
        ([2, 2, 2, 2], [0.03, 0.01, 0.02, 0.02], 0.0),
        # SELL where it falls, HOLD elsewhere: mean(s*r) = .0075, mean s = -.5, mean r = -.0025,
        # cov = .0075 - .00125 = .00625; var r = .000875/4
        ([0, 1, 0, 1], [-0.02, 0.02, -0.01, 0.0], 0.00625 / math.sqrt(0.00021875)),
    ],
)
def test_trading_score_formula(pred: list[int], returns: list[float], by_hand: float) -> None:
    """Hand-computed values of cov(s, r) / std(r)."""
    assert trading_score(np.array(pred), np.array(returns)) == pytest.approx(by_hand, rel=1e-9, abs=1e-15)


def test_trading_score_hand_checked_example() -> None:
    # s = [1, -1, 0, 1] (mean 0.25), r - mean(r) = [0.01, -0.02, -0.01, 0.02]:
    # mean((s - 0.25) * (r - 0.01)) = 0.05 / 4 = 0.0125; std(r) = sqrt(2.5e-4); score = 2.5 / sqrt(10)
    pred = np.array([2, 0, 1, 2])
    r = np.array([0.02, -0.01, 0.0, 0.03])
    assert trading_score(pred, r) == pytest.approx(2.5 / np.sqrt(10), rel=1e-12)


def test_trading_score_is_zero_for_constant_signals_and_positive_for_the_right_sign() -> None:
    r = np.random.default_rng(1).normal(0.002, 0.01, size=300)  # a drifting market
    for cls in (0, 1, 2):
        assert trading_score(np.full(300, cls), r) == 0.0
    oracle = np.where(r > 0, 2, 0)
    assert trading_score(oracle, r) > 0.5
    assert trading_score(2 - oracle, r) == pytest.approx(-trading_score(oracle, r))


def test_trading_score_is_scale_free_and_skips_missing_returns() -> None:
    r = np.random.default_rng(2).normal(0.0, 0.01, size=100)
    pred = np.where(r > 0, 2, 1)
    assert trading_score(pred, r * 50) == pytest.approx(trading_score(pred, r))
    with_nan = np.append(r, np.nan)
    assert trading_score(np.append(pred, 2), with_nan) == pytest.approx(trading_score(pred, r))
    assert trading_score(pred, np.zeros(100)) == 0.0


def test_trading_score_checks_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        trading_score(np.ones(3, int), np.zeros(4))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(-0.05, 0.05), st.integers(0, 2))
def test_trading_score_properties_on_synthetic_returns(seed: int, shift: float, cls: int) -> None:
    rng = np.random.default_rng(seed)
    r = rng.normal(rng.normal(0, 0.002), 0.01, size=200)
    pred = rng.integers(0, 3, size=200)
    assert trading_score(np.full(200, cls), r) == 0.0
    assert trading_score(pred, r + shift) == pytest.approx(trading_score(pred, r), rel=1e-7, abs=1e-12)


# --------------------------------------------------------------------------- real files

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module", params=["EURUSD_H1.csv", "NASDAQ_D1.csv", "synthetic"])
def segment_returns(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    """Forward returns of each segment (train/val/test) under the default labels."""
    frame = synthetic_ohlcv(3000, seed=3) if request.param == "synthetic" else load_ohlcv(DATA / request.param)
    data = DataPreparer(frame, DataConfig()).prepare(LabelsConfig())
    return {name: getattr(data, name).forward_returns for name in SEGMENTS}


def test_a_constant_signal_scores_exactly_zero_on_every_segment(segment_returns: dict[str, np.ndarray]) -> None:
    for name, r in segment_returns.items():
        for cls in (0, 1, 2):  # always SELL, always HOLD, always BUY
            assert trading_score(np.full(len(r), cls), r) == 0.0, (name, cls)
        # the old mean(s * r) / std(r) rewarded always-BUY with the drift; check the data has one
    drift = [abs(r.mean()) / r.std() for r in segment_returns.values()]
    assert max(drift) > 0.01


def test_adding_a_constant_to_every_return_leaves_every_score_unchanged(segment_returns: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    for name, r in segment_returns.items():
        preds = [rng.integers(0, 3, len(r)), np.where(r > 0, 2, 0), np.where(r > np.median(r), 2, 1)]
        for pred in preds:
            base = trading_score(pred, r)
            for shift in (-0.01, -3 * r.std(), 0.002, 0.05):
                assert trading_score(pred, r + shift) == pytest.approx(base, rel=1e-7, abs=1e-12), (name, shift)


def test_skill_still_scores_positive_on_real_returns(segment_returns: dict[str, np.ndarray]) -> None:
    for r in segment_returns.values():
        assert trading_score(np.where(r > 0, 2, 0), r) > 0.5
        assert trading_score(np.where(r > 0, 0, 2), r) < -0.5
