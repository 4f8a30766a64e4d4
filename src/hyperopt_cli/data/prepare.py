"""Chronological, purged train/validation/test segments of zero-copy training windows.

CONTRACT (other modules rely on these names; keep them):
- class index 0 = SELL (label -1), 1 = HOLD (label 0), 2 = BUY (label +1).
- `Segment.windows(idx)` gathers only the requested batch; no N x window x features copy.
- `DataPreparer(ohlcv, data_cfg).prepare(labels_cfg, families)` is cached by the label values and the
  feature families (None: every family).

A sample is a bar t whose window (bars t-window+1..t) has defined features and which has a
triple-barrier label. Samples are split chronologically by the data fractions; before
each boundary the samples whose label horizon (plus embargo) reaches the next segment are
purged, so for every train sample t and the first validation sample v, t + horizon < v
(and likewise validation -> test). Features are standardised with the mean/std of the
rows up to the last training bar only.

Windows: the samples are the bars that end a complete window of the *sample window*, the
longest window any trial of the run may use (config.py `sample_window`), so a trial's own
window (`prepare(..., window=)`, at most that long) changes what each sample sees, never which
samples there are: every window is trained and scored on the same samples.

Feature families (data/features.py FAMILIES) pick the columns a setting sees. The samples do
not depend on them: a sample needs every feature defined, so all family sets train and are
scored on the same samples. A column that is constant on the data (the hour on daily bars)
is dropped with a note in the warnings, per column: a family keeps its varying columns (the
weekday on daily bars) and is dropped only when none varies.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperopt_cli.config import DataConfig, LabelsConfig, OptimizationConfig, sample_window
from hyperopt_cli.core.errors import DataError, NoFeaturesError
from hyperopt_cli.data.features import (
    FAMILIES,
    FAMILY_NAMES,
    compute_features,
    constant_columns,
    family_columns,
    family_of,
    first_valid_row,
)
from hyperopt_cli.data.folds import selection_splits_by_time
from hyperopt_cli.data.labels import triple_barrier_labels
from hyperopt_cli.data.load import index_info
from hyperopt_cli.data.panel import (
    RowLayout,
    Scaler,
    apply_panel_scaler,
    apply_scaler,
    fit_panel_scaler,
    fit_scaler,
    time_order,
)
from hyperopt_cli.data.split import SEGMENTS, enough_samples, segment_sizes, split_by_time, too_few_bars_error

CLASS_NAMES: tuple[str, str, str] = ("SELL", "HOLD", "BUY")

log = logging.getLogger("hyperopt_cli")


@dataclass(frozen=True)
class Segment:
    """One chronological segment (train, val or test) of labelled samples."""

    name: str  # "train" | "val" | "test"
    features: np.ndarray  # (n_rows, n_features) float32, scaled; shared by all segments
    end_rows: np.ndarray  # (n_samples,) int64: row in `features` of each sample's last bar
    labels: np.ndarray  # (n_samples,) int64 class index 0=SELL 1=HOLD 2=BUY
    forward_returns: np.ndarray  # (n_samples,) float64: log(close[t+horizon] / close[t])
    timestamps: np.ndarray  # (n_samples,) datetime64[ns] (UTC) of each sample's last bar
    window: int  # bars of history per sample
    # (n_samples,) datetime64[ns]: when each label (horizon + embargo, in its symbol's bars) ends; data/panel.py
    label_ends: np.ndarray | None = None
    symbols: np.ndarray | None = None  # (n_samples,) int16 index into the run's symbols

    def __len__(self) -> int:
        return int(self.end_rows.shape[0])

    def windows(self, idx: np.ndarray) -> np.ndarray:
        """The windows of samples `idx`: (len(idx), window, n_features) float32, a fresh batch array."""
        starts = self.end_rows[np.asarray(idx, dtype=np.int64)] - (self.window - 1)
        return np.ascontiguousarray(self.window_view[starts])

    @cached_property
    def window_view(self) -> np.ndarray:
        """(n_rows - window + 1, window, n_features) read-only view of `features`; item s starts at row s."""
        view = np.lib.stride_tricks.sliding_window_view(self.features, self.window, axis=0)
        return view.transpose(0, 2, 1)

    def last_bar_features(self) -> np.ndarray:
        """(n_samples, n_features): each sample's last-bar features (for the baseline models)."""
        return self.features[self.end_rows]

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=3)


