"""One group's Optuna study, driven trial by trial with ask-and-tell.

Ask-and-tell (rather than ``study.optimize``) is what makes stop/resume exact:
- a stopped trial stays RUNNING in storage and a later process finishes it under the same
  number, from its checkpoint, with its reported intermediate values kept;
- the sampler is rebuilt before every ``ask`` with a seed derived from (seed, group,
  trial number), so the points proposed do not depend on how often the process restarted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.config import (
    LabelsConfig,
    ModelConfig,
    OptimizationConfig,
    ParamSpec,
    TrainerConfig,
    families_for,
    model_for,
    with_params,
)
from hyperopt_cli.core.errors import DivergedError, NoFeaturesError, StopRequested
from hyperopt_cli.core.faults import fault_point
from hyperopt_cli.data.prepare import PreparedData
from hyperopt_cli.search.events import EpochEnd, EventSink, GroupKept, RunWarning, TrialEnd, TrialStart
from hyperopt_cli.search.ladder import BUDGET_ATTR, RUNG_ATTR, epoch_rungs, rung_decision
from hyperopt_cli.search.racing import RACE_ATTR, FoldUnits, fold_units, folds_value, race, rank_among
from hyperopt_cli.search.sampler import make_sampler
from hyperopt_cli.search.selection import FoldCurve, select, selection_value
from hyperopt_cli.search.space import sample_params
from hyperopt_cli.search.storage import RunStorage, trial_handle
from hyperopt_cli.search.study_records import (
    GROUP_DONE_ATTR,
    INCUMBENT_ATTR,
    SKILL,
    SURPLUS_ATTR,
    TrialLimits,
    direction_for,
    extensions,
    group_done_of,
    objective_metric,
    trial_limits,
)
from hyperopt_cli.search.summary import (
    KEPT_NOT_CONFIRMED,
    KEPT_PBO,
    GuardPolicy,
    StudySummary,
    group_is_done,
    summarize,
)
from hyperopt_cli.search.workers import (
    WORKER_ATTR,
    TrialAbandoned,
    WorkerId,
    claim,
    may_share_trials,
    still_owns,
    this_worker,
    uses_shared_coordination,
)
from hyperopt_cli.training.metrics import prior_cross_entropy, sub_blocks
from hyperopt_cli.training.precision import resolve_precision
from hyperopt_cli.training.seeding import derive_seed
from hyperopt_cli.training.trainer import (
    EpochMetrics,
    TrainHooks,
    TrainingInterrupted,
    TrainResult,
    delete_checkpoint,
    resolve_device,
    train_model,
)

WAIT_POLL_S = 1.0  # how often a worker with nothing to do looks at the study again

log = logging.getLogger("hyperopt_cli")


class PreparerLike(Protocol):
    def prepare(
        self, labels_cfg: LabelsConfig, families: tuple[str, ...] | None = None, window: int | None = None
    ) -> PreparedData: ...

    def prepare_folds(
        self, labels_cfg: LabelsConfig, n_folds: int, families: tuple[str, ...] | None = None, window: int | None = None
    ) -> list[PreparedData]: ...


def make_pruner(cfg: OptimizationConfig) -> optuna.pruners.PercentilePruner:
    return optuna.pruners.PercentilePruner(
        percentile=cfg.pruning_percentile,
        n_startup_trials=cfg.n_startup_trials,
        n_warmup_steps=cfg.n_warmup_steps,
        interval_steps=1,
    )


def open_study(cfg: OptimizationConfig, run_dir: Path, group: str, direction: str) -> optuna.Study:
    return optuna.create_study(
        study_name=f"{cfg.study_name}_{group}",
        storage=RunStorage(cfg, run_dir).storage(group),
        direction=StudyDirection.MAXIMIZE if direction == "maximize" else StudyDirection.MINIMIZE,
        load_if_exists=True,
        sampler=make_sampler(cfg, group, 0),
        pruner=make_pruner(cfg),
    )


def params_tag(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class TrialOutcome:
    """How one trial's training ended: what to tell the study and what to record on the trial."""

    state: TrialState
    value: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)  # user attrs to set before telling
    warning: str | None = None  # one line for the events, e.g. why it failed
    collapsed: bool = False


