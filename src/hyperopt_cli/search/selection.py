"""How a trial's fold curves become its objective, and when a challenger may replace the incumbent.

Pure functions of the epoch metrics a trial's folds reported (no optuna, no torch), so the
search, the summaries and the benchmarks share one definition (docs/selection.md):

- A trial trains once per selection fold. For each epoch the objective metric is averaged
  over the folds; the best epoch of that mean curve (earliest on a tie) is the trial's
  chosen epoch count, and the mean there is its objective value. The final evaluation
  trains the chosen configuration for exactly that many epochs.
- `val_skill` = 1 - CE / CE(training label shares) is the objective of studies whose
  trials change the labels: cross-entropy is not comparable across label sets, skill over
  the climatology of the same labels is, and a label set the model cannot predict scores
  <= 0 however lopsided it is.
- Units: the metric on each contiguous validation sub-block of each fold at the chosen
  epoch. The incumbent guard pairs them; PBO partitions them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperopt_cli.search.study_records import SKILL


@dataclass(frozen=True)
class FoldCurve:
    """One fold's per-epoch metrics (EpochMetrics dicts) and the climatology it is judged against."""

    history: Sequence[dict[str, Any]]
    prior_loss: float  # CE of always predicting the fold's training label shares, on its validation part
    prior_blocks: Sequence[float] = ()  # the same on each validation sub-block


def epoch_value(metrics: dict[str, Any], metric: str, prior_loss: float) -> float:
    if metric == SKILL:
        return 1.0 - float(metrics["val_loss"]) / prior_loss if prior_loss > 0 else float("nan")
    return float(metrics[metric])


def block_values(metrics: dict[str, Any], metric: str, prior_blocks: Sequence[float]) -> list[float]:
    blocks = metrics.get("val_blocks") or {}
    if metric == SKILL:
        return [1.0 - loss / prior if prior > 0 else float("nan")
                for loss, prior in zip(blocks.get("val_loss", []), prior_blocks)]
    return [float(v) for v in blocks.get(metric, [])]


def _better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


@dataclass
class Selection:
    """What a trial's folds say: the epoch count chosen, its objective, and the paired units."""

    epochs: int  # chosen number of epochs (1-based count)
    value: float  # the objective: the metric averaged over folds at that epoch
    fold_values: list[float]  # the metric of each fold at that epoch
    curve: list[float]  # the fold-mean metric after each epoch
    units: list[float] = field(default_factory=list)  # the metric per fold sub-block at that epoch
    skill_units: list[float] = field(default_factory=list)  # CE skill per fold sub-block (PBO's score)

    def as_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "value": self.value, "fold_values": self.fold_values, "curve": self.curve,
                "folds": len(self.fold_values)}


def select(curves: Sequence[FoldCurve], metric: str, direction: str) -> Selection:
    """The best epoch of the fold-mean curve (earliest on a tie; NaN never wins) and its units."""
    n_epochs = min(len(c.history) for c in curves)
    if n_epochs == 0:
        raise ValueError("every fold needs at least one epoch")
    curve = [float(np.mean([epoch_value(c.history[e], metric, c.prior_loss) for c in curves]))
             for e in range(n_epochs)]
    best = 0
    for e in range(1, n_epochs):
        if not math.isnan(curve[e]) and (math.isnan(curve[best]) or _better(curve[e], curve[best], direction)):
            best = e
    return Selection(
        epochs=best + 1,
        value=curve[best],
        fold_values=[epoch_value(c.history[best], metric, c.prior_loss) for c in curves],
        curve=curve,
        units=[v for c in curves for v in block_values(c.history[best], metric, c.prior_blocks)],
        skill_units=[v for c in curves for v in block_values(c.history[best], SKILL, c.prior_blocks)],
    )


@dataclass(frozen=True)
class GuardDecision:
    """Whether a challenger's paired improvement over the incumbent exceeds the noise."""

    replace: bool
    delta: float  # mean paired improvement of the challenger (> 0: better, in the study's direction)
    se: float  # its standard error over the paired units (NaN when it cannot be estimated)
    n_units: int

    def as_dict(self) -> dict[str, Any]:
        return {"delta": self.delta, "se": None if math.isnan(self.se) else self.se, "units": self.n_units}


def guard(incumbent_units: Sequence[float] | None, challenger_units: Sequence[float] | None,
          challenger_gain: float, direction: str, margin_se: float) -> GuardDecision:
    """Replace only when the mean paired gain exceeds `margin_se` standard errors (and 0).

    Units are paired by position (same fold, same sub-block). Without comparable units
    (trials recorded before units existed) the objective's own gain decides, as before.
    """
    inc = np.asarray(incumbent_units or [], dtype=np.float64)
    ch = np.asarray(challenger_units or [], dtype=np.float64)
    if len(inc) < 2 or len(inc) != len(ch) or not (np.isfinite(inc).all() and np.isfinite(ch).all()):
        return GuardDecision(challenger_gain > 0, challenger_gain, float("nan"), 0)
    gain = ch - inc if direction == "maximize" else inc - ch
    delta = float(gain.mean())
    se = float(gain.std(ddof=1) / math.sqrt(len(gain)))
    return GuardDecision(delta > 0 and delta > margin_se * se, delta, se, len(gain))
