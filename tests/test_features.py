"""Features: shape and dtype, warm-up, strict causality, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hyperopt_cli.data.features import WARMUP_BARS, compute_features, feature_names, first_valid_row


def test_shape_dtype_names(synthetic_ohlcv: pd.DataFrame) -> None:
    x, names = compute_features(synthetic_ohlcv)
    assert x.shape == (len(synthetic_ohlcv), len(names))
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert names == feature_names() and len(set(names)) == len(names)


def test_warmup_rows_are_nan_then_all_defined(synthetic_ohlcv: pd.DataFrame) -> None:
    x, _ = compute_features(synthetic_ohlcv)
    assert first_valid_row(x) == WARMUP_BARS
    assert np.isnan(x[:WARMUP_BARS]).any(axis=1).all()
    assert np.isfinite(x[WARMUP_BARS:]).all()


@pytest.mark.parametrize("cut", [0, 5, WARMUP_BARS - 1, WARMUP_BARS, 500, 2998])
def test_strictly_causal(synthetic_ohlcv: pd.DataFrame, cut: int) -> None:
    """Changing bars after `cut` leaves rows 0..cut exactly as they were."""
    x, _ = compute_features(synthetic_ohlcv)
    future = synthetic_ohlcv.copy()
    rng = np.random.default_rng(cut)
    n_future = len(future) - cut - 1
    scale = np.exp(rng.normal(0, 0.5, n_future))
    for col in ("open", "high", "low", "close"):
        future.iloc[cut + 1 :, future.columns.get_loc(col)] *= scale
    future.iloc[cut + 1 :, future.columns.get_loc("volume")] = rng.integers(0, 10**6, n_future)
    y, _ = compute_features(future)
    np.testing.assert_array_equal(x[: cut + 1], y[: cut + 1])
    assert not np.array_equal(x[cut + 1 :], y[cut + 1 :], equal_nan=True)


def ema_by_hand(x: np.ndarray, alpha: float) -> np.ndarray:
    """The textbook recursive average y_i = (1 - alpha) y_(i-1) + alpha x_i, started at the first x."""
    y = np.empty_like(x)
    y[0] = x[0]
    for i in range(1, len(x)):
        y[i] = (1 - alpha) * y[i - 1] + alpha * x[i]
    return y


def test_hand_checked_values(synthetic_ohlcv: pd.DataFrame) -> None:
    """One value of every feature at bar t, each from its definition in docs/data.md."""
    df = synthetic_ohlcv
    x, names = compute_features(df)
    c, o, h, lo, v = (df[k].to_numpy(dtype=np.float64) for k in ("close", "open", "high", "low", "volume"))
    t = 1234
    r1 = np.diff(np.log(c))  # r1[i] is the return into bar i + 1

    def vol(w: int) -> float:
        return float(np.std(r1[t - w : t], ddof=1))

    lv = np.log1p(v[t - 95 : t + 1])
    delta = np.diff(c[: t + 1])
    gain = ema_by_hand(np.clip(delta, 0, None), 1 / 14)[-1]
    loss = ema_by_hand(np.clip(-delta, 0, None), 1 / 14)[-1]
    macd = ema_by_hand(c, 2 / 13) - ema_by_hand(c, 2 / 27)
    signal = ema_by_hand(macd[25 : t + 1], 2 / 10)[-1]  # the slow EMA is defined from bar 25 on
    when = df.index[t]
    hours = when.hour + when.minute / 60
    days = when.day_of_week + hours / 24
    expected = {
        **{f"ret_{k}": np.log(c[t] / c[t - k]) for k in (1, 2, 4, 8, 16)},
        "vol_8": vol(8),
        "vol_24": vol(24),
        "vol_96": vol(96),
        "vol_ratio_8_96": vol(8) / vol(96),
        "range": (h[t] - lo[t]) / c[t],
        "body": (c[t] - o[t]) / c[t],
        "upper_wick": (h[t] - max(o[t], c[t])) / c[t],
        "lower_wick": (min(o[t], c[t]) - lo[t]) / c[t],
        "volume_z": (lv[-1] - lv.mean()) / lv.std(ddof=1),
        "rsi": (gain - loss) / (gain + loss),
        "macd_hist": (macd[t] - signal) / c[t] / vol(24),
        "ma_dist": np.log(c[t] / c[t - 23 : t + 1].mean()) / vol(24),
        "hour_sin": np.sin(2 * np.pi * hours / 24),
        "hour_cos": np.cos(2 * np.pi * hours / 24),
        "dow_sin": np.sin(2 * np.pi * days / 7),
        "dow_cos": np.cos(2 * np.pi * days / 7),
    }
    assert sorted(expected) == sorted(names) and len(names) == 21
    for j, name in enumerate(names):
        np.testing.assert_allclose(x[t, j], expected[name], rtol=1e-4, atol=1e-6, err_msg=name)
    assert (np.abs(x[WARMUP_BARS:, names.index("rsi")]) <= 1).all()


def test_time_features_of_a_known_bar() -> None:
    """Wednesday 2024-01-03 06:00 UTC, given in UTC+2: hour 6 of 24, day 2.25 of 7 (Monday is 0)."""
    index = pd.DatetimeIndex(["2024-01-03 08:00"]).tz_localize("Etc/GMT-2")
    bar = pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]}, index=index)
    x, names = compute_features(bar)
    got = {name: float(x[0, names.index(name)]) for name in ("hour_sin", "hour_cos", "dow_sin", "dow_cos")}
    # 2 pi 2.25 / 7 = 2.01960 rad
    assert got == pytest.approx({"hour_sin": 1.0, "hour_cos": 0.0, "dow_sin": 0.900969, "dow_cos": -0.433884}, abs=1e-6)


def test_scale_free_prices(synthetic_ohlcv: pd.DataFrame) -> None:
    x, names = compute_features(synthetic_ohlcv)
    scaled = synthetic_ohlcv.copy()
    scaled[["open", "high", "low", "close"]] *= 1000.0
    y, _ = compute_features(scaled)
    np.testing.assert_allclose(x[WARMUP_BARS:], y[WARMUP_BARS:], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("volume", [0.0, 500.0])
def test_constant_volume_gives_zero_z_score(synthetic_ohlcv: pd.DataFrame, volume: float) -> None:
    df = synthetic_ohlcv.copy()
    df["volume"] = volume
    x, names = compute_features(df)
    z = x[WARMUP_BARS:, names.index("volume_z")]
    assert (z == 0).all()


def test_flat_prices_give_finite_features(synthetic_ohlcv: pd.DataFrame) -> None:
    df = synthetic_ohlcv.iloc[:300].copy()
    df[["open", "high", "low", "close"]] = 1.5
    x, _ = compute_features(df)
    assert np.isfinite(x[WARMUP_BARS:]).all()
