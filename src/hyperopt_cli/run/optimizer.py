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


from hyperopt_cli.run import rundir
from hyperopt_cli.atomic import atomic_write_text
from hyperopt_cli.config import (
    OptimizationConfig,
    config_from_dict,
    config_hash,
    mapping_hash,
    config_to_dict,
    dump_config,
    read_yaml,
    with_params,
)
from hyperopt_cli.data.load import load_data
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.errors import ConfigError, HyperoptError, RunStateError, StopRequested
from hyperopt_cli.run.estimate import estimate_hours, seconds_per_epoch
from hyperopt_cli.run.evaluation import baselines, score_predictions
from hyperopt_cli.run.events import EventSink, FanOut, LogSink, NullSink
from hyperopt_cli.training.metrics import confusion_matrix
from hyperopt_cli.search.group import (
    GroupSearch,
    TimeBudget,
    checkpoint_dir,
    group_done_record,
    open_study,
    params_tag,
)
from hyperopt_cli.search import storage
from hyperopt_cli.search import workers
from hyperopt_cli.search.space import FINE_TUNE, study_space
from hyperopt_cli.training.seeding import derive_seed
from hyperopt_cli.search.summary import StudySummary, direction_for, objective_metric, summarize
from hyperopt_cli.training.trainer import TrainHooks, TrainingInterrupted, delete_checkpoint, predict, train_model