@dataclass(frozen=True)
class PreparedData:
    """Everything a trial trains and evaluates on; built once per label setting."""

    train: Segment
    val: Segment
    test: Segment
    feature_names: tuple[str, ...]
    class_weights: np.ndarray  # (3,) float32 inverse class frequency on train, mean 1
    purge_bars: int  # bars dropped before each boundary (horizon + embargo)
    info: dict[str, Any] = field(default_factory=dict)  # summary shown by `hyperopt data`
    families: tuple[str, ...] = FAMILY_NAMES  # the feature families with at least one column in `feature_names`

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def training_added_since(self, earlier: PreparedData) -> PreparedData:
        """This fold with a training part of only the samples past `earlier`'s: what a warm-started fold trains on.

        Validation, test, scaling and class weights stay this fold's; unchanged when no sample would be left.
        """
        keep = np.flatnonzero(self.train.timestamps > earlier.train.timestamps.max())
        if len(keep) in (0, len(self.train)):
            return self
        train = self.train
        added = {name: getattr(train, name)[keep] for name in _SAMPLE_FIELDS if getattr(train, name) is not None}
        return dataclasses.replace(self, train=dataclasses.replace(train, **added))


_SAMPLE_FIELDS = ("end_rows", "labels", "forward_returns", "timestamps", "label_ends", "symbols")  # per-sample arrays
MAX_CACHED = 8  # label settings kept by DataPreparer; the oldest is dropped first
DOMINANT_SHARE = 0.9  # a train class share above this is reported as a warning


def _label_key(labels_cfg: LabelsConfig) -> tuple[Any, ...]:
    return tuple(getattr(labels_cfg, f.name) for f in dataclasses.fields(labels_cfg))


