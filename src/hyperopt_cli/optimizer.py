"""The run: groups in order, fixed params carried forward, summaries written as it goes.

``HyperparameterOptimizer(cfg, run_dir).optimize(stop_event)`` is the whole tool without
the CLI. The same call starts a new run directory or resumes an existing one: the Optuna
studies say what is done, state.json and results.json only summarise them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import optuna

from hyperopt_cli import rundir
from hyperopt_cli.atomic import atomic_write_text
from hyperopt_cli.config import (
    OptimizationConfig,
    config_from_dict,
    config_hash,
    config_to_dict,
    dump_config,
    read_yaml,
    with_params,
)
from hyperopt_cli.data import load_data
from hyperopt_cli.dataset import DataPreparer
from hyperopt_cli.errors import ConfigError, HyperoptError, RunStateError, StopRequested
from hyperopt_cli.estimate import estimate_hours, seconds_per_epoch
from hyperopt_cli.evaluation import baselines, score_predictions
from hyperopt_cli.events import EventSink, FanOut, LogSink, NullSink
from hyperopt_cli.metrics import confusion_matrix
from hyperopt_cli.search import GroupSearch, TimeBudget, open_study, params_tag
from hyperopt_cli.search_space import FINE_TUNE, study_space
from hyperopt_cli.seeding import derive_seed
from hyperopt_cli.summary import StudySummary, direction_for, objective_metric, summarize
from hyperopt_cli.trainer import TrainHooks, TrainingInterrupted, delete_checkpoint, predict, train_model

log = logging.getLogger("hyperopt_cli")

GROUP_DONE_ATTR = "group_done"
FINAL_ATTR = "final_evaluation"
CENTER_ATTR = "fine_tune_center"


def load_run_config(run_dir: Path) -> OptimizationConfig:
    path = run_dir / rundir.CONFIG_FILE
    if not path.is_file():
        raise RunStateError(f"{run_dir} is not a run directory: {rundir.CONFIG_FILE} not found")
    try:
        return config_from_dict(read_yaml(path), origin=str(path))
    except ConfigError as exc:
        raise RunStateError(f"cannot resume: {exc}") from None


def config_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config mappings, with old -> new values."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return changes


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class HyperparameterOptimizer:
    """Runs (or resumes) the search of one run directory."""

    def __init__(
        self, cfg: OptimizationConfig, run_dir: Path, events: EventSink | None = None, preparer: DataPreparer | None = None
    ) -> None:
        """`preparer` lets a caller that already loaded and validated the data pass it in."""
        self.cfg = cfg
        self._preparer = preparer
        self.run_dir = Path(run_dir)
        self.events = FanOut(LogSink(), events or NullSink())
        self.job_id = self.run_dir.name
        self._state: dict[str, Any] = {}
        self._summaries: dict[str, StudySummary] = {}
        self._done: dict[str, str] = {}  # group -> reason it ended
        self._current: GroupSearch | None = None
        self._epoch_guess = 0.0
        self._budget: TimeBudget | None = None
        self._last_state_write = 0.0

    @classmethod
    def from_run_dir(cls, run_dir: Path, events: EventSink | None = None) -> HyperparameterOptimizer:
        return cls(load_run_config(Path(run_dir)), Path(run_dir), events)

    # ------------------------------------------------------------------ public

    def optimize(self, stop_event: threading.Event | None = None) -> dict[str, Any]:
        """Run every remaining group, then the final evaluation; returns results.json's content.

        Raises StopRequested (after checkpointing and writing status "paused") when
        `stop_event` is set.
        """
        stop_event = stop_event or threading.Event()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with rundir.RunLock(self.run_dir):
            handler = self._attach_log()
            try:
                return self._optimize(stop_event)
            except StopRequested:
                self._write_state("paused", message="stopped by request; resume with: hyperopt resume " + str(self.run_dir))
                self.events.emit("run_end", status="paused", message=f"resume with: hyperopt resume {self.run_dir}")
                raise
            except HyperoptError as exc:
                self._write_state("failed", message=str(exc))
                raise
            except BaseException as exc:
                self._write_state("failed", message=f"{type(exc).__name__}: {exc}")
                raise
            finally:
                log.removeHandler(handler)
                handler.close()

    # ------------------------------------------------------------------ the run

    def _optimize(self, stop_event: threading.Event) -> dict[str, Any]:
        cfg = self.cfg
        action = self._init_or_check_run_dir()
        preparer = self._preparer or DataPreparer(load_data(cfg), cfg.data)
        base = preparer.prepare(cfg.labels)
        self._check_data(int(base.info.get("bars", 0)))
        self._epoch_guess = seconds_per_epoch(cfg, base)
        self._budget = TimeBudget(cfg.max_total_time_hours, float(self._state.get("elapsed_s", 0.0)))
        groups = cfg.groups_to_run()
        self._state["started_at"] = rundir.now_iso()
        self._load_finished_groups(groups)
        self._write_state("running", force=True)
        self.events.emit(
            "run_start", job_id=self.job_id, run_dir=str(self.run_dir), mode=cfg.mode, groups=list(groups),
            time_estimate=self._state["time_estimate"], action=action, pid=os.getpid(),
            max_trials=cfg.max_trials_per_group,
        )
        fixed: dict[str, Any] = {}
        ended_by_time = False
        for group in groups:
            if group in self._done:
                summary = self._summaries[group]
                fixed.update(summary.best_params or {})
                self._emit_group_start(summary)
                self.events.emit("group_end", group=group, reason=self._done[group], best_value=summary.best_value,
                                 best_params=summary.best_params)
                continue
            search = GroupSearch(
                cfg, self.run_dir, group, self._space(group), fixed, preparer, self.events, stop_event,
                self._budget, on_progress=self._write_state_throttled,
            )
            self._current = search
            summary = search.summary()
            self._summaries[group] = summary
            self._emit_group_start(summary)
            result = search.run()
            self._summaries[group] = result.summary
            self._current = None
            if not result.done:
                ended_by_time = True
                self.events.emit("warning", message=f"time budget of {cfg.max_total_time_hours} h used up during {group}")
                break
            search.study.set_user_attr(GROUP_DONE_ATTR, result.reason)
            self._done[group] = result.reason or "budget"
            fixed.update(result.summary.best_params or {})
            if result.summary.best_params is None:
                self.events.emit("warning", group=group, message="no trial completed; later groups keep the defaults")
            self.events.emit(
                "group_end", group=group, reason=result.reason, best_value=result.summary.best_value,
                best_params=result.summary.best_params,
            )
            self._write_state("running", force=True)
        final = self._final_evaluation(preparer, fixed, groups[-1], stop_event)
        results = self._results(final, fixed)
        message = "time budget used up" if ended_by_time else "all groups finished"
        self._write_state("completed", message=message, force=True)
        self.events.emit("run_end", status="completed", message=message, results=results)
        return results

    def _emit_group_start(self, summary: StudySummary) -> None:
        self.events.emit(
            "group_start", group=summary.group, finished=summary.n_finished, direction=summary.direction,
            complete=summary.n_complete, pruned=summary.n_pruned, failed=summary.n_failed,
            best_value=summary.best_value, best_params=summary.best_params,
        )

    def _space(self, group: str) -> dict[str, Any]:
        if group != FINE_TUNE:
            return study_space(self.cfg, group)
        return study_space(self.cfg, group, center=self._fine_tune_center())

    def _fine_tune_center(self) -> dict[str, Any]:
        """Best params of the run named by fine_tune_from, frozen into the study at its first start."""
        cfg = self.cfg
        metric = objective_metric(cfg, ["threshold"])
        study = open_study(cfg, self.run_dir, FINE_TUNE, direction_for(cfg, metric))
        center = study.user_attrs.get(CENTER_ATTR)
        if center is None:
            source = Path(cfg.fine_tune_from or "")
            results = rundir.read_json(source / rundir.RESULTS_FILE)
            if not results or not results.get("best_params"):
                raise RunStateError(
                    f"fine_tune_from={source}: no results.json with best_params there; finish a full run first"
                )
            center = results["best_params"]
            study.set_user_attr(CENTER_ATTR, center)
        return dict(center)

    # ------------------------------------------------------------------ run dir

    def _init_or_check_run_dir(self) -> str:
        """Write config.yaml for a new run, or check a resumed run's config; returns 'started'/'resumed'."""
        config_file = self.run_dir / rundir.CONFIG_FILE
        if not config_file.exists():
            atomic_write_text(config_file, dump_config(self.cfg))
            self._state = {"created_at": rundir.now_iso(), "sessions": 0, "elapsed_s": 0.0}
            self._state["sessions"] = 1
            return "started"
        on_disk = read_yaml(config_file)
        if config_hash(config_from_dict(on_disk)) != config_hash(self.cfg):
            raise RunStateError(f"{config_file} differs from the config this optimizer was given")
        state = rundir.read_json(self.run_dir / rundir.STATE_FILE)
        if state is None or "config_hash" not in state:
            self.events.emit("warning", message="state.json was missing or corrupt; rebuilt from config.yaml and the studies")
            state = rebuild_state(self.run_dir, self.cfg)
        elif state["config_hash"] != config_hash(self.cfg):
            changes = config_changes(state.get("config", {}), config_to_dict(self.cfg))
            raise RunStateError(
                f"{config_file} was edited since the run started ({'; '.join(changes) or 'hash differs'}); "
                "restore it or start a new run"
            )
        if state.get("status") == "completed":
            raise RunStateError(f"{self.run_dir} is already completed; see: hyperopt results {self.run_dir}")
        self._state = state
        self._state["sessions"] = int(state.get("sessions", 0)) + 1
        return "resumed"

    def _check_data(self, n_bars: int) -> None:
        path = self.cfg.data.path
        fingerprint = {"path": path, "bars": n_bars, "sha256": file_sha256(Path(path)) if path else None}
        known = self._state.get("data")
        if known and known.get("sha256") and known != fingerprint:
            raise RunStateError(
                f"data file {path} changed since the run started (sha256 {known['sha256'][:12]} -> "
                f"{str(fingerprint['sha256'])[:12]}, bars {known.get('bars')} -> {fingerprint['bars']}); "
                "restore it or start a new run"
            )
        self._state["data"] = fingerprint

    def _load_finished_groups(self, groups: tuple[str, ...]) -> None:
        for group in groups:
            db = rundir.study_db_path(self.run_dir, self.cfg.study_name, group)
            if not db.exists():
                continue
            summary, reason = read_group(self.cfg, self.run_dir, group)
            self._summaries[group] = summary
            if reason is not None:
                self._done[group] = reason

    def _attach_log(self) -> logging.Handler:
        handler = logging.FileHandler(self.run_dir / rundir.LOG_FILE, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        return handler

    # ------------------------------------------------------------------ summaries

    def _write_state_throttled(self) -> None:
        self._write_state("running")

    def _write_state(self, status: str, message: str | None = None, force: bool = True) -> None:
        """Write state.json from what storage says now (a few ms: once per epoch and per trial)."""
        if not self.cfg or not (self.run_dir / rundir.CONFIG_FILE).exists():
            return
        if self._current is not None:
            self._summaries[self._current.group] = self._current.summary()
        now = time.monotonic()
        state = self._state
        state.update(
            status=status,
            job_id=self.job_id,
            mode=self.cfg.mode,
            pid=os.getpid(),
            config_hash=config_hash(self.cfg),
            config=config_to_dict(self.cfg),
            updated_at=rundir.now_iso(),
        )
        if self._budget is not None:
            state["elapsed_s"] = round(self._budget.elapsed(), 3)
        if message is not None:
            state["message"] = message
        if status in ("completed", "failed"):
            state["finished_at"] = rundir.now_iso()
        groups = self.cfg.groups_to_run()
        state["progress"] = {
            "current_group": self._current.group if self._current else None,
            "current_trial": self._current.current_trial if self._current else None,
            "current_epoch": self._current.current_epoch if self._current else None,
            "epochs_per_trial": self.cfg.epochs_per_trial,
            "groups_completed": [g for g in groups if g in self._done],
        }
        state["groups"] = {g: self._group_row(g) for g in groups}
        state["time_estimate"] = self._time_estimate(groups)
        rundir.write_json(self.run_dir / rundir.STATE_FILE, state)
        self._last_state_write = now

    def _group_row(self, group: str) -> dict[str, Any]:
        summary = self._summaries.get(group)
        if group in self._done:
            status = "completed"
        elif self._current is not None and self._current.group == group:
            status = "running"
        else:
            status = "pending" if summary is None or summary.n_finished == 0 else "paused"
        row: dict[str, Any] = {"status": status, "reason": self._done.get(group), "max_trials": self.cfg.max_trials_per_group}
        row.update(summary.as_dict() if summary else {})
        return row

    def _time_estimate(self, groups: tuple[str, ...]) -> dict[str, Any]:
        total = self.cfg.max_trials_per_group * len(groups)
        finished = sum(
            self.cfg.max_trials_per_group if g in self._done else (self._summaries[g].n_finished if g in self._summaries else 0)
            for g in groups
        )
        measured = [s for g in groups if g in self._summaries for s in self._summaries[g].trial_seconds]
        remaining = max(0, total - finished)
        hours = estimate_hours(remaining, self.cfg.epochs_per_trial, measured, self._epoch_guess)
        eta = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours)
        return {
            "estimated_hours": round(hours + float(self._state.get("elapsed_s", 0.0)) / 3600.0, 4),
            "remaining_hours": round(hours, 4),
            "total_trials": total,
            "remaining_trials": remaining,
            "eta": eta.isoformat(timespec="seconds"),
            "based_on": "measured trials" if measured else "timed batches",
        }

    # ------------------------------------------------------------------ final evaluation

    def _final_evaluation(self, preparer: DataPreparer, fixed: dict[str, Any], last_group: str,
                          stop_event: threading.Event) -> dict[str, Any]:
        cfg = self.cfg
        metric = objective_metric(cfg, list(self._space(last_group)))
        study = open_study(cfg, self.run_dir, last_group, direction_for(cfg, metric))
        existing = study.user_attrs.get(FINAL_ATTR)
        if existing is not None and existing.get("params_tag") == params_tag(fixed):
            return dict(existing)
        trainer_cfg, labels_cfg = with_params(cfg, fixed)
        data = preparer.prepare(labels_cfg)
        self.events.emit("evaluation", message=f"training with the best params ({len(fixed)} fixed) and scoring the test segment")
        ckpt = self.run_dir / rundir.CHECKPOINT_DIR / "final.pt"
        ckpt.parent.mkdir(exist_ok=True)
        hooks = TrainHooks(should_stop=stop_event.is_set)
        try:
            result = train_model(
                data, trainer_cfg, cfg.model, epochs=cfg.epochs_per_trial, seed=derive_seed(cfg.seed, "final"),
                hooks=hooks, checkpoint_path=ckpt, checkpoint_tag=params_tag(fixed),
            )
        except TrainingInterrupted:
            raise StopRequested("stop requested") from None
        pred, _ = predict(result.model, data.test, trainer_cfg.eval_batch_size, next(result.model.parameters()).device)
        final = {
            "params_tag": params_tag(fixed),
            "test_metrics": score_predictions(data.test, pred),
            "validation_metrics": result.history[-1].as_dict(),
            "baselines": baselines(data, cfg.seed),
            "test_range": [str(data.test.timestamps[0]), str(data.test.timestamps[-1])] if len(data.test) else None,
            # rows: true SELL/HOLD/BUY, columns: predicted; for the report
            "confusion_matrices": {
                "val": confusion_matrix(data.val.labels, result.val_pred).tolist(),
                "test": confusion_matrix(data.test.labels, pred).tolist(),
            },
        }
        study.set_user_attr(FINAL_ATTR, final)
        delete_checkpoint(ckpt)
        t = final["test_metrics"]
        best_base = max(final["baselines"].items(), key=lambda kv: kv[1]["macro_f1"])
        self.events.emit(
            "evaluation",
            message=f"test macro-F1 {t['macro_f1']:.4f} vs best baseline {best_base[0]} {best_base[1]['macro_f1']:.4f}",
        )
        return final

    def _results(self, final: dict[str, Any] | None, fixed: dict[str, Any]) -> dict[str, Any]:
        results = build_results(self.cfg, self._summaries, self._done, fixed, final)
        results["job_id"] = self.job_id
        rundir.write_json(self.run_dir / rundir.RESULTS_FILE, results)
        rundir.write_json(self.run_dir / rundir.BEST_PARAMS_FILE, results["best_params"])
        return results


