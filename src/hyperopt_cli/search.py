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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.config import LabelsConfig, OptimizationConfig, ParamSpec, with_params
from hyperopt_cli.dataset import PreparedData
from hyperopt_cli.errors import DivergedError, StopRequested
from hyperopt_cli.events import EventSink
from hyperopt_cli.rundir import checkpoint_path, storage_url
from hyperopt_cli.search_space import sample_params
from hyperopt_cli.seeding import derive_seed
from hyperopt_cli.summary import StudySummary, direction_for, group_is_done, objective_metric, summarize
from hyperopt_cli.trainer import EpochMetrics, TrainHooks, TrainingInterrupted, delete_checkpoint, train_model

log = logging.getLogger("hyperopt_cli")

optuna.logging.set_verbosity(optuna.logging.WARNING)


class PreparerLike(Protocol):
    def prepare(self, labels_cfg: LabelsConfig) -> PreparedData: ...


def make_sampler(cfg: OptimizationConfig, group: str, trial_number: int) -> optuna.samplers.TPESampler:
    """A TPE sampler whose randomness depends only on (seed, group, trial number).

    The options the search relies on are spelled out, because Optuna 5 changed defaults;
    the prior/endpoint options are deprecated in Optuna 5 and keep their defaults.
    """
    return optuna.samplers.TPESampler(
        n_startup_trials=cfg.n_startup_trials,
        n_ei_candidates=24,
        seed=derive_seed(cfg.seed, "sampler", group, trial_number),
        multivariate=True,  # the parameters inside a group interact (learning rate x batch size)
        group=False,
        constant_liar=False,  # one trial at a time per study
    )


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
        storage=storage_url(run_dir, cfg.study_name, group),
        direction=direction,
        load_if_exists=True,
        sampler=make_sampler(cfg, group, 0),
        pruner=make_pruner(cfg),
    )


def params_tag(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def penalised(value: float, direction: str) -> float:
    """The collapse penalty: F1 x 0.5 when maximising; a minimised loss is doubled instead."""
    return value * 0.5 if direction == "maximize" else value * 2.0


@dataclass
class GroupResult:
    summary: StudySummary
    done: bool
    reason: str | None  # "budget", "converged" or "time_budget"


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

    # ----------------------------------------------------------------- reading storage

    def trials(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def summary(self) -> StudySummary:
        return summarize(self.group, self.trials(), self.metric, self.direction, self.cfg.convergence_threshold)

    # ----------------------------------------------------------------- the loop

    def run(self) -> GroupResult:
        while True:
            if self.stop_event.is_set():
                raise StopRequested("stop requested")
            trials = self.trials()
            orphan = next((t for t in trials if t.state == TrialState.RUNNING), None)
            if orphan is not None:
                # We hold the run's lock, so a RUNNING trial was left by a stopped or dead owner.
                trial = optuna.trial.Trial(self.study, orphan._trial_id)
                self._run_trial(trial, reported=set(orphan.intermediate_values), resumed=True)
                continue
            summary = summarize(self.group, trials, self.metric, self.direction, self.cfg.convergence_threshold)
            done, reason = group_is_done(summary, self.cfg)
            if done:
                return GroupResult(summary, True, reason)
            if self.budget.exhausted():
                return GroupResult(summary, False, "time_budget")
            self.study.sampler = make_sampler(self.cfg, self.group, len(trials))
            trial = self.study.ask()
            self._run_trial(trial, reported=set(), resumed=False)

    def _run_trial(self, trial: optuna.Trial, reported: set[int], resumed: bool) -> None:
        """Train one trial; `reported` holds the epochs whose values storage already has (a resumed trial)."""
        params = sample_params(trial, self.space)
        trainer_cfg, labels_cfg = with_params(self.cfg, {**self.fixed_params, **params})
        data: PreparedData = self.preparer.prepare(labels_cfg)
        ckpt = checkpoint_path(self.run_dir, self.group, trial.number)
        ckpt.parent.mkdir(exist_ok=True)
        self.current_trial, self.current_epoch = trial.number, None
        self.events.emit("trial_start", group=self.group, trial=trial.number, params=params, resumed=resumed)
        self.on_progress()
        started = time.monotonic()

        def on_epoch(m: EpochMetrics) -> None:
            value = float(getattr(m, self.metric))
            replayed = m.epoch in reported  # re-announced from a checkpoint; storage has it already
            if not replayed:
                trial.report(value, m.epoch)
                reported.add(m.epoch)
            self.current_epoch = m.epoch
            self.events.emit(
                "epoch", group=self.group, trial=trial.number, epoch=m.epoch,
                epochs=self.cfg.epochs_per_trial, value=value, metrics=m.as_dict(), replayed=replayed,
            )
            self.on_progress()
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {m.epoch}")

        def on_warning(message: str) -> None:
            self.events.emit("warning", group=self.group, trial=trial.number, message=message)

        hooks = TrainHooks(on_epoch=on_epoch, should_stop=self.stop_event.is_set, on_warning=on_warning)
        seed = derive_seed(self.cfg.seed, self.group, trial.number)
        try:
            result = train_model(
                data, trainer_cfg, self.cfg.model, epochs=self.cfg.epochs_per_trial, seed=seed,
                hooks=hooks, checkpoint_path=ckpt, checkpoint_tag=params_tag(params),
            )
        except TrainingInterrupted:
            # The checkpoint is written; the trial stays RUNNING for the next process to finish.
            raise StopRequested("stop requested") from None
        except optuna.TrialPruned:
            trial.set_user_attr("train_seconds", time.monotonic() - started)
            self.study.tell(trial, state=TrialState.PRUNED)
            self._finish(trial.number, "PRUNED", None, ckpt)
            return
        except DivergedError as exc:
            trial.set_user_attr("fail_reason", str(exc))
            trial.set_user_attr("train_seconds", time.monotonic() - started)
            self.study.tell(trial, state=TrialState.FAIL)
            self.events.emit("warning", group=self.group, trial=trial.number, message=f"trial failed: {exc}")
            self._finish(trial.number, "FAIL", None, ckpt)
            return
        if result.resumed_from_epoch is not None:
            trial.set_user_attr("resumed_from", {"epoch": result.resumed_from_epoch, "batch": result.resumed_from_batch})
        final = result.history[-1]
        raw = float(getattr(final, self.metric))
        collapsed = final.val_precision < self.cfg.collapse_precision
        value = penalised(raw, self.direction) if collapsed else raw
        trial.set_user_attr("metrics", final.as_dict())
        trial.set_user_attr("history", [m.as_dict() for m in result.history])
        trial.set_user_attr("raw_value", raw)
        trial.set_user_attr("collapsed", collapsed)
        trial.set_user_attr("train_seconds", sum(m.seconds for m in result.history))
        if collapsed:
            self.events.emit(
                "warning", group=self.group, trial=trial.number,
                message=f"mode collapse: val precision {final.val_precision:.3f} < {self.cfg.collapse_precision}; "
                f"objective halved to {value:.4f}",
            )
        self.study.tell(trial, value)
        self._finish(trial.number, "COMPLETE", value, ckpt, collapsed=collapsed)

    def _finish(self, number: int, state: str, value: float | None, ckpt: Path, collapsed: bool = False) -> None:
        delete_checkpoint(ckpt)
        self.current_trial, self.current_epoch = None, None
        self.events.emit("trial_end", group=self.group, trial=number, state=state, value=value, collapsed=collapsed)
        self.on_progress()
