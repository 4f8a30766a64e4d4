"""Does the model beat its best baseline? A paired circular block bootstrap of the difference.

The pooled walk-forward test samples are resampled in circular blocks of `block_length`
consecutive samples (at least the purge gap, horizon + embargo, because neighbouring
triple-barrier labels overlap and are correlated up to the horizon). Each resample picks
the same samples for the model and the baseline (paired), and the difference of their
macro-F1 (and of their trading scores) is computed on it. The percentile interval of
those differences is the 95% interval; the model "beats" the baseline only when the
interval's lower end is above 0, and is "significantly worse" when its upper end is below 0.
A final model with more than 90% of its test predictions in one class is called collapsed
in the same line: its F1 says little about skill.

Hand-written in numpy rather than with the `arch` package: the statistic is a macro-F1
over a resample, not a mean of a series, so `arch` would only supply the block indices
(about fifteen lines here) at the cost of a dependency on statsmodels.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperopt_cli.data.prepare import CLASS_NAMES
from hyperopt_cli.evaluation.baselines import DISPLAY_NAMES
from hyperopt_cli.evaluation.walkforward import MODEL, WalkForwardResult
from hyperopt_cli.training.metrics import COLLAPSE_LIMIT, N_CLASSES, classification_metrics, trading_score
from hyperopt_cli.training.seeding import numpy_rng

N_RESAMPLES = 2000  # bootstrap resamples; the interval's ends move by about 0.002 between seeds
CONFIDENCE = 0.95
_CHUNK = 250  # resamples scored at once, bounding memory at 250 x n samples


@dataclass(frozen=True)
class Verdict:
    """The model against its best baseline on pooled out-of-sample predictions."""

    beats_best_baseline: bool  # the macro-F1 interval lies above 0
    baseline: str  # name of the best baseline (highest pooled macro-F1)
    delta_macro_f1: float  # model - baseline, on the pooled samples
    interval_macro_f1: tuple[float, float]
    delta_trading_score: float
    interval_trading_score: tuple[float, float]
    confidence: float
    block_length: int
    n_resamples: int
    n_samples: int
    seed: int
    # every baseline, the best included: {"delta_macro_f1", "interval_macro_f1", "delta_trading_score",
    # "interval_trading_score", "beaten"}; the same bootstrap seed for each
    against: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    top_class: str = ""  # the class the model predicted most often on the pooled test samples
    top_class_share: float = 0.0  # its share of the model's test predictions

    @property
    def worse_than_best_baseline(self) -> bool:
        """The macro-F1 interval lies below 0: the baseline is better, not merely not beaten."""
        return self.interval_macro_f1[1] < 0

    @property
    def collapsed(self) -> bool:
        """More than COLLAPSE_LIMIT of the model's test predictions fall in one class."""
        return self.top_class_share > COLLAPSE_LIMIT

    def wording(self, model_name: str = "the LSTM") -> str:
        """One line, e.g. 'no evidence the LSTM beats logistic regression: Δ −0.03 [−0.07, +0.01]'.

        'the LSTM is significantly worse than …' when the interval lies below 0; a collapsed
        model adds '; collapsed: 93% of its test predictions are HOLD'.
        """
        lo, hi = self.interval_macro_f1
        numbers = f"Δ {_signed(self.delta_macro_f1)} [{_signed(lo)}, {_signed(hi)}]"
        name = DISPLAY_NAMES.get(self.baseline, self.baseline)
        if self.beats_best_baseline:
            line = f"{model_name} beats {name}: {numbers}"
        elif self.worse_than_best_baseline:
            line = f"{model_name} is significantly worse than {name}: {numbers}"
        else:
            line = f"no evidence {model_name} beats {name}: {numbers}"
        if self.collapsed:
            line += f"; collapsed: {100 * self.top_class_share:.0f}% of its test predictions are {self.top_class}"
        return line

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["worse_than_best_baseline"] = self.worse_than_best_baseline
        out["collapsed"] = self.collapsed
        out["interval_macro_f1"] = list(self.interval_macro_f1)
        out["interval_trading_score"] = list(self.interval_trading_score)
        out["against"] = {
            name: {k: list(v) if isinstance(v, tuple) else v for k, v in row.items()}
            for name, row in self.against.items()
        }
        out["wording"] = self.wording()
        return out


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "\u2212")


def default_block_length(n_samples: int, purge_bars: int) -> int:
    """At least the purge gap (labels overlap up to the horizon), and the usual n^(1/3) growth."""
    return max(1, purge_bars, math.ceil(n_samples ** (1 / 3)))


def circular_block_indices(n: int, block_length: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, n) sample indices: random starts, `block_length` consecutive samples each, wrapping."""
    n_blocks = math.ceil(n / block_length)
    starts = rng.integers(0, n, size=(n_resamples, n_blocks))
    idx = (starts[:, :, None] + np.arange(block_length)) % n
    return idx.reshape(n_resamples, -1)[:, :n]


def macro_f1_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Macro-F1 of each row of (R, n) class arrays (as `classification_metrics` computes it)."""
    rows = np.arange(y_true.shape[0])[:, None]
    cells = (rows * N_CLASSES + y_true) * N_CLASSES + y_pred
    cm = np.bincount(cells.ravel(), minlength=y_true.shape[0] * N_CLASSES**2).reshape(-1, N_CLASSES, N_CLASSES)
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    den = cm.sum(axis=1) + cm.sum(axis=2)
    f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
    return f1.mean(axis=1)