# ---------------------------------------------------------------------- rebuilding


def read_group(cfg: OptimizationConfig, run_dir: Path, group: str) -> tuple[StudySummary, str | None]:
    """A group's summary and the reason it ended (None while unfinished), from its DB alone."""
    from hyperopt_cli.search_space import study_space as space_of

    names = list(space_of(cfg, group)) if group != FINE_TUNE else ["threshold"]
    metric = objective_metric(cfg, names)
    direction = direction_for(cfg, metric)
    study = optuna.load_study(study_name=f"{cfg.study_name}_{group}", storage=rundir.storage_url(run_dir, cfg.study_name, group))
    trials = study.get_trials(deepcopy=False)
    summary = summarize(group, trials, metric, direction, cfg.convergence_threshold)
    return summary, study.user_attrs.get(GROUP_DONE_ATTR)


def build_results(cfg: OptimizationConfig, summaries: dict[str, StudySummary], done: dict[str, str],
                  fixed: dict[str, Any], final: dict[str, Any] | None) -> dict[str, Any]:
    groups = cfg.groups_to_run()
    finished = [g for g in groups if g in done]
    last = summaries.get(finished[-1]) if finished else None
    trainer_cfg, labels_cfg = with_params(cfg, fixed)
    return {
        "job_id": None,
        "mode": cfg.mode,
        "best_params": dict(fixed),
        "best_value": last.best_value if last else None,
        "best_value_metric": last.metric if last else None,
        "fixed_params": dict(fixed),
        "resolved_params": {"trainer": dataclasses.asdict(trainer_cfg), "labels": dataclasses.asdict(labels_cfg)},
        "group_results": {
            g: {**summaries[g].as_dict(), "completed": g in done, "converged": done.get(g) == "converged", "reason": done.get(g)}
            for g in groups
            if g in summaries
        },
        "test_metrics": final.get("test_metrics") if final else None,
        "validation_metrics": final.get("validation_metrics") if final else None,
        "baselines": final.get("baselines") if final else None,
        "test_range": final.get("test_range") if final else None,
    }


