"""Summaries of a study read from its storage: counts, best trial, convergence.

The Optuna storage is the source of truth; everything here is a pure function of the
trials it holds (plus the config), so state.json and results.json can always be rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.evaluation.pbo import pbo
from hyperopt_cli.search.selection import between_trial_se, confirm, guard
from hyperopt_cli.search.study_records import INCUMBENT_ATTR, SURPLUS_ATTR, TrialLimits

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


def best_trial(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    """The best COMPLETE trial by its objective value (the earliest on a tie).

    A collapsed trial is ranked like any other: the collapse flag is shown, never used to
    rank (a penalty put configurations that generalise better below worse ones).
    """
    best: FrozenTrial | None = None
    for trial in sorted(
        (t for t in trials if t.state == TrialState.COMPLETE and t.value is not None), key=lambda t: t.number
    ):
        if best is None or _better(float(trial.value), float(best.value), direction):  # type: ignore[arg-type]
            best = trial
    return best


def incumbent_trial(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The group's completed incumbent (the values it started from, enqueued first), if any."""
    return next(
        (
            t
            for t in trials
            if t.user_attrs.get(INCUMBENT_ATTR) and t.state == TrialState.COMPLETE and t.value is not None
        ),
        None,
    )


@dataclass
class Decision:
    """Which trial a group freezes: its best, unless that does not beat the incumbent by more than the noise."""

    trial: FrozenTrial | None
    kept: str | None = None  # "within noise" when the incumbent was kept over a better-looking challenger
    challenger: dict[str, Any] | None = None  # the challenger and its paired gain over the incumbent

    @property
    def epochs(self) -> int | None:
        selection = self.trial.user_attrs.get("selection") if self.trial is not None else None
        return int(selection["epochs"]) if isinstance(selection, dict) and selection.get("epochs") else None


def folds_of(trial: FrozenTrial) -> int:
    """How many selection folds scored the trial (its units come fold by fold)."""
    selection = trial.user_attrs.get("selection")
    return int(selection.get("folds") or 1) if isinstance(selection, dict) else 1


DROPPED_CLASS_SHARE = 0.05  # a class predicted for fewer validation bars than this is one the model has dropped


def drops_a_class(trial: FrozenTrial) -> bool:
    """At its chosen epoch (configured split) the trial predicts one class for > 90% of the bars, or a class for < 5%.

    Macro-F1 weighs every class equally, so such a model forfeits at least a third of it.
    """
    metrics = trial.user_attrs.get("metrics") or {}
    shares = metrics.get("pred_distribution") or []
    return bool(metrics.get("collapsed")) or (len(shares) == 3 and min(shares) < DROPPED_CLASS_SHARE)


@dataclass(frozen=True)
class GuardPolicy:
    """How a group decides whether its best trial replaces the incumbent (docs/selection.md, rule 3).

    `confirm_share` 0 is the guard of runs started before confirmation: the best trial's
    paired gain on its own units must exceed `margin_se` SEs. Otherwise the `top` best
    challengers are tested on the held-back confirmation units at `alpha` (Bonferroni), and
    a group whose PBO is at or above `pbo_level` keeps its incumbent whatever they show.
    """

    margin_se: float = 1.0
    confirm_share: float = 0.0
    top: int = 3
    alpha: float = 0.05
    pbo_level: float | None = None

    @classmethod
    def of(cls, cfg: OptimizationConfig) -> GuardPolicy:
        return cls(cfg.incumbent_margin_se, cfg.confirm_share, cfg.confirm_top, cfg.confirm_alpha, cfg.pbo_keep_level)

    @property
    def confirms(self) -> bool:
        return self.confirm_share > 0


KEPT_NOISE = "within noise"
KEPT_DROPS_CLASS = "challenger drops a class"
KEPT_NOT_CONFIRMED = "not confirmed"
KEPT_PBO = "ranking no better than chance"


