"""Two synthetic markets for the validity benchmark: one with nothing to learn, one with a
pattern only a sequence model can see.

- `random_walk`: i.i.d. Gaussian log returns at constant volatility. No feature, window or
  model can predict it, so a verdict that claims a win here is a false positive.
- `planted_pattern`: the same walk plus events. An event is one bar with a long wick (a
  hammer: long lower wick; or its mirror: long upper wick) whose close does not move; after
  `DELAY` quiet bars, the next `DRIFT_BARS` bars drift by `DRIFT` volatilities per bar, up
  after a hammer and down after its mirror. Close-based features (returns, volatility, RSI,
  MACD, moving average) never see the event, and the candle features (range, wicks) see it
  only on the event bar itself, before the drift is within a label's horizon; a sequence
  model that looks back over its window can use it for the `DELAY` bars that follow.
- `interaction_market`: the same walk with pairs of long-wick bars `PAIR_GAP` bars apart,
  followed by `DRIFT_BARS` bars of drift whose direction is the PRODUCT of the two wicks'
  directions (same type: up, opposite types: down). Each wick alone says nothing about the
  drift, so no last-bar model and no linear model of the window sees it: only a model that
  combines two past bars does (issue 26 measured what the LSTM's inputs do to that).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VOL = 0.002  # log-return std per bar
WICK = 8.0  # length of an event's wick, in volatilities
DELAY = 6  # quiet bars between the event and its drift
DRIFT_BARS = 12  # bars of drift (= the default label horizon)
DRIFT = 0.5  # drift per bar during those bars, in volatilities
MEAN_EVENT_SPACING = 30  # mean bars between events
PAIR_GAP = 4  # interaction market: bars between the two wicks of a pair
INTERACTION_BARS = 8000  # interaction market: hourly bars in the bench data set


def _bars(
    returns: np.ndarray,
    rng: np.random.Generator,
    start: str,
    freq: str,
    extra_up: np.ndarray | None = None,
    extra_down: np.ndarray | None = None,
) -> pd.DataFrame:
    """OHLCV around the log returns; `extra_up`/`extra_down` lengthen wicks (in log units) per bar."""
    n = len(returns)
    up = np.zeros(n) if extra_up is None else extra_up
    down = np.zeros(n) if extra_down is None else extra_down
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = VOL * 0.5
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * wick + up)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * wick - down)
    volume = np.round(1000.0 * np.exp(0.3 * rng.standard_normal(n)))
    index = pd.date_range(start=start, periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def random_walk(n_bars: int, seed: int, start: str = "2020-01-01", freq: str = "1h") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return _bars(VOL * rng.standard_normal(n_bars), rng, start, freq)


def planted_pattern(n_bars: int, seed: int, start: str = "2020-01-01", freq: str = "1h") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n_bars)
    up, down = np.zeros(n_bars), np.zeros(n_bars)
    t = int(rng.integers(MEAN_EVENT_SPACING))
    while t + DELAY + DRIFT_BARS < n_bars:
        direction = float(rng.choice([-1.0, 1.0]))
        (down if direction > 0 else up)[t] = WICK * VOL
        z[t + DELAY + 1 : t + DELAY + 1 + DRIFT_BARS] += direction * DRIFT
        t += DELAY + DRIFT_BARS + int(rng.geometric(1.0 / (MEAN_EVENT_SPACING - DELAY - DRIFT_BARS)))
    return _bars(VOL * z, rng, start, freq, up, down)


def interaction_market(
    n_bars: int = INTERACTION_BARS, seed: int = 0, start: str = "2020-01-01", freq: str = "1h"
) -> pd.DataFrame:
    """Random walk + wick pairs PAIR_GAP bars apart; the next DRIFT_BARS drift by the product of their directions.

    A long lower wick (hammer) is +1, a long upper wick -1; both wick bars keep their close
    where the walk puts it, so the returns show nothing until the drift.
    """
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n_bars)
    up, down = np.zeros(n_bars), np.zeros(n_bars)
    t = int(rng.integers(MEAN_EVENT_SPACING))
    while t + PAIR_GAP + DRIFT_BARS < n_bars:
        first, second = (float(rng.choice([-1.0, 1.0])) for _ in range(2))
        for bar, direction in ((t, first), (t + PAIR_GAP, second)):
            (down if direction > 0 else up)[bar] = WICK * VOL
        z[t + PAIR_GAP + 1 : t + PAIR_GAP + 1 + DRIFT_BARS] += first * second * DRIFT
        t += PAIR_GAP + DRIFT_BARS + int(rng.geometric(1.0 / (MEAN_EVENT_SPACING - PAIR_GAP - DRIFT_BARS)))
    return _bars(VOL * z, rng, start, freq, up, down)