log = logging.getLogger("hyperopt_cli")

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
        tracking: list[EventSink] = []
        if cfg.use_mlflow:  # here, not in the CLI, so the Python API logs to MLflow too
            from hyperopt_cli.tracking import MlflowSink

            tracking.append(MlflowSink(cfg, self.run_dir))
        self.events = FanOut(LogSink(), *tracking, events or NullSink())
        self.job_id = self.run_dir.name
        self._state: dict[str, Any] = {}
        self._summaries: dict[str, StudySummary] = {}
        self._done: dict[str, str] = {}  # group -> reason it ended
        self._current: GroupSearch | None = None
        self._epoch_guess = 0.0
        self._budget: TimeBudget | None = None
        self._best: dict[str, dict[str, Any] | None] = {}  # group -> params frozen when it was declared done
        self._children: list[Any] = []  # local worker processes this owner started
        self._role = "owner"
        self._frozen_hash = ""  # hash of config.yaml as written at the run's start

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
                self._stop_workers()
                self._write_state("paused", message="stopped by request; resume with: hyperopt resume " + str(self.run_dir))
                self.events.emit("run_end", status="paused", message=f"resume with: hyperopt resume {self.run_dir}")
                raise
            except HyperoptError as exc:
                self._stop_workers()
                self._write_state("failed", message=str(exc))
                raise
            except BaseException as exc:
                self._stop_workers()
                self._write_state("failed", message=f"{type(exc).__name__}: {exc}")
                raise
            finally:
                log.removeHandler(handler)
                handler.close()

    # ------------------------------------------------------------------ the run

    def _optimize(self, stop_event: threading.Event) -> dict[str, Any]:
        cfg = self.cfg
        action = self._init_or_check_run_dir()
        frozen, self._frozen_hash = self._frozen_hash, ""  # no state writes until the data checks out
        preparer = self._preparer or DataPreparer(load_data(cfg), cfg.data)
        base = preparer.prepare(cfg.labels)
        self._check_data(int(base.info.get("bars", 0)))
        self._frozen_hash = frozen
        self._epoch_guess = seconds_per_epoch(cfg, base)
        self._budget = TimeBudget(cfg.max_total_time_hours, float(self._state.get("elapsed_s", 0.0)))
        groups = cfg.groups_to_run()
        self._state["started_at"] = rundir.now_iso()
        self._load_finished_groups(groups)
        self._write_state("running")
        self.events.emit(
            "run_start", job_id=self.job_id, run_dir=str(self.run_dir), mode=cfg.mode, groups=list(groups),
            time_estimate=self._state["time_estimate"], action=action, pid=os.getpid(),
            max_trials=cfg.max_trials_per_group,
        )
        if workers.uses_shared_coordination(cfg):
            workers.clear_stop(cfg, self.run_dir)
            self._spawn_workers(cfg.workers - 1)
        with self._coordination(stop_event):
            fixed, ended_by_time = self._run_groups(groups, preparer, stop_event)
        self._wait_workers()
        final = self._final_evaluation(preparer, fixed, groups[-1], stop_event)
        results = self._results(final, fixed)
        message = "time budget used up" if ended_by_time else "all groups finished"
        self._write_state("completed", message=message)
        self.events.emit("run_end", status="completed", message=message, results=results)
        return results

    def _run_groups(self, groups: tuple[str, ...], preparer: DataPreparer,
                    stop_event: threading.Event) -> tuple[dict[str, Any], bool]:
        """Every group in order (finished ones skipped); returns the fixed params and whether time ran out."""
        cfg = self.cfg
        fixed: dict[str, Any] = {}
        for group in groups:
            if group in self._done:
                summary = self._summaries[group]
                best = self._best.get(group)
                fixed.update(best or {})
                self._emit_group_start(summary)
                self.events.emit("group_end", group=group, reason=self._done[group], best_value=summary.best_value,
                                 best_params=best)
                continue
            search = GroupSearch(
                cfg, self.run_dir, group, self._space(group), fixed, preparer, self.events, stop_event,
                self._budget or TimeBudget(cfg.max_total_time_hours, 0.0), on_progress=self._on_progress,
            )
            self._current = search
            self._summaries[group] = search.summary()
            self._emit_group_start(self._summaries[group])
            result = search.run(heartbeats=self._heartbeats)
            self._summaries[group] = result.summary
            self._current = None
            if not result.done:
                self.events.emit("warning", message=f"time budget of {cfg.max_total_time_hours} h used up during {group}")
                return fixed, True
            self._done[group] = result.reason or "budget"
            self._best[group] = result.best_params
            fixed.update(result.best_params or {})
            if result.best_params is None:
                self.events.emit("warning", group=group, message="no trial completed; later groups keep the defaults")
            self.events.emit(
                "group_end", group=group, reason=result.reason, best_value=result.summary.best_value,
                best_params=result.best_params,
            )
            self._on_progress()
        return fixed, False

    # ------------------------------------------------------------------ several workers

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
        self._role = "worker"
        handler = self._attach_log()
        try:
            with workers.WorkerRegistration(self.run_dir):
                state = rundir.read_json(self.run_dir / rundir.STATE_FILE) or {}
                self._state = {"data": state.get("data")}
                preparer = DataPreparer(load_data(cfg), cfg.data)
                self._check_data(int(preparer.prepare(cfg.labels).info.get("bars", 0)))
                self._budget = TimeBudget(cfg.max_total_time_hours, float(state.get("elapsed_s", 0.0)))
                self._load_finished_groups(cfg.groups_to_run())
                self.events.emit("warning", message=f"worker pid {os.getpid()} joined {self.run_dir}")
                with self._coordination(stop_event):
                    self._run_groups(cfg.groups_to_run(), preparer, stop_event)
                self.events.emit("run_end", status="worker done", message="every group is finished")
        finally:
            log.removeHandler(handler)
            handler.close()

    def _coordination(self, stop_event: threading.Event) -> Any:
        import contextlib

        if not workers.uses_shared_coordination(self.cfg):
            return contextlib.nullcontext()
        return workers.Heartbeat(self.cfg, self.run_dir, stop_event, self._where)

    def _where(self) -> dict[str, Any]:
        current = self._current
        return {"group": current.group if current else None, "trial": current.current_trial if current else None,
                "role": self._role}

    def _heartbeats(self) -> dict[str, Any]:
        if not workers.uses_shared_coordination(self.cfg):
            return {}
        return workers.heartbeats_of(self.cfg, self.run_dir)

    def _spawn_workers(self, n: int) -> None:
        import subprocess
        import sys

        log_dir = self.run_dir / workers.WORKERS_DIR
        log_dir.mkdir(exist_ok=True)
        for i in range(n):
            out = open(log_dir / f"worker-{i + 1}.log", "ab")
            self._children.append(subprocess.Popen(
                [sys.executable, "-m", "hyperopt_cli", "worker", str(self.run_dir)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            ))
            out.close()
        if n:
            self.events.emit("warning", message=f"started {n} local worker process(es): "
                             + ", ".join(str(c.pid) for c in self._children))

    def _wait_workers(self) -> None:
        for child in self._children:
            child.wait()
        self._children.clear()

    def _stop_workers(self) -> None:
        """On the owner's stop or failure: tell every worker (local and remote) through the storage."""
        if not workers.uses_shared_coordination(self.cfg) or self._role != "owner":
            return
        try:
            workers.request_stop(self.cfg, self.run_dir)
        except Exception as exc:  # the owner's own stop must still complete
            log.warning("could not set the stop flag in the storage: %s", exc)
        import signal as _signal

        for child in self._children:
            if child.poll() is None:
                child.send_signal(_signal.SIGTERM)
        for child in self._children:
            try:
                child.wait(timeout=30)
            except Exception:
                child.kill()
        self._children.clear()

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
            check_storage_is_fresh(self.cfg, self.run_dir)
            atomic_write_text(config_file, dump_config(self.cfg))
            self._frozen_hash = mapping_hash(read_yaml(config_file))
            self._state = {"created_at": rundir.now_iso(), "sessions": 1, "elapsed_s": 0.0}
            return "started"
        # The hash is of config.yaml as written at start, so a newer version that adds
        # config keys (with defaults) still resumes runs started by an older one.
        on_disk = read_yaml(config_file)
        frozen = mapping_hash(on_disk)
        if config_hash(config_from_dict(on_disk)) != config_hash(self.cfg):
            raise RunStateError(f"{config_file} differs from the config this optimizer was given")
        state = rundir.read_json(self.run_dir / rundir.STATE_FILE)
        if state is None or "config_hash" not in state:
            self.events.emit("warning", message="state.json was missing or corrupt; rebuilt from config.yaml and the studies")
            state = rebuild_state(self.run_dir, self.cfg)
        elif state["config_hash"] != frozen:
            shown = {**on_disk, "storage_url": storage.mask_url(on_disk.get("storage_url"))}
            changes = config_changes(state.get("config", {}), shown)
            raise RunStateError(
                f"{config_file} was edited since the run started ({'; '.join(changes) or 'hash differs'}); "
                "restore it or start a new run"
            )
        if state.get("status") == "completed":
            raise RunStateError(f"{self.run_dir} is already completed; see: hyperopt results {self.run_dir}")
        self._state = state
        self._state["sessions"] = int(state.get("sessions", 0)) + 1
        self._frozen_hash = frozen
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
            if not storage.study_exists(self.cfg, self.run_dir, group):
                continue
            summary, record = read_group(self.cfg, self.run_dir, group)
            self._summaries[group] = summary
            if record is not None:
                self._done[group] = record.get("reason") or "budget"
                self._best[group] = record.get("best_params", summary.best_params)

    def _attach_log(self) -> logging.Handler:
        handler = logging.FileHandler(self.run_dir / rundir.LOG_FILE, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        return handler

    # ------------------------------------------------------------------ summaries

    def _on_progress(self) -> None:
        if self._role == "owner":
            self._write_state("running")
            self.events.emit("estimate", time_estimate=self._state.get("time_estimate"))

    def _write_state(self, status: str, message: str | None = None) -> None:
        """Write state.json from what storage says now (a few ms: once per epoch and per trial).

        Nothing is written before this session has checked the run directory: a resume
        refused for an edited config or changed data leaves state.json as it was.
        """
        if self._role != "owner" or not self._frozen_hash:
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
            config_hash=self._frozen_hash,
            config=masked_config(self.cfg),
            storage=storage.mask_url(self.cfg.storage_url) or "sqlite files",
            updated_at=rundir.now_iso(),
        )
        if workers.uses_shared_coordination(self.cfg):
            try:
                state["workers"] = workers.describe_workers(self.cfg, self.run_dir)
            except Exception as exc:  # status is a summary; a storage hiccup must not stop the run
                log.warning("could not read worker heartbeats: %s", exc)
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
            status = "running" if self._state.get("status") == "running" else "paused"
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
        ckpt = checkpoint_dir(cfg, self.run_dir) / "final.pt"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
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


def read_group(cfg: OptimizationConfig, run_dir: Path, group: str) -> tuple[StudySummary, dict[str, Any] | None]:
    """A group's summary and the record that ended it (None while unfinished), from its study alone."""
    from hyperopt_cli.search.space import study_space as space_of

    names = list(space_of(cfg, group)) if group != FINE_TUNE else ["threshold"]
    metric = objective_metric(cfg, names)
    direction = direction_for(cfg, metric)
    study = storage.load_study(cfg, run_dir, group)
    trials = study.get_trials(deepcopy=False)
    summary = summarize(group, trials, metric, direction, cfg.convergence_threshold)
    return summary, group_done_record(study)


def check_storage_is_fresh(cfg: OptimizationConfig, run_dir: Path) -> None:
    """A new run must not adopt another run's studies in a shared database."""
    if not storage.is_shared_database(cfg):
        return
    taken = [g for g in (*cfg.groups_to_run(), storage.CONTROL) if storage.study_exists(cfg, run_dir, g)]
    if taken:
        raise RunStateError(
            f"study {cfg.study_name}_{taken[0]} already exists in {storage.mask_url(cfg.storage_url)}; "
            "give this run its own study_name (--set study_name=...)"
        )


def masked_config(cfg: OptimizationConfig) -> dict[str, Any]:
    out = config_to_dict(cfg)
    out["storage_url"] = storage.mask_url(cfg.storage_url)
    return out


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
        if not storage.study_exists(cfg, run_dir, group):
            continue
        summary, record = read_group(cfg, run_dir, group)
        summaries[group] = summary
        if record is not None:
            done[group] = record.get("reason") or "budget"
            fixed.update(record.get("best_params", summary.best_params) or {})
    if groups[-1] in summaries:
        final = storage.load_study(cfg, run_dir, groups[-1]).user_attrs.get(FINAL_ATTR)
    completed = final is not None
    elapsed = sum(s.duration_s for s in summaries.values())
    current = next((g for g in groups if g not in done), None)
    return {
        "status": "completed" if completed else "paused",
        "job_id": run_dir.name,
        "mode": cfg.mode,
        "pid": None,
        "config_hash": mapping_hash(read_yaml(run_dir / rundir.CONFIG_FILE)),
        "config": masked_config(cfg),
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