def trading_score_rows(pred: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The market-neutral trading score of each row of (R, n) predictions and returns."""
    centred = r - r.mean(axis=1, keepdims=True)
    std = np.sqrt((centred**2).mean(axis=1))
    signal = pred - 1.0
    cov = ((signal - signal.mean(axis=1, keepdims=True)) * centred).mean(axis=1)
    return np.divide(cov, std, out=np.zeros_like(cov), where=std > 0)


def time_index(times: np.ndarray | None, n: int) -> np.ndarray | None:
    """Each sample's position among the distinct `times` (sorted); None when every time holds one sample."""
    if times is None or len(times) == 0:
        return None
    first = np.ones(len(times), dtype=bool)
    first[1:] = times[1:] != times[:-1]
    if first.all():
        return None
    return np.cumsum(first) - 1


def _per_time(index: np.ndarray, n_times: int, values: np.ndarray) -> np.ndarray:
    return np.bincount(index, weights=values, minlength=n_times)


def _confusion_per_time(index: np.ndarray, n_times: int, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(n_times, N_CLASSES**2) counts of each (true, predicted) pair at each time."""
    cells = index * N_CLASSES**2 + y * N_CLASSES + pred
    return np.bincount(cells, minlength=n_times * N_CLASSES**2).reshape(n_times, -1).astype(np.float64)


def _macro_f1_of_counts(cm: np.ndarray) -> np.ndarray:
    cm = cm.reshape(-1, N_CLASSES, N_CLASSES)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    den = cm.sum(axis=1) + cm.sum(axis=2)
    return np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0).mean(axis=1)


def _trading_of_sums(n: np.ndarray, s: np.ndarray, r: np.ndarray, rr: np.ndarray, sr: np.ndarray) -> np.ndarray:
    """`trading_score_rows` from per-resample sums of the signal s, the return r, r^2 and s*r."""
    mean_r, mean_s = r / n, s / n
    std = np.sqrt(np.maximum(rr / n - mean_r**2, 0.0))
    cov = sr / n - mean_s * mean_r
    return np.divide(cov, std, out=np.zeros_like(cov), where=std > 0)


def _time_block_bootstrap(
    labels: np.ndarray,
    r: np.ndarray,
    model_pred: np.ndarray,
    baseline_pred: np.ndarray,
    index: np.ndarray,
    block_length: int,
    n_resamples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The paired bootstrap over blocks of *time*: a drawn time brings every symbol's sample at that time.

    Resamples differ in size where symbols trade on different calendars, so each resample is
    scored from how often it drew each time (a multiplicity per time) times the per-time
    confusion counts and return sums; no resample is materialised.
    """
    n_times = int(index[-1]) + 1
    cm_model = _confusion_per_time(index, n_times, labels, model_pred)
    cm_base = _confusion_per_time(index, n_times, labels, baseline_pred)
    sums = {}
    for name, pred in (("model", model_pred), ("base", baseline_pred)):
        signal = pred - 1.0
        sums[name] = np.stack(
            [
                _per_time(index, n_times, np.ones(len(r))),
                _per_time(index, n_times, signal),
                _per_time(index, n_times, r),
                _per_time(index, n_times, r * r),
                _per_time(index, n_times, signal * r),
            ],
            axis=1,
        )
    f1_diffs, score_diffs = [], []
    for start in range(0, n_resamples, _CHUNK):
        rows = min(_CHUNK, n_resamples - start)
        drawn = circular_block_indices(n_times, block_length, rows, rng)
        weight = (
            np.bincount((np.arange(rows)[:, None] * n_times + drawn).ravel(), minlength=rows * n_times)
            .reshape(rows, n_times)
            .astype(np.float64)
        )
        f1_diffs.append(_macro_f1_of_counts(weight @ cm_model) - _macro_f1_of_counts(weight @ cm_base))
        model_sums, base_sums = weight @ sums["model"], weight @ sums["base"]
        score_diffs.append(_trading_of_sums(*model_sums.T) - _trading_of_sums(*base_sums.T))
    return np.concatenate(f1_diffs), np.concatenate(score_diffs)


def paired_bootstrap(
    labels: np.ndarray,
    forward_returns: np.ndarray,
    model_pred: np.ndarray,
    baseline_pred: np.ndarray,
    *,
    block_length: int,
    seed: int,
    n_resamples: int = N_RESAMPLES,
    times: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap differences (model - baseline) of macro-F1 and of the trading score, (R,) each.

    `times` (sorted, one per sample): with several samples at a time (several symbols) the
    blocks are blocks of time and `block_length` counts times; else blocks of samples.
    """
    rng = numpy_rng(seed, "verdict", "bootstrap")
    r = np.nan_to_num(np.asarray(forward_returns, dtype=np.float64))
    index = time_index(times, len(labels))
    if index is not None:
        return _time_block_bootstrap(labels, r, model_pred, baseline_pred, index, block_length, n_resamples, rng)
    f1_diffs, score_diffs = [], []
    for start in range(0, n_resamples, _CHUNK):
        idx = circular_block_indices(len(labels), block_length, min(_CHUNK, n_resamples - start), rng)
        y, m, b, ret = labels[idx], model_pred[idx], baseline_pred[idx], r[idx]
        f1_diffs.append(macro_f1_rows(y, m) - macro_f1_rows(y, b))
        score_diffs.append(trading_score_rows(m, ret) - trading_score_rows(b, ret))
    return np.concatenate(f1_diffs), np.concatenate(score_diffs)


def compare(
    labels: np.ndarray,
    forward_returns: np.ndarray,
    model_pred: np.ndarray,
    baseline_preds: dict[str, np.ndarray],
    *,
    block_length: int,
    seed: int,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    times: np.ndarray | None = None,
) -> Verdict:
    """The verdict of `model_pred` against the baseline with the highest macro-F1 on these samples.

    `times`: each sample's time (sorted), for a bootstrap over blocks of time (`paired_bootstrap`).
    """
    labels = np.asarray(labels, dtype=np.int64)
    model_pred = np.asarray(model_pred, dtype=np.int64)
    f1 = {name: classification_metrics(labels, p)["macro_f1"] for name, p in baseline_preds.items()}
    best = max(f1, key=lambda name: f1[name])  # first listed wins a tie
    tail = 100 * (1 - confidence) / 2
    against: dict[str, dict[str, Any]] = {}
    for name, pred in baseline_preds.items():
        base = np.asarray(pred, dtype=np.int64)
        f1_diffs, score_diffs = paired_bootstrap(
            labels,
            forward_returns,
            model_pred,
            base,
            block_length=block_length,
            seed=seed,
            n_resamples=n_resamples,
            times=times,
        )
        f1_lo, f1_hi = (float(v) for v in np.percentile(f1_diffs, [tail, 100 - tail]))
        against[name] = {
            "delta_macro_f1": classification_metrics(labels, model_pred)["macro_f1"] - f1[name],
            "interval_macro_f1": (f1_lo, f1_hi),
            "delta_trading_score": trading_score(model_pred, forward_returns) - trading_score(base, forward_returns),
            "interval_trading_score": tuple(float(v) for v in np.percentile(score_diffs, [tail, 100 - tail])),
            "beaten": f1_lo > 0,
        }
    top = against[best]
    counts = np.bincount(model_pred, minlength=N_CLASSES)
    return Verdict(
        beats_best_baseline=top["beaten"],
        baseline=best,
        delta_macro_f1=top["delta_macro_f1"],
        interval_macro_f1=top["interval_macro_f1"],
        delta_trading_score=top["delta_trading_score"],
        interval_trading_score=top["interval_trading_score"],
        confidence=confidence,
        block_length=block_length,
        n_resamples=n_resamples,
        n_samples=len(labels),
        seed=seed,
        against=against,
        top_class=CLASS_NAMES[int(counts.argmax())],
        top_class_share=float(counts.max() / max(1, counts.sum())),
    )


def verdict(result: WalkForwardResult, *, seed: int, n_resamples: int = N_RESAMPLES) -> Verdict:
    """The walk-forward model against its best baseline, pooled over all blocks (and symbols).

    Several symbols: the bootstrap draws blocks of time, every symbol's samples at a drawn
    time together, so correlated symbols cannot pass for independent evidence.
    """
    baselines = {k: p for k, p in result.predictions.items() if k != MODEL}
    times = result.timestamps if result.timestamps is not None and len(result.timestamps) else None
    n_times = len(np.unique(times)) if times is not None else len(result.labels)
    return compare(
        result.labels,
        result.forward_returns,
        result.predictions[MODEL],
        baselines,
        block_length=default_block_length(n_times, result.purge_bars),
        seed=seed,
        n_resamples=n_resamples,
        times=times,
    )


def symbol_verdicts(result: WalkForwardResult, *, seed: int, n_resamples: int = N_RESAMPLES) -> dict[str, Verdict]:
    """Each symbol's own verdict on its own test samples (the best baseline chosen per symbol); {} for one symbol."""
    if len(result.symbol_names) < 2 or result.symbols is None:
        return {}
    out = {}
    for s, name in enumerate(result.symbol_names):
        mine = np.asarray(result.symbols == s)
        if mine.sum() < 2:
            continue
        baselines = {k: p[mine] for k, p in result.predictions.items() if k != MODEL}
        out[name] = compare(
            result.labels[mine],
            result.forward_returns[mine],
            result.predictions[MODEL][mine],
            baselines,
            block_length=default_block_length(int(mine.sum()), result.purge_bars),
            seed=seed,
            n_resamples=n_resamples,
        )
    return out