def _ranked(trials: Sequence[FrozenTrial], direction: str) -> list[FrozenTrial]:
    """Complete trials, best objective first (the earlier trial first on a tie)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    sign = -1.0 if direction == "maximize" else 1.0
    return sorted(complete, key=lambda t: (sign * float(t.value), t.number))  # type: ignore[arg-type]


def decide(
    trials: Sequence[FrozenTrial], direction: str, margin_se: float | None, policy: GuardPolicy | None = None
) -> Decision:
    """The incumbent guard: the best trial replaces the incumbent only when the evidence says so.

    `policy` (or a bare `margin_se`, the pre-confirmation guard) says how; both None: no guard.
    A challenger that drops a class (drops_a_class) never replaces an incumbent that does not:
    cross-entropy can prefer a model that predicts the label shares (class weights off), whose
    argmax then never or always picks a class (measured: NASDAQ 100% BUY, macro-F1 0.21
    against 0.39; planted pattern 1% HOLD, 0.42-0.44 against 0.53).
    """
    if policy is None and margin_se is not None:
        policy = GuardPolicy(margin_se=margin_se)
    best = best_trial(trials, direction)
    incumbent = incumbent_trial(trials)
    if policy is None or best is None or incumbent is None:
        return Decision(best)
    if policy.confirms:
        return _decide_confirmed(trials, incumbent, direction, policy)
    if drops_a_class(best) and not drops_a_class(incumbent):
        eligible = best_trial([t for t in trials if not drops_a_class(t)], direction)
        if eligible is None or eligible.number == incumbent.number:
            return Decision(
                incumbent,
                kept=KEPT_DROPS_CLASS,
                challenger={"trial": best.number, "value": best.value, "drops_a_class": True},
            )
        best = eligible
    if best.number == incumbent.number:
        return Decision(best)
    gain = float(best.value) - float(incumbent.value)  # type: ignore[arg-type]
    judged = guard(
        incumbent.user_attrs.get("units"),
        best.user_attrs.get("units"),
        gain if direction == "maximize" else -gain,
        direction,
        policy.margin_se,
    )
    challenger = {"trial": best.number, "value": best.value, **judged.as_dict()}
    if judged.replace:
        return Decision(best, challenger=challenger)
    return Decision(incumbent, kept=KEPT_NOISE, challenger=challenger)


def _decide_confirmed(
    trials: Sequence[FrozenTrial], incumbent: FrozenTrial, direction: str, policy: GuardPolicy
) -> Decision:
    """Screen on the selection units, confirm on the held-back ones (docs/selection.md, rule 3).

    The `top` challengers that rank above the incumbent are tested, best first, on the
    confirmation units at alpha / (trials compared), with a standard error no smaller than
    the group's own trial-to-trial spread; the first confirmed one is the group's pick.
    Nothing replaces the incumbent when the group's own PBO says its ranking is no better
    than chance.
    """
    ranked = _ranked(trials, direction)
    above = ranked[: next(i for i, t in enumerate(ranked) if t.number == incumbent.number)]
    if not above:
        return Decision(incumbent)
    best = above[0]
    if not drops_a_class(incumbent):
        above = [t for t in above if not drops_a_class(t)]
        if not above:
            return Decision(
                incumbent,
                kept=KEPT_DROPS_CLASS,
                challenger={"trial": best.number, "value": best.value, "drops_a_class": True},
            )
    group_pbo = pbo_of(unit_rows(trials))
    if policy.pbo_level is not None and group_pbo is not None and group_pbo >= policy.pbo_level:
        return Decision(
            incumbent,
            kept=KEPT_PBO,
            challenger={"trial": best.number, "value": best.value, "pbo": group_pbo, "pbo_level": policy.pbo_level},
        )
    tested = above[: policy.top]
    # Corrected for every trial the pick was chosen among: its model's luck on the units that ranked
    # it partly carries over to the held-back ones, so the top few are not the only ones compared.
    compared = len(ranked) - 1
    folds = folds_of(incumbent)
    floor = between_trial_se([t.user_attrs.get("confirm_units") or [] for t in ranked], folds)
    first: dict[str, Any] | None = None
    for trial in tested:
        judged = confirm(
            incumbent.user_attrs.get("confirm_units"),
            trial.user_attrs.get("confirm_units"),
            direction,
            policy.alpha,
            compared,
            folds,
            floor,
        )
        if judged is None:
            continue
        record = {
            "trial": trial.number,
            "value": trial.value,
            **judged.as_dict(),
            "alpha": policy.alpha,
            "tested": len(tested),
        }
        if judged.confirmed:
            return Decision(trial, challenger=record)
        first = first or record
    return Decision(
        incumbent,
        kept=KEPT_NOT_CONFIRMED,
        challenger=first or {"trial": best.number, "value": best.value, "units": 0, "tested": len(tested)},
    )


def unit_rows(trials: Sequence[FrozenTrial]) -> list[list[float]]:
    """Every complete trial's CE-skill units (PBO's matrix rows), where it recorded them."""
    rows = [t.user_attrs.get("skill_units") for t in trials if t.state == TrialState.COMPLETE]
    return [[float(v) for v in row] for row in rows if isinstance(row, list) and row]


def pbo_of(rows: Sequence[Sequence[float]], seed: int = 0) -> float | None:
    """PBO over the rows whose unit count is the most common one (rows of other folds are not comparable)."""
    if not rows:
        return None
    lengths = [len(r) for r in rows]
    common = max(set(lengths), key=lengths.count)
    return pbo([r for r in rows if len(r) == common], higher_is_better=True, seed=seed)


def trials_since_improvement(trials: Sequence[FrozenTrial], direction: str, threshold: float) -> int:
    """Finished trials since the running best last improved by more than `threshold`."""
    best: float | None = None
    since = 0
    for trial in sorted((t for t in trials if t.state in FINISHED), key=lambda t: t.number):
        value = trial.value if trial.state == TrialState.COMPLETE else None
        if value is not None and (
            best is None or _better(value, best + (threshold if direction == "maximize" else -threshold), direction)
        ):
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
    best_epochs: int | None = None  # the epoch count the best trial's folds chose
    kept: str | None = None  # "within noise": the incumbent is kept over `challenger`
    challenger: dict[str, Any] | None = None
    unit_rows: list[list[float]] = field(default_factory=list)  # the trials' CE-skill units (for the run's PBO)
    duration_s: float = 0.0  # summed training time of the finished trials (pauses excluded; workers add up)
    wall_s: float = 0.0  # first trial's start to last finished trial's end, whoever ran them (pauses included)
    trial_seconds: list[float] = field(default_factory=list)
    history: list[tuple[int, float]] = field(default_factory=list)  # (number, value) of each complete trial

    @property
    def pbo(self) -> float | None:
        """Probability of backtest overfitting over the group's trials (computed when asked)."""
        return pbo_of(self.unit_rows)

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
            "best_epochs": self.best_epochs,
            "kept": self.kept,
            "challenger": self.challenger,
            "pbo": self.pbo,
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


