"""Epochs as the budget: a group's trials train on a ladder of rungs and only the best climb it.

With `rung_eta` set, the rungs are `rung_min_epochs`, times `rung_eta`, ... below
`epochs_per_trial`, then `epochs_per_trial` itself (4 -> 12 -> 36 for min 4, eta 3, top 36).
A trial trains every selection fold to the first rung (racing the incumbent fold by fold),
then, at each rung but the top, is promoted only if its objective over its folds, at the best
epoch up to that rung, ranks in the best ceil(n / eta) of the n trials that reached the rung
with a smaller number (itself included): asynchronous successive halving (ASHA), decided from
recorded fold units only, so a resumed trial decides the same. A promoted trial continues each
fold from its checkpoint; the learning-rate schedule (cosine with warm restarts, its period
`scheduler_T_0` epochs) does not depend on the number of epochs, so a rung is exactly the first
epochs of the longer training. The group's incumbent climbs every rung; a trial stopped below
the top ends PRUNED (`pruned_by: rung`) and never competes for the group's best, so every
COMPLETE trial was trained to the same budget.

Pure functions of the config and recorded fold units (no optuna, no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hyperopt_cli.search.racing import FoldUnits, folds_value, rank_among

RUNG_ATTR = "rung_stop"  # trial user attr: the rung decision that stopped it
BUDGET_ATTR = "budget_epochs"  # trial user attr: the epochs each of its folds trained (its rung's)


def epoch_rungs(top: int, min_epochs: int, eta: int | None) -> list[int]:
    """The epochs of each rung, the last `top`; one rung (`top`) without a ladder or when min >= top."""
    if not eta or min_epochs >= top:
        return [top]
    rungs, epochs = [], min_epochs
    while epochs < top:
        rungs.append(epochs)
        epochs *= eta
    return [*rungs, top]


def units_at(units: FoldUnits, epochs: int) -> FoldUnits:
    """Each fold's units over its first `epochs` epochs: what a trial had at that rung."""
    return [fold[:epochs] for fold in units]


def reached(units: Any, n_folds: int, epochs: int) -> bool:
    """Whether recorded fold units cover `n_folds` folds of at least `epochs` epochs each."""
    return (
        isinstance(units, list)
        and len(units) >= n_folds
        and all(isinstance(f, list) and len(f) >= epochs for f in units[:n_folds])
    )


@dataclass(frozen=True)
class RungDecision:
    """Whether a trial climbs from rung `rung` (0-based, `epochs` per fold) to the next."""

    promoted: bool
    rung: int
    epochs: int
    value: float | None  # the trial's objective over its folds at the best epoch up to `epochs`
    rank: int  # its place among the trials that reached the rung (1: best; 0: no value, promoted)
    among: int
    keep: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "rung": self.rung,
            "epochs": self.epochs,
            "value": self.value,
            "rank": self.rank,
            "among": self.among,
            "keep": self.keep,
        }


def rung_decision(
    mine: FoldUnits, earlier: Sequence[FoldUnits], rung: int, epochs: int, direction: str, eta: int
) -> RungDecision:
    """Successive halving at one rung: `mine` against the earlier trials' units that reached it."""
    n_folds = len(mine)
    value = folds_value(units_at(mine, epochs), direction)
    values = [folds_value(units_at(u, epochs), direction) for u in earlier if reached(u, n_folds, epochs)]
    promoted, rank, among, keep = rank_among(value, [v for v in values if v is not None], direction, eta)
    return RungDecision(promoted, rung, epochs, value, rank, among, keep)
