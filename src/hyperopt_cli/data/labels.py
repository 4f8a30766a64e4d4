"""Triple-barrier labels: SELL (-1), HOLD (0), BUY (+1) from closes only.

Exact semantics (docs/data.md repeats them):

- vol_t = pandas ``Series.ewm(span=vol_span).std()`` of the close-to-close log returns
  r_t = log(c_t / c_{t-1}) (r_0 is NaN). Bars where vol is NaN get no label.
- From the entry close c_i, over bars j = i+1 .. i+horizon, with R_j = log(c_j / c_i):
  BUY if R_j > take_profit * vol_i (strictly) comes first, SELL if R_j < -stop_loss * vol_i
  (strictly) comes first. A return exactly on a barrier does not touch it.
- If neither barrier is touched, the vertical barrier decides: with R = log(c_{i+horizon} / c_i),
  BUY/SELL by the sign of R when |R| > threshold * vol_i (strictly), else HOLD.
- The last `horizon` bars get no label (they are invalid, never HOLD).

Invalid bars carry label 0 and valid False. The work is vectorised over bars; the only
Python loop runs over the `horizon` offsets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperopt_cli.config import LabelsConfig


def ewm_vol(close: np.ndarray, vol_span: int) -> np.ndarray:
    """vol_t: ewm(span=vol_span).std() of log(c_t / c_{t-1}), float64, NaN where undefined."""
    c = np.asarray(close, dtype=np.float64)
    returns = np.full(len(c), np.nan)
    returns[1:] = np.log(c[1:] / c[:-1])
    return pd.Series(returns).ewm(span=vol_span).std().to_numpy(dtype=np.float64, copy=True)


def barrier_labels(
    close: np.ndarray,
    vol: np.ndarray,
    horizon: int,
    take_profit: float,
    stop_loss: float,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Triple-barrier labels for a given volatility series: (int8 labels, bool valid)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    c = np.asarray(close, dtype=np.float64)
    vol = np.asarray(vol, dtype=np.float64)
    n = len(c)
    labels = np.zeros(n, dtype=np.int8)
    valid = np.zeros(n, dtype=bool)
    m = n - horizon  # bars 0..m-1 have a full horizon ahead
    if m <= 0:
        return labels, valid
    entry = c[:m]
    upper = take_profit * vol[:m]
    lower = -stop_loss * vol[:m]
    out = np.zeros(m, dtype=np.int8)
    open_ = np.ones(m, dtype=bool)  # no barrier touched yet
    ret = np.empty(m)
    for k in range(1, horizon + 1):
        np.log(c[k : k + m] / entry, out=ret)
        up = open_ & (ret > upper)
        down = open_ & (ret < lower)
        out[up] = 1
        out[down] = -1
        open_ &= ~(up | down)
    # `ret` now holds log(c_{i+horizon} / c_i): the vertical barrier
    vertical = open_ & (np.abs(ret) > threshold * vol[:m])
    out[vertical] = np.sign(ret[vertical]).astype(np.int8)
    ok = ~np.isnan(vol[:m])
    labels[:m] = np.where(ok, out, 0)
    valid[:m] = ok
    return labels, valid


def triple_barrier_labels(close: np.ndarray, labels_cfg: LabelsConfig) -> tuple[np.ndarray, np.ndarray]:
    """(labels int8 in {-1, 0, 1} with 0 where invalid, valid bool) for each bar; see the module doc.

    The volatility used is `ewm_vol(close, labels_cfg.vol_span)`.
    """
    lc = labels_cfg
    return barrier_labels(close, ewm_vol(close, lc.vol_span), lc.horizon, lc.take_profit, lc.stop_loss, lc.threshold)
