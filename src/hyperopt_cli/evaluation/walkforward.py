"""Walk-forward evaluation: the test segment in K consecutive blocks, each scored by a model
trained on every labelled sample before it, purged by the label horizon plus the embargo.

For block k starting at time T, the training samples are all labelled samples (from the
train, val and test segments, of every symbol) whose label, horizon plus embargo counted in
their own symbol's bars, ends before T (`t + purge_bars < b` for one symbol). Features are
re-standardised per block with the mean/std of the rows up to that block's last training
sample's time (data/panel.py, per symbol or pooled as the segments are), so nothing about
a block leaks into its own inputs.

Blocks are time blocks: `np.array_split` of the test segment's distinct times, each block
holding every symbol's samples at its times. Not scikit-learn's `TimeSeriesSplit`: its
`gap` counts samples, which is not a bar distance where the sample pool has holes (the
purge gaps between segments), and its `test_size` folds leave the first test samples
unscored when the size does not divide.

`walk_forward` takes the blocks already scored (e.g. restored after a stop) and skips
them; `on_block` is called after each newly scored block so the caller can store it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hyperopt_cli.core.errors import DataError
from hyperopt_cli.data.panel import RowLayout, Scaler, apply_panel_scaler, fit_panel_scaler, unique_times
from hyperopt_cli.data.prepare import DataPreparer, PreparedData, Segment, class_weights
from hyperopt_cli.evaluation.baselines import BASELINES, Baseline
from hyperopt_cli.evaluation.decision import RuledPrediction
from hyperopt_cli.evaluation.segments import inner_split, sub_segment
from hyperopt_cli.training.metrics import classification_metrics, trading_score
from hyperopt_cli.training.seeding import derive_seed

MODEL = "model"  # key of the evaluated model's predictions next to the baselines' names
# (train, block) -> class index per block sample, or those signals under a fitted decision rule
FitPredict = Callable[[Segment, Segment], "np.ndarray | RuledPrediction"]
MIN_BLOCK_SAMPLES = 10  # fewer samples in a block give a meaningless macro-F1


@dataclass(frozen=True)
class WalkForwardSource:
    """Every labelled sample (train, val and test segments) and the unscaled features."""

    raw_features: np.ndarray  # (n_rows, n_features) unscaled; NaN where a feature lacks history
    end_rows: np.ndarray  # (n_samples,) ascending row of each sample's last bar
    labels: np.ndarray  # (n_samples,) class index 0=SELL 1=HOLD 2=BUY
    forward_returns: np.ndarray  # (n_samples,) log return over the label horizon
    timestamps: np.ndarray  # (n_samples,) datetime64[ns] UTC
    first_test: int  # index of the first test-segment sample
    window: int
    purge_bars: int  # horizon + embargo
    feature_names: tuple[str, ...]
    label_ends: np.ndarray  # (n_samples,) datetime64[ns]: when each label (plus embargo) ends
    symbols: np.ndarray  # (n_samples,) int16 symbol index
    layout: RowLayout  # which rows belong to which symbol
    scaling: str = "per_symbol"

    @classmethod
    def from_prepared(cls, preparer: DataPreparer, data: PreparedData) -> WalkForwardSource:
        segments = (data.train, data.val, data.test)
        return cls(
            raw_features=preparer.raw_features_for(data.feature_names),  # the setting's feature columns only
            end_rows=np.concatenate([s.end_rows for s in segments]),
            labels=np.concatenate([s.labels for s in segments]),
            forward_returns=np.concatenate([s.forward_returns for s in segments]),
            timestamps=np.concatenate([s.timestamps for s in segments]),
            first_test=len(data.train) + len(data.val),
            window=data.test.window,
            purge_bars=data.purge_bars,
            feature_names=data.feature_names,
            label_ends=np.concatenate([s.label_ends for s in segments]),
            symbols=np.concatenate([s.symbols for s in segments]),
            layout=preparer.layout,
            scaling=preparer.scaling,
        )

    @property
    def symbol_names(self) -> tuple[str, ...]:
        return self.layout.symbols

    def scaler_until(self, until: np.datetime64) -> Scaler:
        """The scaler fitted on the complete rows at or before `until`."""
        row_ok = ~np.isnan(self.raw_features).any(axis=1)
        return fit_panel_scaler(self.layout, self.raw_features, row_ok, until, self.scaling)

    def scaled_until(self, until: np.datetime64) -> np.ndarray:
        """The features standardised on the complete rows at or before `until`."""
        return apply_panel_scaler(self.layout, self.raw_features, self.scaler_until(until))

    def segment(self, name: str, idx: np.ndarray, features: np.ndarray) -> Segment:
        return Segment(
            name=name,
            features=features,
            end_rows=self.end_rows[idx],
            labels=self.labels[idx],
            forward_returns=self.forward_returns[idx],
            timestamps=self.timestamps[idx],
            window=self.window,
            label_ends=self.label_ends[idx],
            symbols=self.symbols[idx],
        )


@dataclass(frozen=True)
class Fold:
    """One block of the test segment and the purged samples before it (indices into the source)."""

    block: int
    train_idx: np.ndarray
    test_idx: np.ndarray


def check_blocks(n_test_times: int, n_blocks: int) -> None:
    """DataError unless `n_test_times` distinct test times give every one of `n_blocks` blocks MIN_BLOCK_SAMPLES."""
    if n_blocks < 1 or n_test_times < n_blocks * MIN_BLOCK_SAMPLES:
        raise DataError(
            f"walk-forward needs at least {MIN_BLOCK_SAMPLES} test bars per block, got {n_test_times} test bars "
            f"for {n_blocks} blocks; use fewer blocks or a larger data.test_fraction"
        )


def time_blocks(times: np.ndarray, n_blocks: int) -> list[np.ndarray]:
    """Positions into `times` (sorted) of `n_blocks` consecutive blocks of distinct times; all symbols together."""
    distinct = unique_times(times)
    bounds = [int(np.searchsorted(times, chunk[0], side="left")) for chunk in np.array_split(distinct, n_blocks)]
    bounds.append(len(times))
    return [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def walk_forward_folds(source: WalkForwardSource, n_blocks: int) -> list[Fold]:
    """The K consecutive test blocks, each with every sample whose label ends before it."""
    test_times = source.timestamps[source.first_test :]
    check_blocks(len(unique_times(test_times)), n_blocks)
    folds = []
    for k, positions in enumerate(time_blocks(test_times, n_blocks)):
        block = positions + source.first_test
        train_idx = np.flatnonzero(source.label_ends[: block[0]] < source.timestamps[block[0]])
        folds.append(Fold(block=k, train_idx=train_idx, test_idx=block))
    return folds


def fold_scaler(source: WalkForwardSource, fold: Fold) -> Scaler:
    """The scaler fitted on the rows up to the fold's last training sample's time."""
    if len(fold.train_idx) == 0:
        raise DataError(f"walk-forward block {fold.block} has no training samples before it; use more bars")
    return source.scaler_until(source.timestamps[fold.train_idx[-1]])


def fold_segments(source: WalkForwardSource, fold: Fold) -> tuple[Segment, Segment]:
    """(train, block) segments sharing features standardised on the fold's training rows only."""
    features = apply_panel_scaler(source.layout, source.raw_features, fold_scaler(source, fold))
    return source.segment("train", fold.train_idx, features), source.segment("test", fold.test_idx, features)


