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


def test_hand_checked_values(synthetic_ohlcv: pd.DataFrame) -> None:
    df = synthetic_ohlcv
    x, names = compute_features(df)
    col = {name: x[:, j] for j, name in enumerate(names)}
    c, o, h, lo = (df[k].to_numpy() for k in ("close", "open", "high", "low"))
    t = 1234
    np.testing.assert_allclose(col["ret_1"][t], np.log(c[t] / c[t - 1]), rtol=1e-5)
    np.testing.assert_allclose(col["ret_16"][t], np.log(c[t] / c[t - 16]), rtol=1e-5)
    np.testing.assert_allclose(col["vol_8"][t], np.std(np.diff(np.log(c[t - 8 : t + 1])), ddof=1), rtol=1e-4)
    np.testing.assert_allclose(col["range"][t], (h[t] - lo[t]) / c[t], rtol=1e-5)
    np.testing.assert_allclose(col["body"][t], (c[t] - o[t]) / c[t], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(col["upper_wick"][t], (h[t] - max(o[t], c[t])) / c[t], rtol=1e-5)
    np.testing.assert_allclose(col["lower_wick"][t], (min(o[t], c[t]) - lo[t]) / c[t], rtol=1e-5)
    hour = df.index[t].hour
    np.testing.assert_allclose(col["hour_sin"][t], np.sin(2 * np.pi * hour / 24), atol=1e-6)
    assert (np.abs(col["rsi"][WARMUP_BARS:]) <= 1).all()
    ma = c[t - 23 : t + 1].mean()
    np.testing.assert_allclose(col["ma_dist"][t], np.log(c[t] / ma) / col["vol_24"][t], rtol=1e-4)


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