@dataclass
class GroupResult:
    summary: StudySummary
    done: bool
    reason: str | None  # "budget", "converged" or "time_budget"
    best_params: dict[str, Any] | None = None  # frozen when the group was declared done
    epochs: int | None = None  # the epoch count the frozen trial's folds chose
    kept: str | None = None  # "within noise": the incumbent was kept over a better-looking challenger


def group_done_record(study: optuna.Study) -> dict[str, Any] | None:
    """The decision that ended a group, as stored on its study (None while it runs, or reopened by an extension)."""
    return group_done_of(study.user_attrs)


class TimeBudget:
    """`max_total_time_hours` as run time summed over every session of the run."""

    def __init__(self, limit_hours: float, elapsed_before: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = limit_hours * 3600.0
        self.elapsed_before = elapsed_before
        self._clock = clock
        self._session_start = clock()

    def elapsed(self) -> float:
        return self.elapsed_before + (self._clock() - self._session_start)

    def exhausted(self) -> bool:
        return self.elapsed() >= self.limit_s


class GroupSearch:
    """Runs one study until its budget or convergence rule says it is done."""

    def __init__(
        self,
        cfg: OptimizationConfig,
        run_dir: Path,
        group: str,
        space: dict[str, ParamSpec],
        fixed_params: dict[str, Any],
        preparer: PreparerLike,
        events: EventSink,
        stop_event: threading.Event,
        budget: TimeBudget,
        on_progress: Callable[[], None],
        checkpoints: Path,
    ) -> None:
        """`checkpoints`: the folder of the in-flight trials' checkpoints (the run decides where: run/rundir.py)."""
        self.cfg = cfg
        self.run_dir = run_dir
        self.checkpoints = checkpoints
        self.group = group
        self.space = space
        self.fixed_params = dict(fixed_params)
        self.preparer = preparer
        self.events = events
        self.stop_event = stop_event
        self.budget = budget
        self.on_progress = on_progress
        self.metric = objective_metric(cfg, list(space))
        self.direction = direction_for(cfg, self.metric)
        self.study = open_study(cfg, run_dir, group, self.direction)
        self.current_trial: int | None = None
        self.current_epoch: int | None = None
        self.me: WorkerId = this_worker()
        self.limits = TrialLimits(cfg.max_trials_per_group)  # read from the study each round (extensions)
        self._incumbent_units: FoldUnits | None = None  # read once the incumbent is complete: it never changes
        self.rungs = epoch_rungs(cfg.epochs_per_trial, cfg.rung_min_epochs, cfg.rung_eta)

    # ----------------------------------------------------------------- reading storage

    def trials(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def summary(self) -> StudySummary:
        return summarize(
            self.group,
            self.trials(),
            self.metric,
            self.direction,
            self.cfg.convergence_threshold,
            policy=GuardPolicy.of(self.cfg),
        )

    # ----------------------------------------------------------------- the loop

    def run(self, heartbeats: Callable[[], dict[str, Any]] = dict) -> GroupResult:
        """Take trials until the group is done; with several workers, each runs this same loop.

        A group is declared done (and its best params frozen on the study) only when no
        trial is RUNNING, so every worker derives the same fixed params from it.
        """
        self._sweep_finished_checkpoints()
        while True:
            if self.stop_event.is_set():
                raise StopRequested("stop requested")
            attrs = self.study.user_attrs
            record = group_done_of(attrs)
            if record is not None:
                return self._result_from(record)
            self.limits = trial_limits(attrs, self.cfg.max_trials_per_group)
            trials = self.trials()
            running = sorted((t for t in trials if t.state == TrialState.RUNNING), key=lambda t: t.number)
            beats = heartbeats() if running else {}
            taken = next((t for t in running if claim(self.study, t, self.me, self.cfg, beats, self.run_dir)), None)
            if taken is not None:
                trial = trial_handle(self.study, taken)
                self._run_trial(trial, reported=set(taken.intermediate_values), resumed=True)
                continue
            summary = summarize(
                self.group,
                trials,
                self.metric,
                self.direction,
                self.cfg.convergence_threshold,
                policy=GuardPolicy.of(self.cfg),
            )
            done, reason = group_is_done(summary, self.cfg, self.limits)
            if done and summary.n_running == 0:
                return self._declare_done(summary, reason)
            if self.budget.exhausted():
                return GroupResult(summary, False, "time_budget")
            if done or summary.n_finished + summary.n_running >= self.limits.max_trials:
                self._idle()  # other workers' trials decide what comes next
                continue
            trial = self.study.ask()
            fault_point("after_ask")
            trial.set_user_attr(WORKER_ATTR, self.me.key)
            if self._is_surplus(trial.number):
                continue
            self._run_trial(trial, reported=set(), resumed=False)

    def _sweep_finished_checkpoints(self) -> None:
        """Delete checkpoints of trials already finished in storage (a kill between tell and delete)."""
        folder = self.checkpoints
        if not folder.is_dir():
            return
        finished = {t.number for t in self.trials() if t.state.is_finished()}
        for path in folder.glob(f"{self.group}_trial*.pt"):
            number = path.stem.rpartition("_trial")[2].partition("_fold")[0]
            if number.isdigit() and int(number) in finished:
                delete_checkpoint(path)

    def _checkpoint_path(self, number: int, fold: int = -1, n_folds: int = 1) -> Path:
        """The last fold (the configured split) keeps the single-split name; earlier folds add `_fold<k>`."""
        suffix = "" if fold in (-1, n_folds - 1) else f"_fold{fold}"
        return self.checkpoints / f"{self.group}_trial{number:05d}{suffix}.pt"

    def _fold_seed(self, number: int, fold: int, n_folds: int) -> int:
        """The last fold keeps the single-split seed, so selection_folds: 1 trains exactly as before."""
        if fold == n_folds - 1:
            return derive_seed(self.cfg.seed, self.group, number)
        return derive_seed(self.cfg.seed, self.group, number, "fold", fold)

    def _idle(self) -> None:
        self.on_progress()
        self.stop_event.wait(WAIT_POLL_S)

    def _is_surplus(self, number: int) -> bool:
        """Two workers asked for the last slot at once: the later trial number gives way.

        It is closed at once as FAIL with user attr surplus=true and counts for nothing.
        """
        if not uses_shared_coordination(self.cfg):
            return False  # the only writer: the loop kept this slot free before asking (saves two reads a trial)
        earlier = [t for t in self.trials() if t.number < number and not t.user_attrs.get(SURPLUS_ATTR)]
        if len(earlier) < self.limits.max_trials:
            return False
        trial = trial_handle(self.study, next(t for t in self.trials() if t.number == number))
        trial.set_user_attr(SURPLUS_ATTR, True)
        self.study.tell(number, state=TrialState.FAIL)
        return True

    def _declare_done(self, summary: StudySummary, reason: str | None) -> GroupResult:
        """Freeze the guarded decision (summarize applied the incumbent guard) on the study."""
        record = {
            "reason": reason,
            "best_trial": summary.best_trial,
            "best_value": summary.best_value,
            "best_params": summary.best_params,
            "best_epochs": summary.best_epochs,
            "kept": summary.kept,
            "challenger": summary.challenger,
            "decided_by": self.me.key,
            "extensions": len(extensions(self.study.user_attrs)),
        }
        if group_done_record(self.study) is None:
            self.study.set_user_attr(GROUP_DONE_ATTR, record)
            if summary.kept:
                self.events.emit(
                    GroupKept(
                        group=self.group,
                        trial=summary.best_trial,
                        challenger=summary.challenger,
                        message=kept_message(summary),
                    )
                )
        return self._result_from(group_done_record(self.study) or record)

    def _result_from(self, record: dict[str, Any]) -> GroupResult:
        summary = self.summary()
        best = record.get("best_params", summary.best_params)
        return GroupResult(
            summary,
            True,
            record.get("reason"),
            dict(best) if best else None,
            epochs=record.get("best_epochs"),
            kept=record.get("kept"),
        )

    def _run_trial(self, trial: optuna.Trial, reported: set[int], resumed: bool) -> None:
        """Ask's counterpart: train one trial, then record and tell its outcome in one place.

        `reported` holds the epochs whose values storage already has (a resumed trial).
        """
        # Asked or resumed, the same sampler proposes: seeded by this trial's number, set before the
        # first suggest (Optuna 5 computes a trial's joint proposal lazily, at its first suggest).
        self.study.sampler = make_sampler(self.cfg, self.group, trial.number)
        params = sample_params(trial, self.space)
        fault_point("after_params")
        trainer_cfg, labels_cfg = with_params(self.cfg, {**self.fixed_params, **params})
        model_cfg, window = model_for(self.cfg, {**self.fixed_params, **params})
        no_input: TrialOutcome | None = None
        folds: list[PreparedData] = []
        try:  # a features-group trial without an input column (every family off, or constant) FAILs untrained
            folds = self.preparer.prepare_folds(
                labels_cfg, self.cfg.selection_folds, families_for(self.cfg, {**self.fixed_params, **params}), window
            )
        except NoFeaturesError as exc:
            no_input = TrialOutcome(TrialState.FAIL, warning=f"trial failed: {exc}", attrs={"fail_reason": str(exc)})
        ckpt = self._checkpoint_path(trial.number)
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        if self.fixed_params:
            trial.set_user_attr("fixed_params", self.fixed_params)
        self.current_trial, self.current_epoch = trial.number, None
        self.events.emit(TrialStart(group=self.group, trial=trial.number, params=params, resumed=resumed))
        self.on_progress()
        try:
            outcome = (
                no_input
                or self._degenerate_labels(folds)
                or self._train(trial, folds, trainer_cfg, model_cfg, params_tag(params), reported)
            )
        except TrialAbandoned:  # its new owner continues it (from the checkpoint) and tells it
            self.events.emit(
                RunWarning(
                    group=self.group,
                    trial=trial.number,
                    message="another worker took this trial over (presumed this one dead); leaving it",
                )
            )
            self.current_trial, self.current_epoch = None, None
            self.on_progress()
            return
        outcome.attrs.setdefault(
            "precision", resolve_precision(trainer_cfg.precision, resolve_device(trainer_cfg.device))
        )
        for key, value in outcome.attrs.items():
            trial.set_user_attr(key, value)
        if outcome.warning:
            self.events.emit(RunWarning(group=self.group, trial=trial.number, message=outcome.warning))
        self._tell(trial, outcome.value, outcome.state)
        fault_point("after_tell")
        for fold in range(len(folds)):
            delete_checkpoint(self._checkpoint_path(trial.number, fold, len(folds)))
        self._finish(trial.number, outcome.state.name, outcome.value, ckpt, collapsed=outcome.collapsed)

    def _degenerate_labels(self, folds: list[PreparedData]) -> TrialOutcome | None:
        """A label-changing trial whose rarest class is below min_class_share in some fold is refused untrained."""
        reason = degenerate_labels(folds, self.cfg.min_class_share) if self.metric == SKILL else None
        if reason is None:
            return None
        return TrialOutcome(
            TrialState.FAIL,
            warning=f"trial refused: {reason}",
            attrs={"fail_reason": reason, "degenerate_labels": True},
        )

    def _train(
        self,
        trial: optuna.Trial,
        folds: list[PreparedData],
        trainer_cfg: TrainerConfig,
        model_cfg: ModelConfig,
        tag: str,
        reported: set[int],
    ) -> TrialOutcome:
        """Train the trial's configuration on each selection fold, rung by rung; a stop leaves the trial RUNNING.

        Each rung trains every fold to the rung's epochs, continuing the fold's checkpoint
        (search/ladder.py); without a ladder the one rung is `epochs_per_trial`. A fold's
        checkpoint stays until the trial is told, so a resumed trial replays it from there
        instead of training it again.
        """
        started = time.monotonic()
        results: list[TrainResult] = []
        rungs = self.rungs
        resumed: TrainResult | None = None  # the last fold's first training in this process: where it resumed
        try:
            for rung, epochs in enumerate(rungs):
                results = []
                for fold, data in enumerate(folds):
                    hooks = TrainHooks(
                        on_epoch=self._epoch_reporter(trial, reported, fold, folds, prune=rung == 0),
                        should_stop=self.stop_event.is_set,
                        on_warning=lambda message: self.events.emit(
                            RunWarning(group=self.group, trial=trial.number, message=message)
                        ),
                    )
                    results.append(
                        at_epochs(
                            train_model(
                                data,
                                trainer_cfg,
                                model_cfg,
                                epochs=epochs,
                                seed=self._fold_seed(trial.number, fold, len(folds)),
                                hooks=hooks,
                                checkpoint_path=self._checkpoint_path(trial.number, fold, len(folds)),
                                checkpoint_tag=tag,
                            ),
                            epochs,
                        )
                    )
                    if rung == 0 and fold == len(folds) - 1:
                        resumed = results[-1]
                    raced = self._race(trial, results, folds) if rung == 0 and fold < len(folds) - 1 else None
                    if raced is not None:
                        return raced
                if rung < len(rungs) - 1:
                    stopped = self._climb(trial, results, folds, rung)
                    if stopped is not None:
                        return stopped
        except TrainingInterrupted:
            # The checkpoint is written; the trial stays RUNNING for the next process to finish.
            raise StopRequested("stop requested") from None
        except optuna.TrialPruned:
            # Counted from 1, as people say them (the Optuna step is fold * epochs_per_trial + epoch).
            return TrialOutcome(
                TrialState.PRUNED,
                attrs={
                    "train_seconds": time.monotonic() - started,
                    "pruned_by": "pruner",
                    "pruned_in_fold": len(results) + 1,
                    "pruned_at_epoch": (self.current_epoch or 0) + 1,
                },
            )
        except DivergedError as exc:
            return TrialOutcome(
                TrialState.FAIL,
                warning=f"trial failed: {exc}",
                attrs={"fail_reason": str(exc), "train_seconds": time.monotonic() - started},
            )
        if resumed is not None and len(rungs) > 1:  # a climb continues a checkpoint: that is not a resume
            results[-1] = dataclasses.replace(
                results[-1],
                resumed_from_epoch=resumed.resumed_from_epoch,
                resumed_from_batch=resumed.resumed_from_batch,
            )
        outcome = self._completed(results, folds)
        if len(rungs) > 1:
            outcome.attrs.update({BUDGET_ATTR: rungs[-1], "rung": len(rungs) - 1})
        return outcome

    def _climb(
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

    def _race(self, trial: optuna.Trial, results: list[TrainResult], folds: list[PreparedData]) -> TrialOutcome | None:
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
        decision = race(mine, incumbent, self.direction, margin)
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

    def _completed(self, results: list[TrainResult], folds: list[PreparedData]) -> TrialOutcome:
        return completed_outcome(
            results, folds, self.metric, self.direction, self.cfg.collapse_precision, self.cfg.confirm_share
        )

    def _epoch_reporter(
        self, trial: optuna.Trial, reported: set[int], fold: int, folds: list[PreparedData], prune: bool = True
    ) -> Callable[[EpochMetrics], None]:
        """The trainer's on_epoch hook: report to the study (once per fold and epoch), emit, and prune.

        Step = fold * epochs_per_trial + epoch, so the pruner compares trials on the same fold
        and epoch, and a hopeless configuration stops in its first fold. With a ladder the
        pruner acts in the first rung only (`prune`): above it the rung rule has judged the trial.
        """

        shared = may_share_trials(self.cfg)  # several workers: one may have taken the trial over
        curve = fold_curve_priors(folds[fold], self.cfg.trainer.val_sub_blocks)

        def on_epoch(m: EpochMetrics) -> None:
            if shared and not still_owns(self.study, trial, self.me):
                raise TrialAbandoned(f"trial {trial.number} is no longer this worker's")
            # What the objective sees: with confirmation, only the fold's selection sub-blocks.
            value = selection_value(
                m.as_dict(), self.metric, curve.prior_loss, curve.prior_blocks, self.cfg.confirm_share
            )
            step = fold * self.cfg.epochs_per_trial + m.epoch
            replayed = step in reported  # re-announced from a checkpoint; storage has it already
            if not replayed:
                trial.report(value, step)
                reported.add(step)
                fault_point("after_epoch")
            self.current_epoch = m.epoch
            self.events.emit(
                EpochEnd(
                    group=self.group,
                    trial=trial.number,
                    epoch=m.epoch,
                    fold=fold,
                    folds=len(folds),
                    epochs=self.cfg.epochs_per_trial,
                    value=value,
                    metrics=m.as_dict(),
                    replayed=replayed,
                )
            )
            self.on_progress()
            if prune and m.epoch < self.rungs[0] and trial.should_prune():
                raise optuna.TrialPruned(f"pruned at fold {fold + 1}, epoch {m.epoch + 1}")

        return on_epoch

    def _tell(self, trial: optuna.Trial, value: float | None = None, state: TrialState | None = None) -> None:
        """Finish a trial; if another worker already finished it (we were presumed dead), keep theirs."""
        try:
            self.study.tell(trial, value, state=state)
        except optuna.exceptions.UpdateFinishedTrialError:
            self.events.emit(
                RunWarning(
                    group=self.group,
                    trial=trial.number,
                    message="another worker finished this trial first; keeping its result",
                )
            )

    def _finish(self, number: int, state: str, value: float | None, ckpt: Path, collapsed: bool = False) -> None:
        delete_checkpoint(ckpt)
        self.current_trial, self.current_epoch = None, None
        self.events.emit(TrialEnd(group=self.group, trial=number, state=state, value=value, collapsed=collapsed))
        self.on_progress()


def at_epochs(result: TrainResult, epochs: int) -> TrainResult:
    """`result` as of its first `epochs` epochs: a resumed fold whose checkpoint is past the rung being replayed."""
    if len(result.history) <= epochs:
        return result
    return dataclasses.replace(result, history=result.history[:epochs])


def degenerate_labels(folds: list[PreparedData], min_share: float) -> str | None:
    """Why a fold's labels are degenerate (a class rarer than `min_share` in its train or validation part), or None."""
    for data in folds:
        for segment in (data.train, data.val):
            shares = segment.class_counts() / max(len(segment), 1)
            if shares.min() < min_share:
                return (
                    f"degenerate labels: {segment.name} class shares SELL/HOLD/BUY "
                    f"{'/'.join(f'{v:.0%}' for v in shares)}, the rarest below min_class_share {min_share:g}"
                )
    return None


def completed_outcome(
    results: list[TrainResult],
    folds: list[PreparedData],
    metric: str,
    direction: str,
    collapse_precision: float,
    confirm_share: float = 0.0,
) -> TrialOutcome:
    """A trained trial's objective: its folds' mean curve at the best epoch (search/selection.py), and its record."""
    chosen = select([fold_curve(r, d) for r, d in zip(results, folds)], metric, direction, confirm_share)
    final = results[-1].history[chosen.epochs - 1]  # the configured split, at the chosen epoch
    collapsed = final.val_precision < collapse_precision
    attrs: dict[str, Any] = {}
    if results[-1].resumed_from_epoch is not None:
        attrs["resumed_from"] = {"epoch": results[-1].resumed_from_epoch, "batch": results[-1].resumed_from_batch}
    attrs["fold_units"] = trial_fold_units(results, folds, metric, confirm_share)
    attrs.update(
        metrics=final.as_dict(),
        history=[m.as_dict() for m in results[-1].history],
        raw_value=chosen.value,
        collapsed=collapsed,
        selection=chosen.as_dict(),
        units=chosen.units,
        skill_units=chosen.skill_units,
        confirm_units=chosen.confirm_units,
        confirm_skill_units=chosen.confirm_skill_units,
        last_confirm_skill_units=chosen.last_confirm_skill_units,
        train_seconds=sum(m.seconds for r in results for m in r.history),
    )
    warning = (
        (
            f"mode collapse: val precision {final.val_precision:.3f} < {collapse_precision} "
            f"after epoch {chosen.epochs} (flagged, not penalised)"
        )
        if collapsed
        else None
    )
    return TrialOutcome(TrialState.COMPLETE, chosen.value, attrs, warning, collapsed)


def trial_fold_units(
    results: list[TrainResult], folds: list[PreparedData], metric: str, confirm_share: float
) -> FoldUnits:
    """What racing compares: per trained fold, per epoch, the objective on each selection sub-block."""
    return [fold_units(fold_curve(r, d), metric, confirm_share) for r, d in zip(results, folds)]


def fold_curve_priors(data: PreparedData, n_blocks: int, history: list[dict[str, Any]] | None = None) -> FoldCurve:
    """A fold's climatology (training label shares) on its validation part and its `n_blocks` sub-blocks."""
    train, val = data.train.labels, data.val.labels
    return FoldCurve(
        history=history or [],
        prior_loss=prior_cross_entropy(train, val),
        prior_blocks=[prior_cross_entropy(train, val[idx]) for idx in sub_blocks(len(val), n_blocks)],
    )


def fold_curve(result: TrainResult, data: PreparedData) -> FoldCurve:
    """A fold's history with the climatology of its validation part and of the sub-blocks its epochs scored."""
    history = [m.as_dict() for m in result.history]
    blocks = (history[0].get("val_blocks") or {}).get("val_loss", []) if history else []
    return fold_curve_priors(data, len(blocks) or 1, history)


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