def as_prepared_data(
    train: Segment, block: Segment, purge_bars: int, feature_names: tuple[str, ...], val_fraction: float
) -> PreparedData:
    """A PreparedData for training on a fold: the last `val_fraction` of `train`'s times (purged) as validation."""
    fit, val = inner_split(train, val_fraction)
    fit_segment = sub_segment(train, "train", fit)
    return PreparedData(
        train=fit_segment,
        val=sub_segment(train, "val", val),
        test=block,
        feature_names=feature_names,
        class_weights=class_weights(fit_segment.labels),
        purge_bars=purge_bars,
    )


def score_predictions(segment_labels: np.ndarray, forward_returns: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Classification metrics (macro-F1, per-class F1, prediction shares, ...) plus the trading score."""
    out = dict(classification_metrics(segment_labels, pred))
    out["trading_score"] = float(trading_score(pred, forward_returns))
    out["n_samples"] = int(len(pred))
    return out


def _iso(ts: np.datetime64) -> str:
    return pd.Timestamp(ts).tz_localize("UTC").isoformat()


@dataclass
class BlockResult:
    """One scored block: where it lies, what trained it, and every predictor's predictions and metrics."""

    block: int
    start: int  # first sample index (into the source) of the block
    stop: int  # one past its last sample index
    first_timestamp: str
    last_timestamp: str
    n_train: int  # purged training samples before the block
    predictions: dict[str, list[int]]  # MODEL and each baseline
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The block's true classes and forward log returns (None where not finite): the report draws
    # the equity curve and the label distribution from them. Empty in blocks stored before they were kept.
    labels: list[int] = field(default_factory=list)
    forward_returns: list[float | None] = field(default_factory=list)
    # Predictors with a fitted decision rule: their argmax signals and the rule (evaluation/decision.py).
    argmax_predictions: dict[str, list[int]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BlockResult:
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


@dataclass
class WalkForwardResult:
    """Per-block and pooled metrics; the pooled arrays feed the verdict."""

    blocks: list[BlockResult]
    pooled: dict[str, dict[str, Any]]  # predictor -> metrics over all blocks together
    labels: np.ndarray  # pooled true classes, in time order
    forward_returns: np.ndarray
    predictions: dict[str, np.ndarray]  # predictor -> pooled predictions
    purge_bars: int
    timestamps: np.ndarray | None = None  # pooled sample times (sorted): the verdict bootstraps blocks of time
    symbols: np.ndarray | None = None  # pooled symbol index of each sample
    symbol_names: tuple[str, ...] = ()
    argmax_pooled: dict[str, dict[str, Any]] = field(default_factory=dict)  # predictor -> metrics under argmax

    def by_symbol(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per symbol: each predictor's metrics on that symbol's test samples ({} for one symbol)."""
        if len(self.symbol_names) < 2 or self.symbols is None:
            return {}
        out = {}
        for s, name in enumerate(self.symbol_names):
            mine = self.symbols == s
            if mine.any():
                out[name] = {
                    k: score_predictions(self.labels[mine], self.forward_returns[mine], p[mine])
                    for k, p in self.predictions.items()
                }
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the blocks (with their predictions) and the pooled metrics."""
        return {"purge_bars": self.purge_bars, "blocks": [b.as_dict() for b in self.blocks], "pooled": self.pooled}


def evaluate_block(
    source: WalkForwardSource, fold: Fold, fit_predict: FitPredict, baselines: dict[str, Baseline], seed: int
) -> BlockResult:
    """Fit the model and every baseline on the fold's training samples and score the block."""
    train, block = fold_segments(source, fold)
    outputs = {MODEL: fit_predict(train, block)}
    for name, baseline in baselines.items():
        outputs[name] = baseline(train, block, derive_seed(seed, "walk_forward", fold.block))
    predictions: dict[str, np.ndarray] = {}
    argmax: dict[str, list[int]] = {}
    rules: dict[str, dict[str, Any]] = {}
    for name, out in outputs.items():
        if isinstance(out, RuledPrediction):
            predictions[name] = np.asarray(out.pred, dtype=np.int64)
            argmax[name] = [int(v) for v in out.argmax]
            rules[name] = out.rule.as_dict()
        else:
            predictions[name] = np.asarray(out, dtype=np.int64)
    for name, pred in predictions.items():
        if pred.shape != (len(block),):
            raise ValueError(f"{name} returned predictions of shape {pred.shape} for a block of {len(block)} samples")
    return BlockResult(
        block=fold.block,
        start=int(fold.test_idx[0]),
        stop=int(fold.test_idx[-1]) + 1,
        first_timestamp=_iso(block.timestamps[0]),
        last_timestamp=_iso(block.timestamps[-1]),
        n_train=len(train),
        predictions={k: [int(v) for v in p] for k, p in predictions.items()},
        metrics={k: score_predictions(block.labels, block.forward_returns, p) for k, p in predictions.items()},
        labels=[int(v) for v in block.labels],
        forward_returns=[float(v) if np.isfinite(v) else None for v in block.forward_returns],
        argmax_predictions=argmax,
        rules=rules,
    )


def walk_forward(
    source: WalkForwardSource,
    fit_predict: FitPredict,
    *,
    n_blocks: int,
    seed: int,
    baselines: dict[str, Baseline] | None = None,
    done: Iterable[BlockResult] = (),
    on_block: Callable[[BlockResult], None] | None = None,
) -> WalkForwardResult:
    """Score every block not in `done`, then pool all blocks; see the module docstring."""
    baselines = BASELINES if baselines is None else baselines
    folds = walk_forward_folds(source, n_blocks)
    finished = {b.block: b for b in done}
    for fold in folds:
        if fold.block in finished:
            if finished[fold.block].start != int(fold.test_idx[0]):
                raise ValueError(f"stored walk-forward block {fold.block} does not match this data's blocks")
            continue
        result = evaluate_block(source, fold, fit_predict, baselines, seed)
        finished[fold.block] = result
        if on_block is not None:
            on_block(result)
    blocks = [finished[f.block] for f in folds]
    test = np.arange(source.first_test, len(source.end_rows))
    labels, returns = source.labels[test], source.forward_returns[test]
    names = list(blocks[0].predictions)
    predictions = {k: np.concatenate([np.asarray(b.predictions[k], dtype=np.int64) for b in blocks]) for k in names}
    pooled = {k: score_predictions(labels, returns, p) for k, p in predictions.items()}
    return WalkForwardResult(
        blocks,
        pooled,
        labels,
        returns,
        predictions,
        source.purge_bars,
        timestamps=source.timestamps[test],
        symbols=source.symbols[test],
        symbol_names=source.symbol_names,
        argmax_pooled=_argmax_pooled(blocks, labels, returns),
    )


def _argmax_pooled(blocks: list[BlockResult], labels: np.ndarray, returns: np.ndarray) -> dict[str, dict[str, Any]]:
    """Each ruled predictor's pooled metrics had it used plain argmax (where every block recorded them)."""
    names = [k for k in blocks[0].predictions if all(k in b.argmax_predictions for b in blocks)]
    return {
        k: score_predictions(
            labels, returns, np.concatenate([np.asarray(b.argmax_predictions[k], dtype=np.int64) for b in blocks])
        )
        for k in names
    }
