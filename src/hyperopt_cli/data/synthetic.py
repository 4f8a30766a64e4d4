"""Deterministic synthetic OHLCV bars with the stylised facts of real markets.

Per bar t, in log space:

    z_t       Student-t(5) shocks scaled to unit variance (fat tails)
    s_t       GARCH(1,1) variance: s_t = omega + (alpha z_{t-1}^2 + beta) s_{t-1}
    sigma_t   BASE_VOL * sqrt(s_t) * regime vol multiplier * hour-of-day seasonality
    m_t       momentum state: ewm (span MOMENTUM_SPAN) of the shocks z_0..z_{t-1}
    r_t       sigma_t * (drift_k + momentum_k * m_t) + sigma_t * z_t

Regimes k follow a Markov chain with geometric durations (mean MEAN_REGIME_BARS) and a
jump to a different regime at each switch. The momentum term makes the next few returns
mildly predictable from the past ones, so a model has something to learn. Because the
shocks z are drawn up front, the GARCH variance is a linear recursion with known
coefficients, solved exactly in vectorised blocks (no Python loop over bars).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperopt_cli.core.errors import ConfigError

START_PRICE = 100.0  # close before the first bar
BASE_VOL = 0.002  # typical log-return std of one bar (0.2%, like an hourly FX or index bar)
T_DOF = 5.0  # Student-t degrees of freedom of the shocks; lower is fatter-tailed
GARCH_ALPHA = 0.08  # weight of the last squared shock in the variance
GARCH_BETA = 0.90  # persistence of the variance
MOMENTUM_SPAN = 8  # bars of past shocks the momentum state remembers
MEAN_REGIME_BARS = 400  # mean regime duration
# (name, drift in vol units per bar, vol multiplier, momentum loading)
REGIMES: tuple[tuple[str, float, float, float], ...] = (
    ("bull", 0.04, 0.8, 0.30),
    ("bear", -0.04, 0.8, 0.30),
    ("range", 0.0, 1.0, -0.05),
    ("turbulent", 0.0, 2.0, 0.0),
)
SEASONALITY = 0.25  # amplitude of the hour-of-day volatility cycle (peak at 14:00 UTC)
WICK_SCALE = 0.5  # high/low extend beyond the body by |N(0,1)| * WICK_SCALE * sigma_t
BASE_VOLUME = 1000.0  # median volume of a quiet bar
_BLOCK = 64  # GARCH block length: products of 64 coefficients stay far from under/overflow


def garch_variance(z: np.ndarray, alpha: float = GARCH_ALPHA, beta: float = GARCH_BETA) -> np.ndarray:
    """Unit-mean GARCH(1,1) variance driven by the unit-variance shocks `z`.

    s_0 = 1 (the unconditional mean), s_t = omega + (alpha z_{t-1}^2 + beta) s_{t-1} with
    omega = 1 - alpha - beta. Within a block of L bars s = P * (s_in + cumsum(b / P)) where
    P is the running product of the coefficients; only the carry between blocks is a loop.
    """
    n = len(z)
    omega = 1.0 - alpha - beta
    n_blocks = -(-n // _BLOCK)
    a: np.ndarray = np.ones(n_blocks * _BLOCK)
    b: np.ndarray = np.full(n_blocks * _BLOCK, omega)
    a[1:n] = alpha * z[:-1] ** 2 + beta
    a[0], b[0] = 1.0, 1.0  # s_0 = 1 * 0 + 1
    a = a.reshape(n_blocks, _BLOCK)
    b = b.reshape(n_blocks, _BLOCK)
    p = np.cumprod(a, axis=1)
    free = p * np.cumsum(b / p, axis=1)  # the block's response to a zero incoming variance
    carry = np.empty(n_blocks)  # variance entering each block
    s_in = 0.0
    for k in range(n_blocks):
        carry[k] = s_in
        s_in = p[k, -1] * s_in + free[k, -1]
    s = p * carry[:, None] + free
    return s.reshape(-1)[:n]


def _regimes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Regime index per bar: geometric durations, each switch to a different regime."""
    k = len(REGIMES)
    chunks: list[np.ndarray] = []
    state = int(rng.integers(k))
    total = 0
    while total < n:
        m = 2 * n // MEAN_REGIME_BARS + 8
        durations = rng.geometric(1.0 / MEAN_REGIME_BARS, size=m)
        states = (state + np.concatenate([[0], np.cumsum(rng.integers(1, k, size=m - 1))])) % k
        chunks.append(np.repeat(states, durations))
        total += int(durations.sum())
        state = int((states[-1] + rng.integers(1, k)) % k)
    return np.concatenate(chunks)[:n]


def _hours(index: pd.DatetimeIndex) -> np.ndarray:
    return (index.hour + index.minute / 60.0).to_numpy(dtype=np.float64)


def synthetic_ohlcv(n_bars: int, seed: int, start: str = "2020-01-01", freq: str = "1h") -> pd.DataFrame:
    """`n_bars` bars in the format of `load_ohlcv`, identical for identical arguments."""
    if n_bars < 1:
        raise ConfigError(f"data.synthetic.n_bars must be >= 1, got {n_bars}")
    try:
        index = pd.date_range(start=start, periods=n_bars, freq=freq, tz="UTC", name="timestamp").as_unit("ns")
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"data.synthetic: cannot build {n_bars} bars from start={start!r} freq={freq!r}: {exc}"
        ) from None
    rng = np.random.default_rng(seed)
    z = rng.standard_t(T_DOF, size=n_bars) * np.sqrt((T_DOF - 2.0) / T_DOF)
    regime = _regimes(rng, n_bars)
    drift, vol_mult, momentum = (np.array([r[i] for r in REGIMES])[regime] for i in (1, 2, 3))

    season = 1.0 + SEASONALITY * np.cos(2 * np.pi * (_hours(index) - 14.0) / 24.0)
    sigma = BASE_VOL * np.sqrt(garch_variance(z)) * vol_mult * season
    # ewm of z_0..z_{t-1}: the shift keeps the momentum state strictly in the past
    mom = pd.Series(z).ewm(span=MOMENTUM_SPAN, adjust=False).mean().shift(1, fill_value=0.0).to_numpy()
    returns = sigma * (drift + momentum * mom + z)

    close = START_PRICE * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[START_PRICE], close[:-1]])
    wick_up = np.abs(rng.standard_normal(n_bars)) * WICK_SCALE * sigma
    wick_down = np.abs(rng.standard_normal(n_bars)) * WICK_SCALE * sigma
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_down)
    # busier bars trade more: volume grows with the size of the move and the vol level
    noise = np.exp(0.3 * rng.standard_normal(n_bars))
    volume = np.round(BASE_VOLUME * (1.0 + np.abs(z)) * (sigma / BASE_VOL) * noise)

    df = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=index,
    )
    df.attrs["warnings"] = []
    df.attrs["info"] = {
        "source": f"synthetic (seed {seed})",
        "rows": n_bars,
        "bar_size": _spacing(index),
        "gaps": 0,
    }
    return df


def _spacing(index: pd.DatetimeIndex) -> str | None:
    """The bars' spacing written as everywhere else (data.load.spacing_text: 1h, 1d, 15min)."""
    from hyperopt_cli.data.load import spacing_text

    return spacing_text(float((index[1] - index[0]).total_seconds())) if len(index) > 1 else None
