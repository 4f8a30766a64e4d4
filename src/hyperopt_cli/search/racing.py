"""Folds raced against the incumbent: after each fold but the last, a challenger goes on only while it can still win.

A trial trains its selection folds oldest first (the first is the cheapest: the least
training data). After fold k it is compared with the group's incumbent (its first trial, the
values the group starts from) on the same k folds: each side's fold-mean curve over those
folds, at its own best epoch, and the selection sub-blocks there, paired by position (fold,
sub-block), as the guard pairs them. The challenger goes on while its mean paired gain is at
least `-margin_se` standard errors; otherwise it stops, PRUNED, with its partial record kept.

Why this cannot make a run worse than not racing it in the direction that matters: a group
changes its values only when a challenger beats the incumbent on held-back units
(search/selection.py `confirm`); a raced-out trial was already behind the incumbent on the
folds it trained, and the incumbent always trains every fold. Racing can cost power (a
challenger that would have caught up on later folds), never a false change.

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
    margin_se: float

    def as_dict(self) -> dict[str, Any]:
        return {"after_fold": self.folds, "delta": self.delta, "se": None if math.isnan(self.se) else self.se,
                "units": self.n_units, "margin_se": self.margin_se}


def _chosen_units(folds: Sequence[Sequence[Sequence[float]]], direction: str) -> list[float] | None:
    """The units at the best epoch of the fold-mean curve (earliest on a tie), as `select` picks it."""
    n_epochs = min((len(f) for f in folds), default=0)
    if n_epochs == 0:
        return None
    curve = [float(np.mean([np.mean(f[e]) for f in folds])) for e in range(n_epochs)]
    best = 0
    for e in range(1, n_epochs):
        if math.isnan(curve[best]) or (not math.isnan(curve[e]) and
                                       (curve[e] > curve[best] if direction == "maximize" else curve[e] < curve[best])):
            best = e
    return [float(v) for f in folds for v in f[best]]


def race(challenger: Sequence[Sequence[Sequence[float]]], incumbent: Sequence[Sequence[Sequence[float]]],
         direction: str, margin_se: float) -> RaceDecision:
    """The decision after the challenger's folds so far, against the incumbent's first as many folds.

    Without comparable units (different shapes, too few, not finite) the challenger goes on:
    racing stops a trial only on evidence.
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
    return RaceDecision(bool(delta >= -margin_se * se), n, delta, se, len(gain), margin_se)
