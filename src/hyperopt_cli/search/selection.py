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
- Confirmation (`confirm_share` > 0): the later share of each fold's sub-blocks is held back.
  The objective, the chosen epoch, the pruner and PBO see only the earlier sub-blocks (the
  selection part); the held-back ones (confirmation units) are recorded for every trial but
  never rank one. A group's pick must then beat its incumbent on them (`confirm`).
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
        return [
            1.0 - loss / prior if prior > 0 else float("nan")
            for loss, prior in zip(blocks.get("val_loss", []), prior_blocks)
        ]
    return [float(v) for v in blocks.get(metric, [])]


def _better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


def n_selection_blocks(n_blocks: int, confirm_share: float) -> int:
    """How many of a fold's `n_blocks` sub-blocks (the earliest) rank trials; the rest confirm.

    0 share: all of them (no confirmation). Otherwise at least one block on each side.
    """
    if confirm_share <= 0 or n_blocks < 2:
        return n_blocks
    return min(n_blocks - 1, max(1, n_blocks - int(round(n_blocks * confirm_share))))


def selection_value(
    metrics: dict[str, Any], metric: str, prior_loss: float, prior_blocks: Sequence[float], confirm_share: float
) -> float:
    """One fold's objective at one epoch: the whole validation part, or only its selection sub-blocks."""
    if confirm_share <= 0:
        return epoch_value(metrics, metric, prior_loss)
    blocks = block_values(metrics, metric, prior_blocks)
    if not blocks:
        return epoch_value(metrics, metric, prior_loss)
    return float(np.mean(blocks[: n_selection_blocks(len(blocks), confirm_share)]))


@dataclass
class Selection:
    """What a trial's folds say: the epoch count chosen, its objective, and the paired units."""

    epochs: int  # chosen number of epochs (1-based count)
    value: float  # the objective: the metric averaged over folds at that epoch
    fold_values: list[float]  # the metric of each fold at that epoch
    curve: list[float]  # the fold-mean metric after each epoch
    units: list[float] = field(default_factory=list)  # the metric per fold sub-block at that epoch (selection part)
    skill_units: list[float] = field(default_factory=list)  # CE skill per fold sub-block (PBO's score)
    confirm_units: list[float] = field(default_factory=list)  # the metric on the held-back sub-blocks
    confirm_skill_units: list[float] = field(default_factory=list)  # CE skill on the held-back sub-blocks
    last_confirm_skill_units: list[float] = field(default_factory=list)  # the same after the last epoch

    def as_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "value": self.value,
            "fold_values": self.fold_values,
            "curve": self.curve,
            "folds": len(self.fold_values),
        }


def _split_units(
    curves: Sequence[FoldCurve], epoch: int, metric: str, confirm_share: float
) -> tuple[list[float], list[float]]:
    """(selection units, confirmation units) of every fold at `epoch`, fold by fold in time order."""
    chosen: list[float] = []
    held: list[float] = []
    for c in curves:
        blocks = block_values(c.history[epoch], metric, c.prior_blocks)
        cut = n_selection_blocks(len(blocks), confirm_share)
        chosen.extend(blocks[:cut])
        held.extend(blocks[cut:])
    return chosen, held