def summarize(
    group: str,
    trials: Sequence[FrozenTrial],
    metric: str,
    direction: str,
    threshold: float,
    margin_se: float | None = None,
    policy: GuardPolicy | None = None,
) -> StudySummary:
    """`policy` (or `margin_se`, the pre-confirmation guard): how the incumbent is guarded (neither: unguarded)."""
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
    decision = decide(trials, direction, margin_se, policy)
    best = decision.trial
    if best is not None:
        summary.best_value = float(best.value)  # type: ignore[arg-type]
        summary.best_params = dict(best.params)
        summary.best_trial = best.number
        summary.best_metrics = best.user_attrs.get("metrics")
        summary.best_epochs = decision.epochs
        summary.kept, summary.challenger = decision.kept, decision.challenger
    summary.unit_rows = unit_rows(trials)
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


def group_is_done(
    summary: StudySummary, cfg: OptimizationConfig, limits: TrialLimits | None = None
) -> tuple[bool, str | None]:
    """Whether a group has finished its work, and why: 'budget' or 'converged'.

    `limits`: the group's extended budget (study_records.trial_limits); None: the config's.
    """
    limits = limits or TrialLimits(cfg.max_trials_per_group)
    if summary.n_finished >= limits.max_trials:
        return True, "budget"
    if (
        summary.n_finished >= limits.min_trials
        and summary.n_complete > 0
        and summary.since_improvement >= cfg.convergence_patience
    ):
        return True, "converged"
    return False, None


def kept_message(summary: StudySummary) -> str:
    """The log line of a group that kept its incumbent."""
    c = summary.challenger or {}
    head = f"{summary.group}: kept the incumbent (trial {summary.best_trial})"
    if c.get("drops_a_class"):
        return (
            f"{head}: the best {summary.metric} (trial {c.get('trial')}) drops a class "
            f"(one class > 90% or one < 5% of its validation predictions)"
        )
    if summary.kept == KEPT_PBO:
        return (
            f"{head}: the group's ranking is no better than chance (PBO {c.get('pbo', 0.0):.2f} >= "
            f"{c.get('pbo_level', 0.0):.2f}); its best trial {c.get('trial')} is not used"
        )
    if summary.kept == KEPT_NOT_CONFIRMED:
        if not c.get("units"):
            return f"{head}: not confirmed; no held-back units to test trial {c.get('trial')} on"
        return (
            f"{head}: not confirmed; {c.get('tested', 1)} challenger(s) tested on {c.get('units')} held-back "
            f"units, the best-ranked (trial {c.get('trial')}) gains {c.get('delta', 0.0):+.4f} {summary.metric}, "
            f"t {c.get('t') or 0.0:.2f} where {c.get('threshold', 0.0):.2f} is needed "
            f"(best of {c.get('compared', 1)} compared)"
        )
    se = c.get("se")
    noise = f"{se:.4f} SE" if isinstance(se, float) else "no noise estimate"
    return (
        f"{head}: within noise; best challenger trial {c.get('trial')} gains {c.get('delta', 0.0):+.4f} "
        f"{summary.metric}, {noise} over {c.get('units', 0)} paired units"
    )
