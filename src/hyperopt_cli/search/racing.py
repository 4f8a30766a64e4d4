"""Folds raced against the incumbent and each other: after each fold but the last, a challenger goes on only if it may win.

A trial trains its selection folds oldest first (the first is the cheapest: the least
training data). After fold k a challenger (any trial but the group's incumbent, its first
trial) is judged on the k folds it has trained, twice:

1. against the incumbent: each side's fold-mean curve over those k folds, at its own best
   epoch, and the selection sub-blocks there, paired by position (fold, sub-block) as the guard
   pairs them. It must be within `race_margin_se` standard errors of the incumbent's units.
2. against the trials before it (successive halving over folds, reduction factor `race_eta`):
   among itself and every lower-numbered trial that trained k folds (the incumbent included), its
   objective over those folds must rank in the best ceil(n / eta).

Otherwise it stops, PRUNED, with its folds' units kept. The incumbent trains every fold.

Why this cannot make a group change its values on noise: a change must still beat the
incumbent on held-back units (search/selection.py `confirm`), which racing never reads.
Racing can cost power (a challenger that would have caught up on later folds), not a false change.

Pure functions of recorded fold units (no optuna, no torch): `fold_units` is what every
trial records, per fold, per epoch, the objective on each selection sub-block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperopt_cli.search.selection import FoldCurve, block_values, n_selection_blocks, selection_value

FoldUnits = list[list[list[float]]]  # [fold][epoch][selection sub-block]: the objective's values
RACE_ATTR = "raced_out"  # trial user attr: the race decision that stopped it


def fold_units(curve: FoldCurve, metric: str, confirm_share: float) -> list[list[float]]:
    """One fold's selection sub-block values after each epoch (its whole validation part when it has no blocks)."""
    rows: list[list[float]] = []
    for metrics in curve.history:
        blocks = block_values(metrics, metric, curve.prior_blocks)
        if blocks:
            rows.append(blocks[: n_selection_blocks(len(blocks), confirm_share)])
        else:
            rows.append([selection_value(metrics, metric, curve.prior_loss, curve.prior_blocks, confirm_share)])
    return rows


@dataclass(frozen=True)
class RaceDecision:
    """Whether a challenger goes on to its next fold, from its paired gain on the folds both have trained."""

    go_on: bool
    folds: int  # folds compared
    delta: float  # mean paired gain over the incumbent (> 0: the challenger is ahead)
    se: float  # its standard error over the paired units (NaN when it cannot be estimated)
    n_units: int
    margin_se: float | None
    rank: int | None = None  # the challenger's place among the trials that trained as many folds (1: best)
    among: int | None = None  # how many such trials, itself included
    keep: int | None = None  # how many of them go on: ceil(among / eta)

    def as_dict(self) -> dict[str, Any]:
        return {
            "after_fold": self.folds,
            "delta": self.delta,
            "se": None if math.isnan(self.se) else self.se,
            "units": self.n_units,
            "margin_se": self.margin_se,
            "rank": self.rank,
            "among": self.among,
            "keep": self.keep,
        }


def folds_value(folds: Sequence[Sequence[Sequence[float]]], direction: str) -> float | None:
    """A trial's objective over the folds given: the fold-mean curve at its best epoch (None without epochs)."""
    units = _chosen_units(folds, direction)
    return float(np.mean(units)) if units else None


def _chosen_units(folds: Sequence[Sequence[Sequence[float]]], direction: str) -> list[float] | None:
    """The units at the best epoch of the fold-mean curve (earliest on a tie), as `select` picks it."""
    n_epochs = min((len(f) for f in folds), default=0)
    if n_epochs == 0:
        return None
    curve = [float(np.mean([np.mean(f[e]) for f in folds])) for e in range(n_epochs)]
    best = 0
    for e in range(1, n_epochs):
        if math.isnan(curve[best]) or (
            not math.isnan(curve[e]) and (curve[e] > curve[best] if direction == "maximize" else curve[e] < curve[best])
        ):
            best = e
    return [float(v) for f in folds for v in f[best]]


def race(
    challenger: Sequence[Sequence[Sequence[float]]],
    incumbent: Sequence[Sequence[Sequence[float]]],
    direction: str,
    margin_se: float | None,
) -> RaceDecision:
    """The decision after the challenger's folds so far, against the incumbent's first as many folds.

    Without comparable units (different shapes, too few, not finite) the challenger goes on:
    racing stops a trial only on evidence. `margin_se` None: no bar (the gain is still recorded).
    """
    n = len(challenger)
    go_on = RaceDecision(True, n, float("nan"), float("nan"), 0, margin_se)
    if n == 0 or len(incumbent) < n:
        return go_on
    ch, inc = _chosen_units(challenger[:n], direction), _chosen_units(incumbent[:n], direction)
    if ch is None or inc is None or len(ch) != len(inc) or len(ch) < 2:
        return go_on
    a, b = np.asarray(ch, dtype=np.float64), np.asarray(inc, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return go_on
    gain = a - b if direction == "maximize" else b - a
    delta = float(gain.mean())
    se = float(gain.std(ddof=1) / math.sqrt(len(gain)))
    passes = margin_se is None or delta >= -margin_se * se
    return RaceDecision(bool(passes), n, delta, se, len(gain), margin_se)


def rank_among(value: float | None, earlier: Sequence[float], direction: str, eta: int) -> tuple[bool, int, int, int]:
    """Successive halving over folds: (goes on, rank, among, keep) of `value` against the earlier trials' values.

    The earlier trials are those with a smaller number that trained as many folds (the
    incumbent among them); the challenger goes on when it ranks in the best ceil(n / eta) of
    the n values, itself included; a tie goes to the earlier trial. Without a value it goes on.
    """
    if value is None or math.isnan(value):
        return True, 0, 0, 0
    finite = [v for v in earlier if not math.isnan(v)]
    ahead = sum(v > value if direction == "maximize" else v < value for v in finite)
    ahead += sum(v == value for v in finite)
    among = len(finite) + 1
    keep = math.ceil(among / eta)
    return ahead + 1 <= keep, ahead + 1, among, keep
