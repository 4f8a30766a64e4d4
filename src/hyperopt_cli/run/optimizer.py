"""The run: groups in order, fixed params carried forward, summaries written as it goes.

``HyperparameterOptimizer(cfg, run_dir).optimize(stop_event)`` is the whole tool without
the CLI. The same call starts a new run directory or resumes an existing one: the Optuna
studies say what is done, state.json and results.json only summarise them.

The jobs live in their own modules: checks.py (run directory, config, data), groups.py
(the groups in order), state.py (state.json), local_workers.py, final.py (the final
evaluation), logfile.py (run.log); this class wires them together for one session.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from pathlib import Path
from typing import Any

from hyperopt_cli.config import OptimizationConfig, families_for
from hyperopt_cli.core.errors import HyperoptError, RunStateError, StopRequested
from hyperopt_cli.data.load import load_data
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.evaluation.walkforward import check_blocks
from hyperopt_cli.model.artifact import MODEL_DIR
from hyperopt_cli.run import rundir
from hyperopt_cli.run.checks import check_data, check_storage_is_fresh, init_or_check_run_dir
from hyperopt_cli.run.estimate import seconds_per_epoch
from hyperopt_cli.run.events import EventSink, FanOut, LogSink, NullSink
from hyperopt_cli.run.extend import check_extension, extend_last_group
from hyperopt_cli.run.final import final_evaluation
from hyperopt_cli.run.groups import GroupRunner
from hyperopt_cli.run.local_workers import LocalWorkers
from hyperopt_cli.run.logfile import attached_log
from hyperopt_cli.run.parallel import describe_parallel
from hyperopt_cli.run.records import annotated_verdict, build_results, group_objective, load_run_config
from hyperopt_cli.run.results import FinalResult
from hyperopt_cli.run.run_check import FinalChoice, choose_final
from hyperopt_cli.run.state import GroupsProgress, StateWriter, load_finished_groups, rebuild_state
from hyperopt_cli.run.state_record import EMPTY, read_run_state
from hyperopt_cli.run.symbols import data_label
from hyperopt_cli.search import workers
from hyperopt_cli.search.events import EstimateUpdate, Note, RunEnd, RunStart
from hyperopt_cli.search.group import TimeBudget, open_study

__all__ = ["HyperparameterOptimizer", "check_storage_is_fresh", "load_run_config", "rebuild_state"]


def data_name(cfg: OptimizationConfig) -> str:
    """What the live header calls the data: the file, '3 symbols (A, B, C)', or the synthetic generator's size."""
    return data_label(cfg.data.path) or f"synthetic ({cfg.data.synthetic.n_bars:,} bars)"


