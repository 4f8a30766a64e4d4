"""Synthetic bars: format, determinism, consistency and the stylised facts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperopt_cli.core.errors import ConfigError
from hyperopt_cli.data.load import load_ohlcv
from hyperopt_cli.data.synthetic import MEAN_REGIME_BARS, REGIMES, _regimes, garch_variance, synthetic_ohlcv


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return synthetic_ohlcv(100_000, seed=3)


def test_format_matches_load_ohlcv(synthetic_ohlcv: pd.DataFrame) -> None:
    df = synthetic_ohlcv
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert (df.dtypes == np.float64).all()
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC"
    assert df.index.name == "timestamp" and df.index.dtype == "datetime64[ns, UTC]"
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert df.index[0] == pd.Timestamp("2020-01-01", tz="UTC")
    assert df.attrs["warnings"] == [] and df.attrs["info"]["bar_size"] == "1h"


def test_deterministic_for_a_seed() -> None:
    a, b, c = synthetic_ohlcv(2000, 11), synthetic_ohlcv(2000, 11), synthetic_ohlcv(2000, 12)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"], c["close"])


def test_start_and_freq_apply() -> None:
    df = synthetic_ohlcv(10, 1, start="2021-06-01 12:00", freq="15min")
    assert df.index[1] - df.index[0] == pd.Timedelta("15min")
    assert df.index[0] == pd.Timestamp("2021-06-01 12:00", tz="UTC")


def test_consistent_ohlc(big: pd.DataFrame) -> None:
    o, h, lo, c, v = (big[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert (lo > 0).all()
    assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
    assert (v >= 0).all()
    np.testing.assert_array_equal(o[1:], c[:-1])


def test_passes_load_validation(tmp_path: Path, synthetic_ohlcv: pd.DataFrame) -> None:
    path = tmp_path / "bars.csv"
    synthetic_ohlcv.to_csv(path)
    loaded = load_ohlcv(path)
    pd.testing.assert_frame_equal(loaded, synthetic_ohlcv, check_freq=False, rtol=1e-12)


def test_stylised_facts(big: pd.DataFrame) -> None:
    r = np.diff(np.log(big["close"].to_numpy()))
    abs_r = pd.Series(np.abs(r))
    assert pd.Series(r).kurt() > 3  # fat tails (excess kurtosis of a normal is 0)
    assert abs_r.autocorr(1) > 0.1 and abs_r.autocorr(24) > 0.05  # volatility clustering
    assert abs(pd.Series(r).autocorr(1)) < 0.1  # but returns themselves are nearly white
    assert np.corrcoef(big["volume"].to_numpy()[1:], np.abs(r))[0, 1] > 0.3


def test_mild_momentum_is_learnable(big: pd.DataFrame) -> None:
    log_c = np.log(big["close"].to_numpy())
    past = log_c[8:-12] - log_c[:-20]
    future = log_c[20:] - log_c[8:-12]
    assert 0.005 < np.corrcoef(past, future)[0, 1] < 0.2


def test_regimes_switch_with_the_mean_duration() -> None:
    regime = _regimes(np.random.default_rng(0), 400_000)
    assert set(np.unique(regime)) == set(range(len(REGIMES)))
    switches = np.count_nonzero(np.diff(regime))
    assert 0.7 * MEAN_REGIME_BARS < len(regime) / (switches + 1) < 1.3 * MEAN_REGIME_BARS


def test_garch_blocks_match_the_plain_recursion() -> None:
    z = np.random.default_rng(1).standard_t(5, size=1000)
    got = garch_variance(z, 0.08, 0.9)
    want = np.empty(1000)
    want[0] = 1.0
    for t in range(1, 1000):
        want[t] = 0.02 + (0.08 * z[t - 1] ** 2 + 0.9) * want[t - 1]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="n_bars must be >= 1, got 0"):
        synthetic_ohlcv(0, 1)
    with pytest.raises(ConfigError, match="freq='nope'"):
        synthetic_ohlcv(10, 1, freq="nope")
