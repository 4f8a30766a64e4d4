"""The two rules that end a trial before its full budget: the fold race and the rungs of the epoch ladder.

Both decide only from the trial's own folds so far and the study's recorded trials (the
lower-numbered ones, or the incumbent once it is complete), so a resumed trial decides the
same. The incumbent is never stopped: it always gets every fold and every rung.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.core.faults import fault_point
from hyperopt_cli.data.prepare import PreparedData
from hyperopt_cli.search.ladder import BUDGET_ATTR, RUNG_ATTR, rung_decision
from hyperopt_cli.search.outcome import TrialOutcome, trial_fold_units
from hyperopt_cli.search.racing import RACE_ATTR, FoldUnits, folds_value, rank_among
from hyperopt_cli.search.racing import race as race_decision
from hyperopt_cli.search.study_records import INCUMBENT_ATTR
from hyperopt_cli.training.trainer import TrainResult


@dataclass
class EarlyStops:
    """A group's race and rung rules, read against its study's trials (`trials`, read when a rule decides)."""

    cfg: OptimizationConfig
    metric: str
    direction: str
    rungs: list[int]
    trials: Callable[[], list[FrozenTrial]]
    _incumbent_units: FoldUnits | None = field(default=None, init=False)  # read once complete: it never changes

    def climb(
        self, trial: optuna.Trial, results: list[TrainResult], folds: list[PreparedData], rung: int
    ) -> TrialOutcome | None:
        """At a rung below the top: the outcome of a trial not promoted, or None to train the next rung.

        The incumbent always climbs. Decided from this trial's folds and the lower-numbered
        trials' recorded fold units, so a resumed trial decides the same.
        """
        epochs = self.rungs[rung]
        mine = trial_fold_units(results, folds, self.metric, self.cfg.confirm_share)
        earlier = [t.user_attrs.get("fold_units") for t in self.trials() if t.number < trial.number]
        decision = rung_decision(
            mine, [u for u in earlier if isinstance(u, list)], rung, epochs, self.direction, self.cfg.rung_eta or 1
        )
        fault_point("after_rung")
        if decision.promoted or trial.user_attrs.get(INCUMBENT_ATTR):
            return None
        return TrialOutcome(
            TrialState.PRUNED,
            attrs={
                "train_seconds": sum(m.seconds for r in results for m in r.history),
                "pruned_in_fold": len(results),
                "pruned_at_epoch": epochs,
                "pruned_by": "rung",
                RUNG_ATTR: decision.as_dict(),
                "fold_units": mine,
                BUDGET_ATTR: epochs,
                "rung": rung,
            },
        )

    def race(self, trial: optuna.Trial, results: list[TrainResult], folds: list[PreparedData]) -> TrialOutcome | None:
        """After a fold but the last: the outcome of a challenger raced out by the incumbent, or None to go on.

        Decided only from the incumbent's finished record and this trial's own folds, so a
        resumed trial (its folds replayed from their checkpoints) decides the same.
        """
        margin, eta = self.cfg.race_margin_se, self.cfg.race_eta
        if (margin is None and not eta) or trial.user_attrs.get(INCUMBENT_ATTR):
            return None
        incumbent = self._incumbent_fold_units()
        if incumbent is None:
            return None
        mine = trial_fold_units(results, folds, self.metric, self.cfg.confirm_share)
        decision = race_decision(mine, incumbent, self.direction, margin)
        if decision.go_on and eta:
            go_on, rank, among, keep = rank_among(
                folds_value(mine, self.direction), self._earlier_values(trial.number, len(mine)), self.direction, eta
            )
            decision = dataclasses.replace(decision, go_on=go_on, rank=rank, among=among, keep=keep)
        fault_point("after_race")
        if decision.go_on:
            return None
        last = results[-1].history
        return TrialOutcome(
            TrialState.PRUNED,
            attrs={
                "train_seconds": sum(m.seconds for r in results for m in r.history),
                "pruned_in_fold": len(results),
                "pruned_at_epoch": len(last),
                "pruned_by": "race",
                RACE_ATTR: decision.as_dict(),
                "fold_units": mine,
            },
        )

    def _earlier_values(self, number: int, n_folds: int) -> list[float]:
        """The objective over their first `n_folds` folds of the lower-numbered trials that trained that many."""
        values = []
        for t in self.trials():
            units = t.user_attrs.get("fold_units")
            if t.number < number and isinstance(units, list) and len(units) >= n_folds:
                value = folds_value(units[:n_folds], self.direction)
                if value is not None:
                    values.append(value)
        return values

    def _incumbent_fold_units(self) -> FoldUnits | None:
        """The group's first trial's fold units once it is COMPLETE (None before, or without an incumbent)."""
        if self._incumbent_units is None:
            first = next((t for t in self.trials() if t.user_attrs.get(INCUMBENT_ATTR)), None)
            units = (
                first.user_attrs.get("fold_units") if first is not None and first.state == TrialState.COMPLETE else None
            )
            self._incumbent_units = units if isinstance(units, list) else None
        return self._incumbent_units