class HyperparameterOptimizer:
    """Runs (or resumes) the search of one run directory."""

    def __init__(
        self,
        cfg: OptimizationConfig,
        run_dir: Path,
        events: EventSink | None = None,
        preparer: DataPreparer | None = None,
    ) -> None:
        """`preparer` lets a caller that already loaded and validated the data pass it in."""
        self.cfg = cfg
        self._preparer = preparer
        self.run_dir = Path(run_dir)
        tracking: list[EventSink] = []
        if cfg.use_mlflow:  # here, not in the CLI, so the Python API logs to MLflow too
            from hyperopt_cli.run.tracking import MlflowSink

            tracking.append(MlflowSink(cfg, self.run_dir))
        self.events = FanOut(LogSink(), *tracking, events or NullSink())
        self.job_id = self.run_dir.name
        self._progress = GroupsProgress()
        self._state = StateWriter(cfg, self.run_dir, self._progress)
        self._groups = GroupRunner(cfg, self.run_dir, self.events, self._progress, self._on_progress, self._heartbeats)
        self._workers = LocalWorkers(cfg, self.run_dir, self.events)

    @classmethod
    def from_run_dir(cls, run_dir: Path, events: EventSink | None = None) -> HyperparameterOptimizer:
        return cls(load_run_config(Path(run_dir)), Path(run_dir), events)

    def optimize(self, stop_event: threading.Event | None = None, more_trials: int = 0) -> dict[str, Any]:
        """Run every remaining group, then the final evaluation; returns results.json's content.

        Raises StopRequested (after checkpointing and writing status "paused") when
        `stop_event` is set. `more_trials` N >= 1 first reopens the run's last group for N
        more trials, also on a completed run (run/extend.py).
        """
        stop_event = stop_event or threading.Event()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with rundir.RunLock(self.run_dir), attached_log(self.run_dir):
            try:
                return self._optimize(stop_event, more_trials)
            except StopRequested:
                self._workers.stop()
                self._state.write(
                    "paused", message="stopped by request; resume with: hyperopt resume " + str(self.run_dir)
                )
                self.events.emit(RunEnd(status="paused", message=f"resume with: hyperopt resume {self.run_dir}"))
                raise
            except HyperoptError as exc:
                self._workers.stop()
                self._state.write("failed", message=str(exc))
                raise
            except BaseException as exc:
                self._workers.stop()
                self._state.write("failed", message=f"{type(exc).__name__}: {exc}")
                raise

    def _optimize(self, stop_event: threading.Event, more_trials: int) -> dict[str, Any]:
        cfg, writer = self.cfg, self._state
        check = init_or_check_run_dir(cfg, self.run_dir, self.events, extending=more_trials > 0)
        writer.state = check.state
        if more_trials:
            check_extension(cfg, self.run_dir, writer.state, more_trials)  # before state.json can be written
        preparer = self._preparer or DataPreparer.for_run(load_data(cfg), cfg)
        base = preparer.prepare(cfg.labels, families_for(cfg, {}))  # refuses families with no varying column now
        writer.state = writer.state.updated(data=check_data(cfg, writer.state.data, int(base.info.get("bars", 0))))
        check_blocks(len(base.test), cfg.walk_forward_blocks)  # refuse now, not after hours of trials
        writer.frozen_hash = check.frozen_hash  # state.json is written only from here on
        writer.epoch_guess = seconds_per_epoch(cfg, base)
        budget = writer.budget = TimeBudget(cfg.max_total_time_hours, float(writer.state.elapsed_s or 0.0))
        groups = cfg.groups_to_run()
        writer.state = writer.state.updated(started_at=rundir.now_iso())
        if more_trials:
            extend_last_group(cfg, self.run_dir, more_trials, self.events)
        load_finished_groups(cfg, self.run_dir, self._progress)
        writer.write("running")
        self.events.emit(
            RunStart(
                job_id=self.job_id,
                run_dir=str(self.run_dir),
                mode=cfg.mode,
                groups=tuple(groups),
                time_estimate=writer.state.time_estimate or {},  # just written
                action=check.action,
                pid=os.getpid(),
                max_trials=cfg.max_trials_per_group,
                data=data_name(cfg),
                parallel=describe_parallel(cfg.workers, cfg.trainer.num_threads, cfg.storage_url),
            )
        )
        if workers.uses_shared_coordination(cfg):
            workers.clear_stop(cfg, self.run_dir)
            self._workers.spawn(cfg.workers - 1)
        with self._coordination(stop_event, role="owner"):
            fixed, ended_by_time = self._groups.run(preparer, stop_event, budget)
        self._workers.wait()
        last = groups[-1]
        choice = FinalChoice(fixed, self._progress.epochs.get(last))
        if not ended_by_time:  # the checks against not tuning (run/run_check.py)
            choice = choose_final(cfg, self.run_dir, self._progress.summaries, choice)
            for message in choice.messages():
                self.events.emit(Note(message=message))
        fixed = choice.fixed
        study = open_study(cfg, self.run_dir, last, group_objective(cfg, last)[1])
        final = final_evaluation(
            cfg,
            preparer,
            fixed,
            stop_event,
            study,
            rundir.checkpoints_of(self.run_dir, cfg.checkpoint_dir) / "final.pt",
            self.events,
            model_dir=self.run_dir / MODEL_DIR,
            data_fingerprint=writer.state.data,
            epochs=choice.epochs,
            annotate=functools.partial(annotated_verdict, cfg, self._progress.summaries, fixed),
        )
        results = self._results(final, choice)
        message = "time budget used up" if ended_by_time else "all groups finished"
        writer.write("completed", message=message)
        self.events.emit(RunEnd(status="completed", message=message, results=results))
        return results

    def work(self, stop_event: threading.Event | None = None) -> None:
        """Join the run as an extra worker: take trials of the open group until every group is done.

        Workers share the run through its storage, so the run must use storage_url
        "journal" or a database. The final evaluation is left to the run's owner
        (`hyperopt start`/`resume`).
        """
        cfg = self.cfg
        stop_event = stop_event or threading.Event()
        if not workers.uses_shared_coordination(cfg):
            raise RunStateError(
                f"{self.run_dir} keeps its studies in SQLite files, which take one writer; "
                "start runs that take workers with --set storage_url=journal (or a database URL)"
            )
        if cfg.use_mlflow:
            raise RunStateError(f"{self.run_dir} logs to MLflow, which takes one process per run; no worker can join")
        self._state.owner = False
        with attached_log(self.run_dir), workers.WorkerRegistration(self.run_dir):
            state = read_run_state(self.run_dir) or EMPTY
            preparer = DataPreparer.for_run(load_data(cfg), cfg)
            bars = int(preparer.prepare(cfg.labels).info.get("bars", 0))
            self._state.state = EMPTY.updated(data=check_data(cfg, state.data, bars))
            budget = TimeBudget(cfg.max_total_time_hours, float(state.elapsed_s or 0.0))
            load_finished_groups(cfg, self.run_dir, self._progress)
            self.events.emit(Note(message=f"worker pid {os.getpid()} joined {self.run_dir}"))
            with self._coordination(stop_event, role="worker"):
                self._groups.run(preparer, stop_event, budget)
            self.events.emit(RunEnd(status="worker done", message="every group is finished"))

    def _coordination(self, stop_event: threading.Event, role: str) -> Any:
        """With several workers: this process's heartbeat, which also turns the run's stop flag into `stop_event`."""
        if not workers.uses_shared_coordination(self.cfg):
            return contextlib.nullcontext()

        def where() -> dict[str, Any]:
            group, trial, _ = self._progress.where()
            return {"group": group, "trial": trial, "role": role}

        return workers.Heartbeat(self.cfg, self.run_dir, stop_event, where)

    def _heartbeats(self) -> dict[str, Any]:
        if not workers.uses_shared_coordination(self.cfg):
            return {}
        return workers.heartbeats_of(self.cfg, self.run_dir)

    def _on_progress(self) -> None:
        if self._state.owner and self._state.write_progress("running"):
            self.events.emit(EstimateUpdate(time_estimate=self._state.state.time_estimate))

    def _results(self, final: dict[str, Any] | None, choice: FinalChoice) -> dict[str, Any]:
        results = build_results(
            self.cfg,
            self._progress.summaries,
            self._progress.done,
            choice.fixed,
            FinalResult.from_json(final) if final is not None else None,
            run_check=choice.run_check.as_dict() if choice.run_check else None,
            epoch_check=choice.epoch_check.as_dict() if choice.epoch_check else None,
            job_id=self.job_id,
        ).to_json()
        rundir.write_json(self.run_dir / rundir.RESULTS_FILE, results)
        rundir.write_json(self.run_dir / rundir.BEST_PARAMS_FILE, results["best_params"])
        return results
