from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

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


@pytest.mark.parametrize(("pred", "returns", "by_hand"), [
    # positions +1 -1 0 +1; s*r = .02 .01 0 -.04, mean -.0025; mean r = 0, var = .003/4: -1/sqrt(120)
    ([2, 0, 1, 2], [0.02, -0.01, 0.03, -0.04], -1 / math.sqrt(120)),
    # always BUY on a rising market: mean r = .02, var = .0002/4, std = .01/sqrt(2): 2*sqrt(2).
    # (The market-neutral score planned in the validity work scores this constant signal 0.)
    ([2, 2, 2, 2], [0.03, 0.01, 0.02, 0.02], 2 * math.sqrt(2)),
    # SELL where it falls, HOLD elsewhere: s*r = .02 0 .01 0, mean .0075; mean r = -.0025,
    # deviations -.0175 .0225 -.0075 .0025, var = .000875/4: .0075/sqrt(.00021875)
    ([0, 1, 0, 1], [-0.02, 0.02, -0.01, 0.0], 0.0075 / math.sqrt(0.00021875)),
])
def test_trading_score_formula(pred: list[int], returns: list[float], by_hand: float) -> None:
    """Hand-computed values of the current formula mean(s * r) / std(r); replace with the new formula's."""
    assert trading_score(np.array(pred), np.array(returns)) == pytest.approx(by_hand, rel=1e-9)


def test_trading_score_is_zero_for_always_hold_and_positive_for_the_right_sign() -> None:
    r = np.random.default_rng(1).normal(0.0, 0.01, size=300)
    assert trading_score(np.ones(300, int), r) == 0.0
    oracle = np.where(r > 0, 2, 0)
    assert trading_score(oracle, r) == pytest.approx(np.abs(r).mean() / r.std())
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
