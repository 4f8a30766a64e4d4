"""Several symbols in one array: where each symbol's rows lie, and scalers fitted per symbol or pooled.

The bars of every symbol are stacked, symbol after symbol, into one row array; a training
window is a run of `window` rows, and the rows of a symbol's first `window - 1` bars never
end a window (their features lack history anyway), so no window spans two symbols and the
one zero-copy sliding view serves every symbol.

Samples are kept in time order (timestamp, then symbol). Every cut between training and
what it is judged on is a *time*: a sample trains before a cut at time T only if its label
(horizon plus embargo, counted in its own symbol's bars) ends before T. With one symbol this
is exactly the bar arithmetic `t + purge < b` (timestamps strictly increase), so a single
file gives the same samples as it always did.

Scaling (`data.scaling`): `per_symbol` standardises each symbol's columns with the mean/std
of its own rows up to the cut (instruments differ in volatility by orders of magnitude, and
the raw returns are not volatility-normalised); `pooled` uses one mean/std over every
symbol's rows up to the cut. Either way only rows at or before the last training sample's
time are fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEVER = np.datetime64(np.iinfo(np.int64).max, "ns")  # the label end of a sample whose purge runs past its data
_SCALE_CHUNK = 65_536  # rows standardised per step, bounding the float64 temporaries


@dataclass(frozen=True)
class RowLayout:
    """Which rows of the stacked arrays belong to which symbol, and when each row's bar closed."""

    symbols: tuple[str, ...]
    starts: np.ndarray  # (n_symbols + 1,) int64: symbol s owns rows starts[s]..starts[s+1]-1
    timestamps: np.ndarray  # (n_rows,) datetime64[ns] UTC, increasing within each symbol

    @classmethod
    def single(cls, symbol: str, timestamps: np.ndarray) -> RowLayout:
        return cls((symbol,), np.array([0, len(timestamps)], dtype=np.int64), timestamps)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def rows_of(self, s: int) -> slice:
        return slice(int(self.starts[s]), int(self.starts[s + 1]))

    def symbol_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """The symbol index of each row in `rows`."""
        return (np.searchsorted(self.starts, rows, side="right") - 1).astype(np.int16)

    def rows_until(self, time: np.datetime64) -> np.ndarray:
        """Bool mask of the rows whose bar closed at or before `time`."""
        return self.timestamps <= time

    def label_ends(self, rows: np.ndarray, purge: int) -> np.ndarray:
        """The time of bar `row + purge` in each row's own symbol; NEVER where that bar is past its data."""
        ends = rows + purge
        stops = self.starts[self.symbol_of_rows(rows).astype(np.int64) + 1]
        inside = ends < stops
        out = np.full(len(rows), NEVER, dtype="datetime64[ns]")
        out[inside] = self.timestamps[ends[inside]]
        return out


def time_order(timestamps: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """The permutation that sorts samples by time, then symbol (stable: one symbol keeps its order)."""
    return np.lexsort((symbols, timestamps))


def unique_times(times: np.ndarray) -> np.ndarray:
    """The distinct sample times, ascending (`times` sorted)."""
    if len(times) == 0:
        return times
    keep = np.ones(len(times), dtype=bool)
    keep[1:] = times[1:] != times[:-1]
    return times[keep]


@dataclass(frozen=True)
class Scaler:
    """float32 per-column mean/std for each symbol (all rows the same under pooled scaling)."""

    mean: np.ndarray  # (n_symbols, n_features)
    std: np.ndarray  # (n_symbols, n_features)
    scaling: str = "per_symbol"


def fit_scaler(raw: np.ndarray, fit_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 (mean, std) of each feature over `fit_rows` (bool mask); a constant feature gets std 1."""
    n_fit = int(fit_rows.sum())
    mean = np.zeros(raw.shape[1])
    sq = np.zeros(raw.shape[1])
    for a in range(0, len(raw), _SCALE_CHUNK):
        part = raw[a : a + _SCALE_CHUNK][fit_rows[a : a + _SCALE_CHUNK]]
        mean += part.sum(axis=0, dtype=np.float64)
    mean /= max(n_fit, 1)
    for a in range(0, len(raw), _SCALE_CHUNK):
        part = raw[a : a + _SCALE_CHUNK][fit_rows[a : a + _SCALE_CHUNK]]
        sq += ((part - mean) ** 2).sum(axis=0)
    std = np.sqrt(sq / max(n_fit - 1, 1))
    std[~(std > 0)] = 1.0  # a constant feature is just centred
    return mean.astype(np.float32), std.astype(np.float32)


def apply_scaler(raw: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(raw - mean) / std with float32 `mean`/`std`; NaN -> 0; float32, read-only.

    The saved model's predict path calls this with the stored statistics, so it must stay
    the one place that scales features (same arithmetic, same bits).
    """
    out = np.empty_like(raw, dtype=np.float32, order="C")
    _scale_into(out, raw, mean, std)
    out.flags.writeable = False  # shared by every segment and cached setting
    return out


def _scale_into(out: np.ndarray, raw: np.ndarray, mean: np.ndarray, std: np.ndarray) -> None:
    mean32, std32 = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    for a in range(0, len(raw), _SCALE_CHUNK):
        block = (raw[a : a + _SCALE_CHUNK] - mean32) / std32
        np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        out[a : a + _SCALE_CHUNK] = block


def fit_panel_scaler(
    layout: RowLayout, raw: np.ndarray, row_ok: np.ndarray, until: np.datetime64, scaling: str = "per_symbol"
) -> Scaler:
    """The scaler fitted on the complete rows whose bar closed at or before `until`."""
    fit_rows = row_ok & layout.rows_until(until)
    if scaling == "pooled" or layout.n_symbols == 1:
        mean, std = fit_scaler(raw, fit_rows)
        return Scaler(np.tile(mean, (layout.n_symbols, 1)), np.tile(std, (layout.n_symbols, 1)), scaling)
    parts = [fit_scaler(raw[layout.rows_of(s)], fit_rows[layout.rows_of(s)]) for s in range(layout.n_symbols)]
    return Scaler(np.stack([m for m, _ in parts]), np.stack([s for _, s in parts]), scaling)


def apply_panel_scaler(layout: RowLayout, raw: np.ndarray, scaler: Scaler) -> np.ndarray:
    """Each symbol's rows scaled with its own statistics; float32, read-only (one symbol: `apply_scaler`'s bits)."""
    if layout.n_symbols == 1:
        return apply_scaler(raw, scaler.mean[0], scaler.std[0])
    out = np.empty_like(raw, dtype=np.float32, order="C")
    for s in range(layout.n_symbols):
        rows = layout.rows_of(s)
        _scale_into(out[rows], raw[rows], scaler.mean[s], scaler.std[s])
    out.flags.writeable = False
    return out