def _families_key(families: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """`families` in FAMILY_NAMES order (None: all); DataError naming the valid ones for an unknown name."""
    if families is None:
        return FAMILY_NAMES
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise DataError(f"unknown feature family {unknown[0]!r}; valid families: {', '.join(FAMILY_NAMES)}")
    return tuple(f for f in FAMILY_NAMES if f in families)


def _iso(ts: np.datetime64) -> str:
    return pd.Timestamp(ts).tz_localize("UTC").isoformat()


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Inverse class frequency, mean 1 over the classes present; an absent class gets 0.

    Flooring an absent class's count at 1 instead would give it a huge weight and, after
    normalising, shrink every real class's weight towards 0.
    """
    counts = np.bincount(labels, minlength=3).astype(np.float64)
    present = counts > 0
    weights = np.zeros(3)
    if present.any():
        weights[present] = counts.sum() / (present.sum() * counts[present])
        weights[present] /= weights[present].mean()
    return weights.astype(np.float32)


def scaler_until(raw: np.ndarray, last_row: int) -> tuple[np.ndarray, np.ndarray]:
    """The scaler fitted on the complete feature rows up to `last_row` of one symbol's rows."""
    fit_rows = ~np.isnan(raw).any(axis=1)
    fit_rows[last_row + 1 :] = False
    return fit_scaler(raw, fit_rows)


def standardise(raw: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """(raw - mean) / std with mean/std over `fit_rows` (bool mask); NaN -> 0; float32, read-only."""
    return apply_scaler(raw, *fit_scaler(raw, fit_rows))


def segment_summary(segments: dict[str, Segment]) -> tuple[dict[str, Any], list[str]]:
    """Per segment: samples, range, label counts and shares; and a warning per class a segment lacks."""
    info: dict[str, Any] = {}
    warnings = []
    for name, seg in segments.items():
        counts = seg.class_counts()
        total = max(int(counts.sum()), 1)
        info[name] = {
            "samples": len(seg),
            "first_timestamp": _iso(seg.timestamps[0]),
            "last_timestamp": _iso(seg.timestamps[-1]),
            "label_counts": {c: int(k) for c, k in zip(CLASS_NAMES, counts)},
            "label_shares": {c: float(k) / total for c, k in zip(CLASS_NAMES, counts)},
        }
        for c, k in zip(CLASS_NAMES, counts):
            if k == 0:
                extra = "; its class weight is 0" if name == "train" else ""
                warnings.append(f"the {name} segment has no {c} samples{extra}")
    return info, warnings


def symbol_summary(symbol_info: list[dict[str, Any]], segments: dict[str, Segment]) -> list[dict[str, Any]]:
    """Per symbol: its bars, range and spacing, its samples per segment and its label shares."""
    rows = []
    for s, base in enumerate(symbol_info):
        samples = {name: int(np.count_nonzero(seg.symbols == s)) for name, seg in segments.items()}
        counts = np.zeros(3, dtype=np.int64)
        for seg in segments.values():
            counts += np.bincount(seg.labels[seg.symbols == s], minlength=3)
        total = max(int(counts.sum()), 1)
        rows.append(
            {**base, "samples": samples, "label_shares": {c: float(k) / total for c, k in zip(CLASS_NAMES, counts)}}
        )
    return rows


def with_window(data: PreparedData, window: int) -> PreparedData:
    """`data` with every segment's samples seen through `window` bars (the same samples, rows and labels)."""
    segments = {name: dataclasses.replace(getattr(data, name), window=window) for name in SEGMENTS}
    return dataclasses.replace(data, **segments, info={**data.info, "window": window})


def windows_ok(row_ok: np.ndarray, w: int) -> np.ndarray:
    """Rows of one symbol that end a window of `w` complete rows."""
    bad_before = np.concatenate([[0], np.cumsum(~row_ok)])
    n = len(row_ok)
    ok = np.zeros(n, dtype=bool)
    if n >= w:
        ok[w - 1 :] = bad_before[w:] == bad_before[: n - w + 1]
    return ok


def pooled_index_info(rows: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """`index_info` of several symbols together: all their bars, the widest range, summed gaps."""
    return {
        "bars": sum(r["bars"] for r in rows),
        "first_timestamp": min(r["first_timestamp"] for r in rows if r["first_timestamp"]),
        "last_timestamp": max(r["last_timestamp"] for r in rows if r["last_timestamp"]),
        "bar_size": rows[0]["bar_size"],
        "gaps": sum(r["gaps"] for r in rows),
        "source": source,
    }


def symbol_names(frames: list[pd.DataFrame]) -> tuple[str, ...]:
    """Each frame's symbol: attrs info "symbol", else its source file's stem, else "data"; unique."""
    names = []
    for frame in frames:
        info = frame.attrs.get("info") or {}
        source = info.get("source")
        names.append(str(info.get("symbol") or (Path(source).stem if source else "data")))
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DataError(f"two inputs give the symbol {twice!r}; each symbol must come from one file")
    return tuple(names)


NAMED_SYMBOLS = 3  # symbols a message names per bar size before "and N more"


def check_one_bar_size(frames: list[pd.DataFrame], symbols: tuple[str, ...]) -> None:
    """DataError when the symbols' median bar spacings differ: a horizon in bars would mean different times."""
    sizes = {symbol: index_info(frame.index)["bar_size"] for symbol, frame in zip(symbols, frames)}
    unknown = [symbol for symbol, size in sizes.items() if size is None]
    if unknown:
        raise DataError(f"symbol {unknown[0]} has fewer than 2 bars: its bar spacing is unknown; drop the file")
    if len(set(sizes.values())) > 1:
        by_size: dict[str, list[str]] = {}
        for symbol, size in sizes.items():
            by_size.setdefault(str(size), []).append(symbol)
        shown = "; ".join(
            f"{size}: {', '.join(names[:NAMED_SYMBOLS])}"
            + (f" and {len(names) - NAMED_SYMBOLS} more" if len(names) > NAMED_SYMBOLS else "")
            for size, names in by_size.items()
        )
        raise DataError(
            f"mixed bar spacings, one run needs one bar size (resample the files to one spacing, "
            f"or run them separately): {shown}"
        )


def _utc_naive(index: pd.DatetimeIndex) -> np.ndarray:
    index = index.tz_convert("UTC") if index.tz is not None else index
    return index.tz_localize(None).as_unit("ns").to_numpy()


class DataPreparer:
    """Features once per process; labels, split and scaling once per label setting.

    `ohlcv` is one frame (one symbol) or a list of frames, one per symbol (data/panel.py):
    their rows are stacked, and every split, fold and walk-forward block is cut at the same
    time for all of them.
    """

    def __init__(
        self,
        ohlcv: pd.DataFrame | Sequence[pd.DataFrame],
        data_cfg: DataConfig,
        max_cached: int = MAX_CACHED,
        sample_window: int | None = None,
    ) -> None:
        """`sample_window`: the window whose complete bars are the samples (None or shorter: `data_cfg.window`)."""
        frames = [ohlcv] if isinstance(ohlcv, pd.DataFrame) else list(ohlcv)
        if not frames:
            raise DataError("no data: give at least one file")
        if not all(isinstance(f.index, pd.DatetimeIndex) for f in frames):
            raise DataError("the OHLCV frame needs a DatetimeIndex (use load_ohlcv or synthetic_ohlcv)")
        self.data_cfg = data_cfg
        self.max_cached = max_cached
        self.sample_window = max(data_cfg.window, sample_window or 0)
        symbols = symbol_names(frames)
        if len(frames) > 1:
            check_one_bar_size(frames, symbols)
        sources = [str((f.attrs.get("info") or {}).get("source", "data")) for f in frames]
        self.source = sources[0] if len(frames) == 1 else f"{len(frames)} symbols ({', '.join(symbols)})"
        self.warnings: list[str] = [w for f in frames for w in (f.attrs.get("warnings") or [])]
        self.symbol_info = [
            {"symbol": sym, **index_info(f.index), "source": src} for sym, f, src in zip(symbols, frames, sources)
        ]
        self._index_info = (
            {**index_info(frames[0].index), "source": self.source}
            if len(frames) == 1
            else pooled_index_info(self.symbol_info, self.source)
        )
        per_symbol = [compute_features(f) for f in frames]
        self.feature_names = per_symbol[0][1]
        self.raw_features = per_symbol[0][0] if len(frames) == 1 else np.concatenate([r for r, _ in per_symbol])
        del per_symbol
        starts = np.concatenate([[0], np.cumsum([len(f) for f in frames])]).astype(np.int64)
        self.timestamps = np.concatenate([_utc_naive(f.index) for f in frames])
        self.layout = RowLayout(symbols, starts, self.timestamps)
        self.close = np.concatenate([f["close"].to_numpy(dtype=np.float64) for f in frames])
        self.warmup_bars = max(first_valid_row(self.raw_features[self.layout.rows_of(s)]) for s in range(len(frames)))
        self._row_ok = ~np.isnan(self.raw_features).any(axis=1)
        self.constant_columns = constant_columns(self.raw_features, self.feature_names, self._row_ok)
        for family in FAMILY_NAMES:
            flat = [c for c in FAMILIES[family] if c in self.constant_columns]
            if flat:
                whole = "the family is dropped" if len(flat) == len(FAMILIES[family]) else "dropped from the family"
                self.warnings.append(f"feature family '{family}': {', '.join(flat)} constant on this data; {whole}")
                log.warning(self.warnings[-1])
        self._window_ok = np.concatenate(
            [windows_ok(self._row_ok[self.layout.rows_of(s)], self.sample_window) for s in range(len(frames))]
        )
        self._scaled: dict[Any, np.ndarray] = {}  # by the last training sample's time
        self._fold_scaled: dict[Any, np.ndarray] = {}  # the earlier selection folds' features, by that time
        self._cache: dict[tuple[Any, ...], PreparedData] = {}
        self._fold_cache: dict[tuple[Any, ...], list[PreparedData]] = {}

    @classmethod
    def for_run(cls, ohlcv: pd.DataFrame | Sequence[pd.DataFrame], cfg: OptimizationConfig) -> DataPreparer:
        """The preparer of a run: its samples are those every window the run can try has history for."""
        return cls(ohlcv, cfg.data, sample_window=sample_window(cfg))

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.layout.symbols

    @property
    def scaling(self) -> str:
        return self.data_cfg.scaling if self.layout.n_symbols > 1 else "per_symbol"

    def scaled_until(self, until: np.datetime64) -> np.ndarray:
        """Every feature column standardised on the rows at or before `until` (per `data.scaling`)."""
        return apply_panel_scaler(self.layout, self.raw_features, self.scaler_until(until))

    def scaler_until(self, until: np.datetime64, names: tuple[str, ...] | None = None) -> Scaler:
        """The scaler of columns `names` fitted on the rows at or before `until` where they are complete.

        None: every column, on the rows where every column is complete (the segments' scaling).
        """
        if names is None:
            return fit_panel_scaler(self.layout, self.raw_features, self._row_ok, until, self.scaling)
        raw = self.raw_features_for(names)
        return fit_panel_scaler(self.layout, raw, ~np.isnan(raw).any(axis=1), until, self.scaling)

    @property
    def n_bars(self) -> int:
        return len(self.close)

    def columns_for(self, families: tuple[str, ...] | list[str] | None = None) -> tuple[str, ...]:
        """The feature columns `families` (None: all) give on this data: their columns less the constant ones."""
        chosen = _families_key(families)
        names = tuple(c for c in family_columns(chosen) if c not in self.constant_columns)
        if not names:
            raise NoFeaturesError(
                f"the feature families {', '.join(chosen)} are constant on this data: no input "
                f"column is left; choose others (valid: {', '.join(FAMILY_NAMES)})"
            )
        return names

    def raw_features_for(self, names: tuple[str, ...]) -> np.ndarray:
        """The unscaled columns `names` (all of them: the array itself, no copy)."""
        if tuple(names) == self.feature_names:
            return self.raw_features
        return np.ascontiguousarray(self.raw_features[:, [self.feature_names.index(n) for n in names]])

    def prepare(
        self, labels_cfg: LabelsConfig, families: tuple[str, ...] | list[str] | None = None, window: int | None = None
    ) -> PreparedData:
        """The segments for this label setting, feature families (None: all) and window (None: `data.window`).

        Cached by all three; every window gives the same samples (see the module docstring).
        """
        window = self._window(window)
        key = (_label_key(labels_cfg), _families_key(families), window)
        if key in self._cache:
            self._cache[key] = self._cache.pop(key)  # most recently used goes last
            return self._cache[key]
        if window == self.data_cfg.window:
            data = self._build(labels_cfg, key[1])
        else:
            data = with_window(self.prepare(labels_cfg, families), window)
        self._cache[key] = data
        while len(self._cache) > self.max_cached:
            self._cache.pop(next(iter(self._cache)))
        return data

    def prepare_folds(
        self,
        labels_cfg: LabelsConfig,
        n_folds: int,
        families: tuple[str, ...] | list[str] | None = None,
        window: int | None = None,
    ) -> list[PreparedData]:
        """The selection folds of this label setting (data/folds.py), oldest first; the last is `prepare`'s.

        Each fold's features are standardised on its own training rows only; its `test` is the
        configured test segment, which no fold trains or validates on.
        """
        base = self.prepare(labels_cfg, families, window)
        if n_folds <= 1:
            return [base]
        key = (_label_key(labels_cfg), _families_key(families), base.train.window, n_folds)
        if key not in self._fold_cache:
            times = np.concatenate([base.train.timestamps, base.val.timestamps])
            ends = np.concatenate([base.train.label_ends, base.val.label_ends])
            self._fold_cache[key] = [
                self._fold(base, fit, val)
                for fit, val in selection_splits_by_time(times, ends, len(base.train), n_folds)
            ]
            while len(self._fold_cache) > self.max_cached:
                self._fold_cache.pop(next(iter(self._fold_cache)))
        return self._fold_cache[key]

    def _window(self, window: int | None) -> int:
        """`window` (None: `data.window`); DataError when longer than the sample window (its samples lack the history)."""
        if window is None:
            return self.data_cfg.window
        if not 1 <= window <= self.sample_window:
            raise DataError(
                f"window {window} is outside 1..{self.sample_window}: the samples are the bars with "
                f"{self.sample_window} bars of history (build the preparer with DataPreparer.for_run)"
            )
        return window

    def _fold(self, base: PreparedData, fit: np.ndarray, val: np.ndarray) -> PreparedData:
        if len(val) == len(base.val) and len(fit) == len(base.train) and int(val[0]) == len(base.train):
            return base  # the configured split itself
        pool = {name: np.concatenate([getattr(base.train, name), getattr(base.val, name)]) for name in _SAMPLE_FIELDS}
        fit_until = pool["timestamps"][fit[-1]]  # positions are in time order
        if fit_until not in self._fold_scaled:
            if len(self._fold_scaled) >= 2 * self.max_cached:
                self._fold_scaled.pop(next(iter(self._fold_scaled)))
            self._fold_scaled[fit_until] = self.scaled_until(fit_until)
        features = self._fold_scaled[fit_until]
        if base.feature_names != self.feature_names:  # scaling is per column: the subset holds the same bits
            features = features[:, [self.feature_names.index(n) for n in base.feature_names]]
            features.flags.writeable = False

        def part(name: str, idx: np.ndarray) -> Segment:
            return Segment(
                name=name,
                features=features,
                window=base.train.window,
                **{field_name: values[idx] for field_name, values in pool.items()},
            )

        train = part("train", fit)
        return dataclasses.replace(base, train=train, val=part("val", val), class_weights=class_weights(train.labels))

    def _labels(self, lc: LabelsConfig) -> tuple[np.ndarray, np.ndarray]:
        """Triple-barrier labels and their validity, computed per symbol (no barrier looks into the next one)."""
        if self.layout.n_symbols == 1:
            return triple_barrier_labels(self.close, lc)
        parts = [triple_barrier_labels(self.close[self.layout.rows_of(s)], lc) for s in range(self.layout.n_symbols)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _build(self, lc: LabelsConfig, families: tuple[str, ...]) -> PreparedData:
        d = self.data_cfg
        names = self.columns_for(families)
        labels, valid = self._labels(lc)
        eligible = np.flatnonzero(self._window_ok & valid).astype(np.int64)
        eligible = eligible[time_order(self.timestamps[eligible], self.layout.symbol_of_rows(eligible))]
        purge = lc.horizon + d.embargo_bars
        fractions = (d.train_fraction, d.val_fraction, d.test_fraction)
        label_ends = self.layout.label_ends(eligible, purge)
        positions = split_by_time(self.timestamps[eligible], label_ends, fractions)
        parts = {name: eligible[pos] for name, pos in positions.items()}
        sizes = segment_sizes(parts)
        if not enough_samples(sizes):
            raise too_few_bars_error(
                self.source,
                self.n_bars,
                sizes,
                self.sample_window,
                lc.horizon,
                d.embargo_bars,
                fractions,
                self.warmup_bars,
                searched_window=self.sample_window > d.window,
            )
        fit_until = self.timestamps[parts["train"][-1]]  # the samples are in time order
        if fit_until not in self._scaled:
            self._scaled = {fit_until: self.scaled_until(fit_until)}  # one split at a time
        features = self._scaled[fit_until]
        if names != self.feature_names:  # scaling is per column: the subset holds the same bits
            features = features[:, [self.feature_names.index(n) for n in names]]
            features.flags.writeable = False

        segments = {}
        for name in SEGMENTS:
            rows = parts[name]
            segments[name] = Segment(
                name=name,
                features=features,
                end_rows=rows,
                labels=labels[rows].astype(np.int64) + 1,
                forward_returns=np.log(self.close[rows + lc.horizon] / self.close[rows]),
                timestamps=self.timestamps[rows],
                window=d.window,
                label_ends=label_ends[positions[name]],
                symbols=self.layout.symbol_of_rows(rows),
            )
        weights = class_weights(segments["train"].labels)
        kept = tuple(f for f in families if any(family_of(n) == f for n in names))
        info = self._info(lc, segments, weights, purge, len(eligible), names, kept)
        return PreparedData(
            train=segments["train"],
            val=segments["val"],
            test=segments["test"],
            feature_names=names,
            class_weights=weights,
            purge_bars=purge,
            info=info,
            families=kept,
        )

    def _info(
        self,
        lc: LabelsConfig,
        segments: dict[str, Segment],
        weights: np.ndarray,
        purge: int,
        n_eligible: int,
        names: tuple[str, ...],
        families: tuple[str, ...],
    ) -> dict[str, Any]:
        seg_info, warnings = segment_summary(segments)
        warnings = list(self.warnings) + warnings
        symbol_rows = symbol_summary(self.symbol_info, segments)
        for row in symbol_rows if len(symbol_rows) > 1 else []:
            empty = [name for name, n in row["samples"].items() if n == 0]
            if empty:
                warnings.append(
                    f"symbol {row['symbol']} has no {' or '.join(empty)} samples: its bars lie outside "
                    "those segments' time ranges (segments are cut at the same time for every symbol)"
                )
        train_shares = seg_info["train"]["label_shares"]
        top = max(train_shares, key=train_shares.get)
        if train_shares[top] > DOMINANT_SHARE:
            warnings.append(
                f"{train_shares[top]:.0%} of the train labels are {top}; "
                "consider other labels.threshold/take_profit/stop_loss"
            )
        return {
            **self._index_info,
            "n_features": len(names),
            "feature_names": list(names),
            "feature_families": {f: [n for n in names if family_of(n) == f] for f in families},
            "dropped_columns": list(self.constant_columns),
            "warmup_bars": self.warmup_bars,
            "window": self.data_cfg.window,
            "labels": dataclasses.asdict(lc),
            "eligible_samples": n_eligible,
            "purge_bars": purge,
            "embargo_bars": self.data_cfg.embargo_bars,
            "class_weights": {c: float(w) for c, w in zip(CLASS_NAMES, weights)},
            "segments": seg_info,
            "symbols": symbol_rows,
            **({"scaling": self.scaling} if self.layout.n_symbols > 1 else {}),
            "warnings": warnings,
        }
