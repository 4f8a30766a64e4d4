"""Causal per-bar features of an OHLCV frame: row t uses bars 0..t only.

Every feature is scale-free (returns, ratios, vol units), so one model works on any
instrument; the dataset standardises them afterwards on the training rows. The formula
of each feature is listed in docs/data.md. Leading rows without enough history hold NaN;
from row `WARMUP_BARS` on every feature is defined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hyperopt_cli.core.choices import FAMILY_NAMES

if TYPE_CHECKING:
    import pandas as pd

RETURN_LAGS: tuple[int, ...] = (1, 2, 4, 8, 16)  # log-return horizons, in bars
VOL_WINDOWS: tuple[int, ...] = (8, 24, 96)  # rolling volatility windows, in bars
NORM_VOL_WINDOW = 24  # the volatility that MACD and the moving-average distance are measured in
MA_WINDOW = 24  # moving average for the close's distance feature
VOLUME_WINDOW = 96  # rolling window of the volume z-score
RSI_PERIOD = 14  # Wilder's RSI period
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9  # the classic MACD spans
# Row of the first fully defined feature vector (a volatility over w returns needs bars
# 0..w, an ewm with min_periods p first has p values at row p-1).
WARMUP_BARS = max(
    VOL_WINDOWS[-1],
    VOLUME_WINDOW - 1,
    max(MA_WINDOW - 1, NORM_VOL_WINDOW),
    MACD_SLOW + MACD_SIGNAL - 2,
    RSI_PERIOD,
)


def feature_names() -> tuple[str, ...]:
    """The names of the columns `compute_features` returns, in order."""
    return (
        *(f"ret_{k}" for k in RETURN_LAGS),
        *(f"vol_{w}" for w in VOL_WINDOWS),
        f"vol_ratio_{VOL_WINDOWS[0]}_{VOL_WINDOWS[-1]}",
        "range",
        "body",
        "upper_wick",
        "lower_wick",
        "volume_z",
        "rsi",
        "macd_hist",
        "ma_dist",
        "hour_sin",
        "hour_cos",
        "dow_sin",
        "dow_cos",
    )


# The feature families: the names a user (and the `features` search group) picks inputs by.
# The one home of which column belongs to which family; the names themselves are core/choices.py's
# (config.py reads them there). This module imports pandas only inside the functions that compute.
FAMILIES: dict[str, tuple[str, ...]] = {
    "returns": tuple(f"ret_{k}" for k in RETURN_LAGS),
    "volatility": (*(f"vol_{w}" for w in VOL_WINDOWS), f"vol_ratio_{VOL_WINDOWS[0]}_{VOL_WINDOWS[-1]}"),
    "candle": ("range", "body", "upper_wick", "lower_wick"),
    "volume": ("volume_z",),
    "oscillators": ("rsi", "macd_hist", "ma_dist"),
    "calendar": ("hour_sin", "hour_cos", "dow_sin", "dow_cos"),
}
assert tuple(FAMILIES) == FAMILY_NAMES, "core/choices.py names the families data/features.py defines"


def family_of(column: str) -> str:
    """The family a feature column belongs to."""
    return next(family for family, columns in FAMILIES.items() if column in columns)


def family_columns(families: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The columns of `families`, in `feature_names()` order (whatever order the families are given in)."""
    wanted = {c for f in families for c in FAMILIES[f]}
    return tuple(c for c in feature_names() if c in wanted)


def constant_columns(raw: np.ndarray, names: tuple[str, ...], rows: np.ndarray) -> tuple[str, ...]:
    """The columns that take one value on every row of `rows` (bool mask): no information for the model.

    The hour on daily bars is the case in point: after centring it is a column of zeros.
    """
    part = raw[rows]
    if not len(part):
        return ()
    return tuple(name for j, name in enumerate(names) if np.all(part[:, j] == part[0, j]))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (a flat market has no scale), NaN where either is NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[(den == 0) & ~np.isnan(num)] = 0.0
    return out


def _rolling_std(x: pd.Series, window: int) -> np.ndarray:
    std = x.rolling(window, min_periods=window).std().to_numpy(copy=True)
    # pandas' online variance can leave ~1e-17 residue on constant windows; that is zero.
    std[std < 1e-12] = 0.0
    return std