def rebuild_state(run_dir: Path, cfg: OptimizationConfig | None = None) -> dict[str, Any]:
    """state.json's content rebuilt from config.yaml and the studies (status: paused or completed).

    Elapsed time is approximated by the summed training time of the finished trials.
    """
    cfg = cfg or load_run_config(run_dir)
    summaries: dict[str, StudySummary] = {}
    done: dict[str, str] = {}
    fixed: dict[str, Any] = {}
    final = None
    groups = cfg.groups_to_run()
    for group in groups:
        if not rundir.study_db_path(run_dir, cfg.study_name, group).exists():
            continue
        summary, reason = read_group(cfg, run_dir, group)
        summaries[group] = summary
        if reason is not None:
            done[group] = reason
            fixed.update(summary.best_params or {})
    if groups[-1] in summaries:
        study = optuna.load_study(
            study_name=f"{cfg.study_name}_{groups[-1]}", storage=rundir.storage_url(run_dir, cfg.study_name, groups[-1])
        )
        final = study.user_attrs.get(FINAL_ATTR)
    completed = final is not None
    elapsed = sum(s.duration_s for s in summaries.values())
    current = next((g for g in groups if g not in done), None)
    return {
        "status": "completed" if completed else "paused",
        "job_id": run_dir.name,
        "mode": cfg.mode,
        "pid": None,
        "config_hash": config_hash(cfg),
        "config": config_to_dict(cfg),
        "rebuilt_at": rundir.now_iso(),
        "elapsed_s": elapsed,
        "sessions": 0,
        "progress": {
            "current_group": None if completed else current,
            "current_trial": None,
            "current_epoch": None,
            "epochs_per_trial": cfg.epochs_per_trial,
            "groups_completed": [g for g in groups if g in done],
        },
        "groups": {
            g: {"status": "completed" if g in done else ("paused" if g in summaries else "pending"),
                "reason": done.get(g), "max_trials": cfg.max_trials_per_group,
                **(summaries[g].as_dict() if g in summaries else {})}
            for g in groups
        },
        "results": {**build_results(cfg, summaries, done, fixed, final), "job_id": run_dir.name} if completed else None,
    }
