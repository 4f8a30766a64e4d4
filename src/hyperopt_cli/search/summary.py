"""Summaries of a study read from its storage: counts, best trial, convergence.

The Optuna storage is the source of truth; everything here is a pure function of the
trials it holds (plus the config), so state.json and results.json can always be rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.search.study_records import INCUMBENT_ATTR, SURPLUS_ATTR

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


def best_trial(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    """The best COMPLETE trial; a collapsed trial only when no uncollapsed one exists.

    When every trial collapsed, the incumbent (trial 0 under `incumbent_first`) is kept if it
    completed: among collapsed trials the one with the best penalised value is no sign of skill
    (a constant signal's trading score is exactly 0, which beats every negative one), and
    freezing it let a triple_barrier search pick labels the model could not predict at all.
    """
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    healthy = [t for t in complete if not t.user_attrs.get("collapsed", False)]
    incumbent = [t for t in complete if t.user_attrs.get(INCUMBENT_ATTR)]
    pool = healthy or incumbent or complete
    best: FrozenTrial | None = None
    for trial in sorted(pool, key=lambda t: t.number):
        if best is None or _better(float(trial.value), float(best.value), direction):  # type: ignore[arg-type]
            best = trial
    return best


def trials_since_improvement(trials: Sequence[FrozenTrial], direction: str, threshold: float) -> int:
    """Finished trials since the running best last improved by more than `threshold`."""
    best: float | None = None
    since = 0
    for trial in sorted((t for t in trials if t.state in FINISHED), key=lambda t: t.number):
        value = trial.value if trial.state == TrialState.COMPLETE else None
        if value is not None and (best is None or _better(value, best + (threshold if direction == "maximize" else -threshold), direction)):
            best = value
            since = 0
        else:
            since += 1
    return since


@dataclass
class StudySummary:
    """What status/results show for one group, computed from its trials."""

    group: str
    metric: str
    direction: str
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    n_running: int = 0
    best_value: float | None = None
    best_params: dict[str, Any] | None = None
    best_trial: int | None = None
    best_metrics: dict[str, Any] | None = None
    collapsed_trials: list[int] = field(default_factory=list)
    failed_trials: list[int] = field(default_factory=list)
    since_improvement: int = 0
    duration_s: float = 0.0  # summed training time of the finished trials (pauses excluded; workers add up)
    wall_s: float = 0.0  # first trial's start to last finished trial's end, whoever ran them (pauses included)
    trial_seconds: list[float] = field(default_factory=list)
    history: list[tuple[int, float]] = field(default_factory=list)  # (number, value) of each complete trial

    @property
    def n_finished(self) -> int:
        return self.n_complete + self.n_pruned + self.n_failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.direction,
            "best_value": self.best_value,
            "best_params": self.best_params,
            "best_trial": self.best_trial,
            "best_metrics": self.best_metrics,
            "n_trials": {
                "complete": self.n_complete,
                "pruned": self.n_pruned,
                "failed": self.n_failed,
                "running": self.n_running,
                "finished": self.n_finished,
            },
            "collapsed_trials": self.collapsed_trials,
            "failed_trials": self.failed_trials,
            "duration_s": round(self.duration_s, 3),
            "wall_s": round(self.wall_s, 3),
            "history": [[number, value] for number, value in self.history],  # the web page's history chart
        }


def summarize(group: str, trials: Sequence[FrozenTrial], metric: str, direction: str, threshold: float) -> StudySummary:
    # A surplus trial (two workers took the last slot at once) was closed unrun and counts for nothing.
    trials = [t for t in trials if not t.user_attrs.get(SURPLUS_ATTR)]
    summary = StudySummary(group=group, metric=metric, direction=direction)
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            summary.n_complete += 1
            if trial.value is not None:
                summary.history.append((trial.number, float(trial.value)))
        elif trial.state == TrialState.PRUNED:
            summary.n_pruned += 1
        elif trial.state == TrialState.FAIL:
            summary.n_failed += 1
            summary.failed_trials.append(trial.number)
        elif trial.state == TrialState.RUNNING:
            summary.n_running += 1
        if trial.user_attrs.get("collapsed"):
            summary.collapsed_trials.append(trial.number)
        seconds = trial.user_attrs.get("train_seconds")
        if trial.state in FINISHED and isinstance(seconds, (int, float)):
            summary.trial_seconds.append(float(seconds))
    summary.duration_s = sum(summary.trial_seconds)
    summary.wall_s = wall_seconds(trials)
    summary.history.sort()
    best = best_trial(trials, direction)
    if best is not None:
        summary.best_value = float(best.value)  # type: ignore[arg-type]
        summary.best_params = dict(best.params)
        summary.best_trial = best.number
        summary.best_metrics = best.user_attrs.get("metrics")
    summary.since_improvement = trials_since_improvement(trials, direction, threshold)
    return summary


def wall_seconds(trials: Sequence[FrozenTrial]) -> float:
    """Seconds from the first trial's start to the last finished trial's end (0 before one finishes).

    With several workers this is the group's elapsed time; a sum of trial times would count
    each worker's trials one after another.
    """
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.state in FINISHED and t.datetime_complete is not None]
    if not starts or not ends:
        return 0.0
    return max(0.0, (max(ends) - min(starts)).total_seconds())


def group_is_done(summary: StudySummary, cfg: OptimizationConfig) -> tuple[bool, str | None]:
    """Whether a group has finished its work, and why: 'budget' or 'converged'."""
    if summary.n_finished >= cfg.max_trials_per_group:
        return True, "budget"
    if summary.n_complete > 0 and summary.since_improvement >= cfg.convergence_patience:
        return True, "converged"
    return False, None