def _rsi(close: pd.Series) -> np.ndarray:
    """Wilder's RSI mapped from [0, 100] to [-1, 1]; 0 (neutral) when the window is flat."""
    delta = close.diff()
    alpha = 1.0 / RSI_PERIOD
    gain = delta.clip(lower=0).ewm(alpha=alpha, adjust=False, min_periods=RSI_PERIOD).mean().to_numpy()
    loss = (-delta).clip(lower=0).ewm(alpha=alpha, adjust=False, min_periods=RSI_PERIOD).mean().to_numpy()
    total = gain + loss
    # (gain - loss) / (gain + loss) == (RSI - 50) / 50 with RSI = 100 - 100 / (1 + gain / loss)
    return _safe_div(gain - loss, total)


def _time_of_bar(index: pd.Index, n: int) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    if isinstance(index, pd.DatetimeIndex):
        utc = index.tz_convert("UTC") if index.tz is not None else index
        hours = (utc.hour + utc.minute / 60.0).to_numpy(dtype=np.float64)
        days = utc.day_of_week.to_numpy(dtype=np.float64) + hours / 24.0
        return hours, days
    return np.zeros(n), np.zeros(n)


def compute_features(df: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """(n_bars, n_features) float32 C-contiguous features and their names; strictly causal.

    Rows 0..WARMUP_BARS-1 hold NaN in the features that lack history (see `first_valid_row`).
    """
    import pandas as pd

    n = len(df)
    o = df["open"].to_numpy(dtype=np.float64)
    h = df["high"].to_numpy(dtype=np.float64)
    lo = df["low"].to_numpy(dtype=np.float64)
    c = df["close"].to_numpy(dtype=np.float64)
    v = df["volume"].to_numpy(dtype=np.float64)
    log_c = np.log(c)
    close = pd.Series(c)
    ret1 = pd.Series(np.diff(log_c, prepend=np.nan))

    cols: list[np.ndarray] = []
    for k in RETURN_LAGS:
        r = np.full(n, np.nan)
        r[k:] = log_c[k:] - log_c[:-k]
        cols.append(r)
    vols = {w: _rolling_std(ret1, w) for w in VOL_WINDOWS}
    cols.extend(vols[w] for w in VOL_WINDOWS)
    cols.append(_safe_div(vols[VOL_WINDOWS[0]], vols[VOL_WINDOWS[-1]]))

    top = np.maximum(o, c)
    bottom = np.minimum(o, c)
    cols.append((h - lo) / c)
    cols.append((c - o) / c)
    cols.append((h - top) / c)
    cols.append((bottom - lo) / c)

    log_v = pd.Series(np.log1p(v))
    v_mean = log_v.rolling(VOLUME_WINDOW, min_periods=VOLUME_WINDOW).mean().to_numpy()
    v_std = _rolling_std(log_v, VOLUME_WINDOW)
    cols.append(_safe_div(log_v.to_numpy() - v_mean, v_std))

    cols.append(_rsi(close))

    norm_vol = vols[NORM_VOL_WINDOW]
    ema_fast = close.ewm(span=MACD_FAST, adjust=False, min_periods=MACD_FAST).mean()
    ema_slow = close.ewm(span=MACD_SLOW, adjust=False, min_periods=MACD_SLOW).mean()
    macd = ema_fast - ema_slow
    signal = macd.ewm(span=MACD_SIGNAL, adjust=False, min_periods=MACD_SIGNAL).mean()
    cols.append(_safe_div((macd - signal).to_numpy() / c, norm_vol))

    ma = close.rolling(MA_WINDOW, min_periods=MA_WINDOW).mean().to_numpy()
    cols.append(_safe_div(np.log(c / ma), norm_vol))

    hours, days = _time_of_bar(df.index, n)
    cols.append(np.sin(2 * np.pi * hours / 24.0))
    cols.append(np.cos(2 * np.pi * hours / 24.0))
    cols.append(np.sin(2 * np.pi * days / 7.0))
    cols.append(np.cos(2 * np.pi * days / 7.0))

    names = feature_names()
    out = np.empty((n, len(cols)), dtype=np.float32)
    for j, col in enumerate(cols):
        out[:, j] = col
    assert len(names) == out.shape[1]
    return out, names


assert family_columns(FAMILY_NAMES) == feature_names(), "every feature column belongs to exactly one family"


def first_valid_row(features: np.ndarray) -> int:
    """Index of the first row without NaN (len(features) when there is none)."""
    ok = ~np.isnan(features).any(axis=1)
    return int(np.argmax(ok)) if ok.any() else len(features)
