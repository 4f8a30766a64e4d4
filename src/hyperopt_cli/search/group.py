"""One group's Optuna study, driven trial by trial with ask-and-tell.

Ask-and-tell (rather than ``study.optimize``) is what makes stop/resume exact:
- a stopped trial stays RUNNING in storage and a later process finishes it under the same
  number, from its checkpoint, with its reported intermediate values kept;
- the sampler is rebuilt before every ``ask`` with a seed derived from (seed, group,
  trial number), so the points proposed do not depend on how often the process restarted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.config import LabelsConfig, OptimizationConfig, ParamSpec, TrainerConfig, families_for, with_params
from hyperopt_cli.data.prepare import PreparedData
from hyperopt_cli.errors import DivergedError, NoFeaturesError, StopRequested
from hyperopt_cli.faults import fault_point
from hyperopt_cli.run.events import EventSink
from hyperopt_cli.run.rundir import checkpoints_of
from hyperopt_cli.search.sampler import make_sampler
from hyperopt_cli.search.space import sample_params
from hyperopt_cli.search.storage import RunStorage, trial_handle
from hyperopt_cli.search.study_records import (
    GROUP_DONE_ATTR,
    SURPLUS_ATTR,
    direction_for,
    objective_metric,
    parse_group_done,
)
from hyperopt_cli.search.summary import StudySummary, group_is_done, summarize
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
    delete_checkpoint,
    resolve_device,
    train_model,
)

WAIT_POLL_S = 1.0  # how often a worker with nothing to do looks at the study again

log = logging.getLogger("hyperopt_cli")

optuna.logging.set_verbosity(optuna.logging.WARNING)


class PreparerLike(Protocol):
    def prepare(self, labels_cfg: LabelsConfig, families: tuple[str, ...] | None = None) -> PreparedData: ...


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
        direction=direction,
        load_if_exists=True,
        sampler=make_sampler(cfg, group, 0),
        pruner=make_pruner(cfg),
    )


def params_tag(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def penalised(value: float, direction: str) -> float:
    """The collapse penalty: a value never better than `value` in the study's direction.

    Maximising: value - 0.5 * |value| (an F1 of 0.4 becomes 0.2, as the old x0.5 did; a
    trading score of -0.2 becomes -0.3, where x0.5 would have improved it to -0.1).
    Minimising: value + |value| (a loss of 0.8 becomes 1.6, as the old x2 did; -0.2
    becomes 0.0). Both are increasing in `value`, so penalised trials keep their order
    among themselves, and 0 stays 0.
    """
    if direction == "maximize":
        return value - 0.5 * abs(value)
    return value + abs(value)


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


def checkpoint_dir(cfg: OptimizationConfig, run_dir: Path) -> Path:
    return checkpoints_of(run_dir, cfg.checkpoint_dir)


def group_done_record(study: optuna.Study) -> dict[str, Any] | None:
    """The decision that ended a group, as stored on its study (None while it runs)."""
    return parse_group_done(study.user_attrs.get(GROUP_DONE_ATTR))


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
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
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

    # ----------------------------------------------------------------- reading storage

    def trials(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def summary(self) -> StudySummary:
        return summarize(self.group, self.trials(), self.metric, self.direction, self.cfg.convergence_threshold)

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
            record = group_done_record(self.study)
            if record is not None:
                return self._result_from(record)
            trials = self.trials()
            running = sorted((t for t in trials if t.state == TrialState.RUNNING), key=lambda t: t.number)
            beats = heartbeats() if running else {}
            taken = next((t for t in running if claim(self.study, t, self.me, self.cfg, beats, self.run_dir)), None)
            if taken is not None:
                trial = trial_handle(self.study, taken)
                self._run_trial(trial, reported=set(taken.intermediate_values), resumed=True)
                continue
            summary = summarize(self.group, trials, self.metric, self.direction, self.cfg.convergence_threshold)
            done, reason = group_is_done(summary, self.cfg)
            if done and summary.n_running == 0:
                return self._declare_done(summary, reason)
            if self.budget.exhausted():
                return GroupResult(summary, False, "time_budget")
            if done or summary.n_finished + summary.n_running >= self.cfg.max_trials_per_group:
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
        folder = checkpoint_dir(self.cfg, self.run_dir)
        if not folder.is_dir():
            return
        finished = {t.number for t in self.trials() if t.state.is_finished()}
        for path in folder.glob(f"{self.group}_trial*.pt"):
            number = path.stem.rpartition("_trial")[2]
            if number.isdigit() and int(number) in finished:
                delete_checkpoint(path)

    def _checkpoint_path(self, number: int) -> Path:
        return checkpoint_dir(self.cfg, self.run_dir) / f"{self.group}_trial{number:05d}.pt"

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
        if len(earlier) < self.cfg.max_trials_per_group:
            return False
        trial = trial_handle(self.study, next(t for t in self.trials() if t.number == number))
        trial.set_user_attr(SURPLUS_ATTR, True)
        self.study.tell(number, state=TrialState.FAIL)
        return True

    def _declare_done(self, summary: StudySummary, reason: str | None) -> GroupResult:
        record = {"reason": reason, "best_trial": summary.best_trial, "best_value": summary.best_value,
                  "best_params": summary.best_params, "decided_by": self.me.key}
        if group_done_record(self.study) is None:
            self.study.set_user_attr(GROUP_DONE_ATTR, record)
        return self._result_from(group_done_record(self.study) or record)

    def _result_from(self, record: dict[str, Any]) -> GroupResult:
        summary = self.summary()
        best = record.get("best_params", summary.best_params)
        return GroupResult(summary, True, record.get("reason"), dict(best) if best else None)

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
        no_input: TrialOutcome | None = None
        try:  # a features-group trial without an input column (every family off, or constant) FAILs untrained
            data: PreparedData = self.preparer.prepare(
                labels_cfg, families_for(self.cfg, {**self.fixed_params, **params}))
        except NoFeaturesError as exc:
            no_input = TrialOutcome(TrialState.FAIL, warning=f"trial failed: {exc}", attrs={"fail_reason": str(exc)})
        ckpt = self._checkpoint_path(trial.number)
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        if self.fixed_params:
            trial.set_user_attr("fixed_params", self.fixed_params)
        self.current_trial, self.current_epoch = trial.number, None
        self.events.emit("trial_start", group=self.group, trial=trial.number, params=params, resumed=resumed)
        self.on_progress()
        try:
            outcome = no_input or self._train(trial, data, trainer_cfg, params_tag(params), ckpt, reported)
        except TrialAbandoned:  # its new owner continues it (from the checkpoint) and tells it
            self.events.emit("warning", group=self.group, trial=trial.number,
                             message="another worker took this trial over (presumed this one dead); leaving it")
            self.current_trial, self.current_epoch = None, None
            self.on_progress()
            return
        outcome.attrs.setdefault("precision", resolve_precision(trainer_cfg.precision, resolve_device(trainer_cfg.device)))
        for key, value in outcome.attrs.items():
            trial.set_user_attr(key, value)
        if outcome.warning:
            self.events.emit("warning", group=self.group, trial=trial.number, message=outcome.warning)
        self._tell(trial, outcome.value, outcome.state)
        fault_point("after_tell")
        self._finish(trial.number, outcome.state.name, outcome.value, ckpt, collapsed=outcome.collapsed)

    def _train(self, trial: optuna.Trial, data: PreparedData, trainer_cfg: TrainerConfig, tag: str, ckpt: Path,
               reported: set[int]) -> TrialOutcome:
        """Train the trial's configuration; a stop leaves the trial RUNNING and raises StopRequested."""
        hooks = TrainHooks(on_epoch=self._epoch_reporter(trial, reported), should_stop=self.stop_event.is_set,
                           on_warning=lambda message: self.events.emit(
                               "warning", group=self.group, trial=trial.number, message=message))
        started = time.monotonic()
        try:
            result = train_model(
                data, trainer_cfg, self.cfg.model, epochs=self.cfg.epochs_per_trial,
                seed=derive_seed(self.cfg.seed, self.group, trial.number),
                hooks=hooks, checkpoint_path=ckpt, checkpoint_tag=tag,
            )
        except TrainingInterrupted:
            # The checkpoint is written; the trial stays RUNNING for the next process to finish.
            raise StopRequested("stop requested") from None
        except optuna.TrialPruned:
            return TrialOutcome(TrialState.PRUNED, attrs={"train_seconds": time.monotonic() - started})
        except DivergedError as exc:
            return TrialOutcome(TrialState.FAIL, warning=f"trial failed: {exc}",
                                attrs={"fail_reason": str(exc), "train_seconds": time.monotonic() - started})
        return self._completed(result)

    def _completed(self, result: TrainResult) -> TrialOutcome:
        final = result.history[-1]
        raw = float(getattr(final, self.metric))
        collapsed = final.val_precision < self.cfg.collapse_precision
        value = penalised(raw, self.direction) if collapsed else raw
        attrs: dict[str, Any] = {}
        if result.resumed_from_epoch is not None:
            attrs["resumed_from"] = {"epoch": result.resumed_from_epoch, "batch": result.resumed_from_batch}
        attrs.update(metrics=final.as_dict(), history=[m.as_dict() for m in result.history], raw_value=raw,
                     collapsed=collapsed, train_seconds=sum(m.seconds for m in result.history))
        warning = (f"mode collapse: val precision {final.val_precision:.3f} < {self.cfg.collapse_precision}; "
                   f"objective penalised to {value:.4f}") if collapsed else None
        return TrialOutcome(TrialState.COMPLETE, value, attrs, warning, collapsed)

    def _epoch_reporter(self, trial: optuna.Trial, reported: set[int]) -> Callable[[EpochMetrics], None]:
        """The trainer's on_epoch hook: report to the study (once per epoch), emit, and prune."""

        shared = may_share_trials(self.cfg)  # several workers: one may have taken the trial over

        def on_epoch(m: EpochMetrics) -> None:
            if shared and not still_owns(self.study, trial, self.me):
                raise TrialAbandoned(f"trial {trial.number} is no longer this worker's")
            value = float(getattr(m, self.metric))
            replayed = m.epoch in reported  # re-announced from a checkpoint; storage has it already
            if not replayed:
                trial.report(value, m.epoch)
                reported.add(m.epoch)
                fault_point("after_epoch")
            self.current_epoch = m.epoch
            self.events.emit(
                "epoch", group=self.group, trial=trial.number, epoch=m.epoch,
                epochs=self.cfg.epochs_per_trial, value=value, metrics=m.as_dict(), replayed=replayed,
            )
            self.on_progress()
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {m.epoch}")

        return on_epoch

    def _tell(self, trial: optuna.Trial, value: float | None = None, state: TrialState | None = None) -> None:
        """Finish a trial; if another worker already finished it (we were presumed dead), keep theirs."""
        try:
            self.study.tell(trial, value, state=state)
        except optuna.exceptions.UpdateFinishedTrialError:
            self.events.emit("warning", group=self.group, trial=trial.number,
                             message="another worker finished this trial first; keeping its result")

    def _finish(self, number: int, state: str, value: float | None, ckpt: Path, collapsed: bool = False) -> None:
        delete_checkpoint(ckpt)
        self.current_trial, self.current_epoch = None, None
        self.events.emit("trial_end", group=self.group, trial=number, state=state, value=value, collapsed=collapsed)
        self.on_progress()