def select(curves: Sequence[FoldCurve], metric: str, direction: str, confirm_share: float = 0.0) -> Selection:
    """The best epoch of the fold-mean curve (earliest on a tie; NaN never wins) and its units.

    With `confirm_share` > 0 the curve and the units come from the selection sub-blocks only,
    and the held-back sub-blocks become the confirmation units.
    """
    n_epochs = min(len(c.history) for c in curves)
    if n_epochs == 0:
        raise ValueError("every fold needs at least one epoch")
    per_fold = [
        [selection_value(c.history[e], metric, c.prior_loss, c.prior_blocks, confirm_share) for c in curves]
        for e in range(n_epochs)
    ]
    curve = [float(np.mean(values)) for values in per_fold]
    best = 0
    for e in range(1, n_epochs):
        if not math.isnan(curve[e]) and (math.isnan(curve[best]) or _better(curve[e], curve[best], direction)):
            best = e
    units, confirm_units = _split_units(curves, best, metric, confirm_share)
    skill_units, confirm_skill_units = _split_units(curves, best, SKILL, confirm_share)
    _, last_confirm_skill_units = _split_units(curves, n_epochs - 1, SKILL, confirm_share)
    return Selection(
        epochs=best + 1,
        value=curve[best],
        fold_values=per_fold[best],
        curve=curve,
        units=units,
        skill_units=skill_units,
        confirm_units=confirm_units,
        confirm_skill_units=confirm_skill_units,
        last_confirm_skill_units=last_confirm_skill_units,
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


def guard(
    incumbent_units: Sequence[float] | None,
    challenger_units: Sequence[float] | None,
    challenger_gain: float,
    direction: str,
    margin_se: float,
) -> GuardDecision:
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


def t_cdf(x: float, df: int) -> float:
    """P(T <= x) for Student's t with integer `df`, by the closed forms of Abramowitz & Stegun 26.7.3-4."""
    nu = max(int(df), 1)
    theta = math.atan(abs(x) / math.sqrt(nu))
    c2, sin = math.cos(theta) ** 2, math.sin(theta)
    if nu % 2:  # odd: (2/pi)(theta + sin cos (1 + 2/3 cos^2 + (2*4)/(3*5) cos^4 + ...))
        term, total = 1.0, 0.0
        for k in range(1, (nu - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        inside = 2.0 / math.pi * (theta + sin * math.cos(theta) * total) if nu > 1 else 2.0 * theta / math.pi
    else:  # even: sin (1 + 1/2 cos^2 + (1*3)/(2*4) cos^4 + ...)
        term, total = 1.0, 0.0
        for k in range(1, nu // 2 + 1):
            total += term
            term *= c2 * (2 * k - 1) / (2 * k)
        inside = sin * total
    return 0.5 + math.copysign(inside / 2.0, x)


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (0.5 <= p < 1) of Student's t with integer `df`, by bisection on `t_cdf`.

    Kept here (checked against scipy in the tests) so that `status` and `results` need no scipy.
    """
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p and hi < 1e6:
        hi *= 2.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Confirmation:
    """A challenger's paired gain over the incumbent on units that played no part in ranking it."""

    confirmed: bool
    delta: float  # mean paired gain (> 0: the challenger is better, in the study's direction)
    se: float  # its standard error (NaN when it cannot be estimated)
    n_units: int
    t: float  # delta / se
    threshold: float  # the t the gain had to exceed: one-sided, alpha / compared (Bonferroni)
    compared: int  # how many trials the challenger was picked among (the correction's count)

    def as_dict(self) -> dict[str, Any]:
        finite = lambda v: None if math.isnan(v) else v  # noqa: E731
        return {
            "delta": self.delta,
            "se": finite(self.se),
            "units": self.n_units,
            "t": finite(self.t),
            "threshold": self.threshold,
            "compared": self.compared,
            "lower_bound": finite(self.lower_bound),
        }

    @property
    def lower_bound(self) -> float:
        """The gain's one-sided lower confidence bound at the corrected level (> 0 exactly when confirmed)."""
        return self.delta - self.threshold * self.se if math.isfinite(self.se) else float("nan")


def confirm(
    incumbent_units: Sequence[float] | None,
    challenger_units: Sequence[float] | None,
    direction: str,
    alpha: float,
    compared: int,
    clusters: int = 1,
    floor_se: float = 0.0,
) -> Confirmation | None:
    """A one-sided paired t-test at level alpha / compared; None without comparable units.

    Bonferroni over the trials the challenger was picked among keeps the chance that noise
    confirms any of them at or below `alpha`. The units were held back from the trials'
    values, so the best of N trials is not also judged on the evidence that made it best.
    `clusters`: the units come fold by fold in that many equal runs; sub-blocks of one fold
    share one trained model, so their gains move together, and the standard error is the
    larger of the unit-level one and the one from the folds' mean gains; `floor_se` (the spread
    of the group's own trials, `between_trial_se`) bounds it from below.
    """
    inc = np.asarray([] if incumbent_units is None else incumbent_units, dtype=np.float64)
    ch = np.asarray([] if challenger_units is None else challenger_units, dtype=np.float64)
    if len(inc) < 3 or len(inc) != len(ch) or not (np.isfinite(inc).all() and np.isfinite(ch).all()):
        return None
    gain = ch - inc if direction == "maximize" else inc - ch
    delta = float(gain.mean())
    se = float(gain.std(ddof=1) / math.sqrt(len(gain)))
    if 2 <= clusters <= len(gain) // 2:
        fold_means = [float(chunk.mean()) for chunk in np.array_split(gain, clusters)]
        se = max(se, float(np.std(fold_means, ddof=1) / math.sqrt(clusters)))
    se = max(se, floor_se)
    threshold = t_quantile(1.0 - alpha / max(compared, 1), len(gain) - 1)
    t = delta / se if se > 0 else (math.inf if delta > 0 else -math.inf if delta < 0 else 0.0)
    return Confirmation(bool(delta > 0 and t > threshold), delta, se, len(gain), t, threshold, max(compared, 1))


def between_trial_se(rows: Sequence[Sequence[float]], clusters: int) -> float:
    """The standard error of a paired gain between two trials of one group if their settings were alike.

    `rows`: each trial's confirmation units, fold by fold in `clusters` equal runs. A trained
    model's luck (its seed) moves every sub-block of its fold together and carries from the
    units that ranked it to the held-back ones, so the sub-blocks alone understate the noise.
    The trials themselves show how much two runs of one setting differ: per fold, each
    trial's mean less the fold's median over the trials; 1.4826 x their median absolute
    deviation estimates one trial-fold mean's spread (robust to the few trials that really
    differ), and a gain over `clusters` folds of two trials has sqrt(2 / clusters) times it.
    0 with fewer than 3 trials.
    """
    usable = [np.asarray(r, dtype=np.float64) for r in rows if len(r)]
    if len(usable) < 3 or clusters < 1:
        return 0.0
    width = len(usable[0])
    usable = [r for r in usable if len(r) == width and np.isfinite(r).all()]
    if len(usable) < 3 or width < clusters:
        return 0.0
    means = np.asarray([[float(chunk.mean()) for chunk in np.array_split(r, clusters)] for r in usable])
    residuals = means - np.median(means, axis=0)
    spread = 1.4826 * float(np.median(np.abs(residuals - np.median(residuals))))
    return spread * math.sqrt(2.0 / clusters)
