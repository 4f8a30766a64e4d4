"""Triple-barrier labels against a brute-force loop written from the definition."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyperopt_cli.config import LabelsConfig
from hyperopt_cli.data.labels import barrier_labels, ewm_vol, triple_barrier_labels


def labels_cfg(horizon: int, take_profit: float, stop_loss: float, threshold: float, vol_span: int) -> LabelsConfig:
    return LabelsConfig(
        horizon=horizon, take_profit=take_profit, stop_loss=stop_loss, threshold=threshold, vol_span=vol_span
    )


def brute_vol(close: list[float], vol_span: int) -> list[float]:
    returns = [math.nan] + [float(np.log(close[t] / close[t - 1])) for t in range(1, len(close))]
    return pd.Series(returns).ewm(span=vol_span).std().tolist()


def brute_labels(
    close: list[float], vol: list[float], horizon: int, tp: float, sl: float, thr: float
) -> tuple[list[int], list[bool]]:
    """The definition, one bar at a time."""
    n = len(close)
    labels, valid = [0] * n, [False] * n
    for i in range(n):
        if i + horizon >= n or math.isnan(vol[i]):
            continue
        valid[i] = True
        label = None
        for j in range(i + 1, i + horizon + 1):
            r = float(np.log(close[j] / close[i]))
            if r > tp * vol[i]:
                label = 1
                break
            if r < -sl * vol[i]:
                label = -1
                break
        if label is None:
            r = float(np.log(close[i + horizon] / close[i]))
            label = (1 if r > 0 else -1) if abs(r) > thr * vol[i] else 0
        labels[i] = label
    return labels, valid


def _check(close: list[float], horizon: int, tp: float, sl: float, thr: float, span: int) -> None:
    labels, valid = triple_barrier_labels(np.array(close), labels_cfg(horizon, tp, sl, thr, span))
    want_labels, want_valid = brute_labels(close, brute_vol(close, span), horizon, tp, sl, thr)
    assert labels.dtype == np.int8 and valid.dtype == np.bool_
    assert valid.tolist() == want_valid
    assert labels.tolist() == want_labels


log_steps = st.lists(st.floats(-0.05, 0.05, allow_nan=False), min_size=1, max_size=80)
positive = st.floats(0.01, 4.0, allow_nan=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=log_steps,
    horizon=st.integers(1, 12),
    tp=positive,
    sl=positive,
    thr=st.floats(0.0, 3.0, allow_nan=False),
    span=st.integers(2, 30),
)
def test_matches_brute_force_on_random_paths(
    steps: list[float], horizon: int, tp: float, sl: float, thr: float, span: int
) -> None:
    close = (100.0 * np.exp(np.cumsum([0.0, *steps]))).tolist()
    _check(close, horizon, tp, sl, thr, span)


@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0]), min_size=2, max_size=40),
    horizon=st.integers(1, 6),
    picks=st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
)
def test_returns_exactly_on_a_barrier_do_not_touch_it(
    prices: list[float], horizon: int, picks: tuple[int, int, int]
) -> None:
    # With vol = 1 and barriers equal to returns that occur in the path, ties are common.
    values = sorted({abs(float(np.log(b / a))) for a in prices for b in prices} - {0.0}) or [1.0]
    tp, sl, thr = (values[p % len(values)] for p in picks)
    vol = [1.0] * len(prices)
    labels, valid = barrier_labels(np.array(prices), np.array(vol), horizon, tp, sl, thr)
    want_labels, want_valid = brute_labels(prices, vol, horizon, tp, sl, thr)
    assert labels.tolist() == want_labels
    assert valid.tolist() == want_valid


@settings(max_examples=100, deadline=None)
@given(prices=st.lists(st.sampled_from([1.0, 1.5, 2.0]), min_size=2, max_size=40), horizon=st.integers(1, 5))
def test_flat_and_repeated_prices_with_zero_threshold(prices: list[float], horizon: int) -> None:
    _check(prices, horizon, 1.0, 1.0, 0.0, 5)


def test_hand_computed_example() -> None:
    close = np.array([100.0, 101.0, 103.0, 99.0, 100.0, 100.0, 98.0])
    vol = np.full(7, 0.01)  # barriers at +-2% (tp = sl = 2), vertical at 0.5%
    labels, valid = barrier_labels(close, vol, horizon=2, take_profit=2.0, stop_loss=2.0, threshold=0.5)
    # bar 0: log(101/100) = 0.995%, then log(103/100) = 2.956% > 2%      -> BUY
    # bar 1: log(103/101) = 1.961%, then log(99/101) = -2.00007% < -2%   -> SELL
    # bar 2: log(99/103) = -3.96% < -2%                                   -> SELL
    # bar 3: log(100/99) = 1.005% twice: no barrier; vertical 1.005% > 0.5% -> BUY
    # bar 4: 0%, then log(98/100) = -2.02% < -2%                          -> SELL
    # bars 5, 6: no full horizon ahead                                    -> invalid
    assert labels.tolist() == [1, -1, -1, 1, -1, 0, 0]
    assert valid.tolist() == [True] * 5 + [False, False]


def test_first_touch_wins_and_vertical_hold() -> None:
    vol = np.full(6, 0.01)
    down_then_up = np.array([100.0, 97.0, 104.0, 100.0, 100.0, 100.0])
    labels, _ = barrier_labels(down_then_up, vol, 3, 2.0, 2.0, 0.5)
    assert labels[0] == -1  # the stop is hit at bar 1 before the take-profit at bar 2
    flat = np.array([100.0, 100.2, 99.9, 100.1, 100.0, 100.0])
    labels, valid = barrier_labels(flat, vol, 3, 2.0, 2.0, 0.5)
    assert labels[0] == 0 and valid[0]  # |log(100.1/100)| = 0.1% <= 0.5%: HOLD


def test_exact_tie_by_construction() -> None:
    close = np.array([1.0, 2.0, 2.0])
    r = float(np.log(2.0))
    vol = np.ones(3)
    labels, _ = barrier_labels(close, vol, 1, r, 5.0, r)  # return == tp and == threshold: HOLD
    assert labels[0] == 0
    labels, _ = barrier_labels(close, vol, 1, np.nextafter(r, 0), 5.0, r)  # just inside: BUY
    assert labels[0] == 1


def test_a_return_exactly_on_the_stop_loss_does_not_touch_it() -> None:
    """Written out by hand: log(1/2) is exactly -log(2), so a stop at log(2) vol units is met, not crossed."""
    r = float(np.log(2.0))
    vol = np.ones(3)
    on_the_stop = np.array([2.0, 1.0, 1.0])
    labels, valid = barrier_labels(on_the_stop, vol, horizon=1, take_profit=5.0, stop_loss=r, threshold=5.0)
    assert labels[0] == 0 and valid[0]  # on the stop, inside the vertical threshold: HOLD
    labels, _ = barrier_labels(
        on_the_stop, vol, horizon=1, take_profit=5.0, stop_loss=np.nextafter(r, 0), threshold=5.0
    )
    assert labels[0] == -1  # a hair tighter stop is crossed: SELL
    # Met at bar 1, then the take-profit (1.5 log 2) crossed at bar 2 with log(8/2) = 2 log 2: BUY, not SELL.
    met_then_up = np.array([2.0, 1.0, 8.0, 8.0])
    labels, _ = barrier_labels(met_then_up, np.ones(4), horizon=2, take_profit=1.5 * r, stop_loss=r, threshold=5.0)
    assert labels[0] == 1


def test_invalid_bars_and_vol() -> None:
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 50)))
    labels, valid = triple_barrier_labels(close, labels_cfg(5, 1.0, 1.0, 0.2, 10))
    vol = ewm_vol(close, 10)
    assert np.isnan(vol[:2]).all() and not np.isnan(vol[2:]).any()  # pandas' ewm std needs two returns
    assert not valid[:2].any() and valid[2:-5].all() and not valid[-5:].any()
    assert (labels[~valid] == 0).all()
    assert set(np.unique(labels)) <= {-1, 0, 1}


def test_short_series_has_no_labels() -> None:
    labels, valid = triple_barrier_labels(np.array([1.0, 2.0, 3.0]), labels_cfg(5, 1.0, 1.0, 0.0, 2))
    assert not valid.any() and (labels == 0).all()


def test_rejects_zero_horizon() -> None:
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        barrier_labels(np.ones(5), np.ones(5), 0, 1.0, 1.0, 0.0)


def test_vectorised_on_many_bars(synthetic_ohlcv: pd.DataFrame) -> None:
    close = synthetic_ohlcv["close"].to_numpy()
    labels, valid = triple_barrier_labels(close, labels_cfg(12, 2.0, 2.0, 0.5, 50))
    want, want_valid = brute_labels(close.tolist(), brute_vol(close.tolist(), 50), 12, 2.0, 2.0, 0.5)
    assert labels.tolist() == want and valid.tolist() == want_valid
    shares = np.bincount(labels[valid] + 1, minlength=3) / valid.sum()
    assert (shares > 0.05).all()  # all three classes are present on the default settings
