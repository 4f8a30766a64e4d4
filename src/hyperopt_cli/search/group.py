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
from dataclasses import dataclass
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
from hyperopt_cli.search.early_stop import EarlyStops
from hyperopt_cli.search.events import EpochEnd, EventSink, GroupKept, RunWarning, TrialEnd, TrialStart
from hyperopt_cli.search.ladder import BUDGET_ATTR, epoch_rungs
from hyperopt_cli.search.outcome import TrialOutcome, at_epochs, completed_outcome, degenerate_labels, fold_curve_priors
from hyperopt_cli.search.sampler import make_sampler
from hyperopt_cli.search.selection import selection_value
from hyperopt_cli.search.space import sample_params
from hyperopt_cli.search.storage import RunStorage, trial_handle
from hyperopt_cli.search.study_records import (
    GROUP_DONE_ATTR,
    SKILL,
    SURPLUS_ATTR,
    TrialLimits,
    direction_for,
    extensions,
    group_done_of,
    objective_metric,
    trial_limits,
)
from hyperopt_cli.search.summary import GuardPolicy, StudySummary, group_is_done, kept_message, summarize
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
from hyperopt_cli.training.precision import resolve_precision
from hyperopt_cli.training.seeding import derive_seed
from hyperopt_cli.training.trainer import (
    EpochMetrics,
    TrainHooks,
    TrainingInterrupted,
    TrainResult,
    Weights,
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
        self.rungs = epoch_rungs(cfg.epochs_per_trial, cfg.rung_min_epochs, cfg.rung_eta)
        self.early = EarlyStops(cfg, self.metric, self.direction, self.rungs, self.trials)

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
        instead of training it again. With `fold_start: warm` a later fold's first rung starts
        from the fold before's model at that rung and trains only the samples it adds.
        """
        started = time.monotonic()
        results: list[TrainResult] = []
        rungs = self.rungs
        warm = self.cfg.fold_start == "warm"
        train_on = [
            fold if k == 0 or not warm else fold.training_added_since(folds[k - 1]) for k, fold in enumerate(folds)
        ]
        starts: list[Weights | None] = [None] * len(folds)
        resumed: TrainResult | None = None  # the last fold's first training in this process: where it resumed
        try:
            for rung, epochs in enumerate(rungs):
                results = []
                for fold in range(len(folds)):
                    hooks = self._fold_hooks(trial, reported, fold, folds, prune=rung == 0)
                    results.append(
                        self._fit_fold(
                            trial.number, fold, train_on, trainer_cfg, model_cfg, epochs, hooks, tag, starts[fold]
                        )
                    )
                    if warm and rung == 0 and fold < len(folds) - 1:
                        starts[fold + 1] = results[-1].model.state_dict()
                    if rung == 0 and fold == len(folds) - 1:
                        resumed = results[-1]
                    raced = self.early.race(trial, results, folds) if rung == 0 and fold < len(folds) - 1 else None
                    if raced is not None:
                        return raced
                if rung < len(rungs) - 1:
                    stopped = self.early.climb(trial, results, folds, rung)
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

    def _fold_hooks(
        self, trial: optuna.Trial, reported: set[int], fold: int, folds: list[PreparedData], prune: bool
    ) -> TrainHooks:
        """What one fold's training reports to: the study's epoch values, the stop request and the run's warnings."""
        return TrainHooks(
            on_epoch=self._epoch_reporter(trial, reported, fold, folds, prune=prune),
            should_stop=self.stop_event.is_set,
            on_warning=lambda message: self.events.emit(
                RunWarning(group=self.group, trial=trial.number, message=message)
            ),
        )

    def _fit_fold(
        self,
        number: int,
        fold: int,
        folds: list[PreparedData],
        trainer_cfg: TrainerConfig,
        model_cfg: ModelConfig,
        epochs: int,
        hooks: TrainHooks,
        tag: str,
        start: Weights | None = None,
    ) -> TrainResult:
        """One fold trained to `epochs` from its checkpoint (else from `start`), read at its best epoch up to there."""
        trained = train_model(
            folds[fold],
            trainer_cfg,
            model_cfg,
            epochs=epochs,
            seed=self._fold_seed(number, fold, len(folds)),
            hooks=hooks,
            checkpoint_path=self._checkpoint_path(number, fold, len(folds)),
            checkpoint_tag=tag,
            initial_weights=start,
        )
        return at_epochs(trained, epochs)

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
