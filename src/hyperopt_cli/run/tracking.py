"""MLflow tracking as an event sink: a parent run per group, a nested run per trial.

With `use_mlflow: true` the optimizer adds an `MlflowSink` to its events. It logs
- per group, a parent run (named after the group) holding the fixed params carried in
  from earlier groups (`fixed.<name>`), and at the group's end its best params
  (`best.<name>`), best value and why it ended;
- per trial, a run nested under its group with the trial's params, every epoch's metrics
  (step = epoch), and at the end its state (COMPLETE/PRUNED/FAIL), the collapse flag and
  the objective value;
- at the end of the run, a `final_evaluation` run with the best params, the test metrics,
  the baselines' scores, results.json and the saved model (RUN_DIR/model/) as artifacts.

Runs are found again by their tags (`hyperopt_kind`, `hyperopt_group`, `hyperopt_trial`),
so a resumed run keeps logging into the same MLflow runs: a resumed trial's replayed
epochs are not logged twice, and nothing depends on a file that a crash could leave stale.

The tracking location is `mlflow_tracking_uri`, by default a SQLite database in
`<run_dir>/mlruns/` (no server needed; MLflow's plain-file store is deprecated). A
tracking location that cannot be opened fails the run at its start (ConfigError); after
that, MLflow trouble never stops a search: a failed call is a warning in run.log, and
after `MAX_FAILURES` failures in a row tracking is switched off for the session.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.core.errors import ConfigError
from hyperopt_cli.model.artifact import MANIFEST_FILE, MODEL_DIR
from hyperopt_cli.search.events import (
    EpochEnd,
    EstimateUpdate,
    EvaluationNote,
    Event,
    GroupEnd,
    GroupKept,
    GroupStart,
    Note,
    RunEnd,
    RunStart,
    RunWarning,
    TrialEnd,
    TrialStart,
    unhandled,
)

log = logging.getLogger("hyperopt_cli")

MLFLOW_DIR = "mlruns"  # inside the run directory: mlflow.db and artifacts/
INSTALL_HINT = "pip install 'hyperopt-cli[mlflow]'"
MAX_FAILURES = 5  # consecutive failed MLflow calls before tracking is switched off
KIND, GROUP, TRIAL, JOB = "hyperopt_kind", "hyperopt_group", "hyperopt_trial", "hyperopt_job_id"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag that nests a run under another
END_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}  # Optuna state -> MLflow status


def default_tracking_uri(run_dir: Path) -> str:
    return f"sqlite:///{(Path(run_dir) / MLFLOW_DIR / 'mlflow.db').resolve()}"


def tracking_uri(cfg: OptimizationConfig, run_dir: Path) -> str:
    return cfg.mlflow_tracking_uri or default_tracking_uri(run_dir)


def experiment_name(cfg: OptimizationConfig, run_dir: Path) -> str:
    """One experiment per run: `<study_name>/<job_id>`."""
    return f"{cfg.study_name}/{Path(run_dir).name}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _scalars(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a metrics dict; [SELL, HOLD, BUY] lists become three keys."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, list) and len(value) == 3:
            for cls, v in zip(("sell", "hold", "buy"), value):
                if isinstance(v, (int, float)) and math.isfinite(v):
                    out[f"{prefix}{key}_{cls}"] = float(v)
        elif isinstance(value, (bool, int, float)) and key != "epoch" and math.isfinite(float(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


class MlflowSink:
    """Turns the search's events into MLflow runs (see the module docstring)."""

    def __init__(self, cfg: OptimizationConfig, run_dir: Path) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as exc:  # config validation checks this first; a broken install ends here
            raise ConfigError(
                f"use_mlflow is true but mlflow cannot be imported ({exc}); install it with: {INSTALL_HINT}"
            ) from None
        for name in ("mlflow", "alembic"):  # their INFO lines (table creation...) would break the live display
            logging.getLogger(name).setLevel(logging.WARNING)
        self._client_cls = MlflowClient
        self.run_dir = Path(run_dir)
        self.uri = tracking_uri(cfg, self.run_dir)
        self.experiment = experiment_name(cfg, self.run_dir)
        self.job_id = self.run_dir.name
        self._client: Any = None  # connected at run_start (creating the SQLite schema takes a second)
        self._experiment_id: str | None = None
        self._runs: dict[tuple[str, ...], str] = {}  # (kind, group, trial) -> run id
        self._fixed: dict[str, Any] = {}  # best params of the groups ended so far
        self._logged_steps: dict[str, set[int]] = {}  # trial run id -> epochs already in MLflow
        self._open: list[str] = []  # group and trial runs left RUNNING, closed as KILLED on pause
        self._failures = 0
        self.enabled = True

    # ------------------------------------------------------------------ EventSink

    def emit(self, event: Event) -> None:
        handler = self._handler(event)
        if handler is None or not self.enabled:
            return
        try:
            handler()
            self._failures = 0
        except ConfigError:
            raise
        except Exception as exc:  # tracking must never end a search once it has started
            self._failures += 1
            log.warning(
                "MLflow tracking failed on %s (%s: %s); the search goes on", event.kind, type(exc).__name__, exc
            )
            if self._failures >= MAX_FAILURES:
                self.enabled = False
                log.warning("MLflow tracking switched off after %d failures in a row", self._failures)

    def _handler(self, event: Event) -> Callable[[], None] | None:
        """What tracking does with `event`; None: nothing (MLflow keeps runs, params and metrics, not messages)."""
        match event:
            case RunStart():
                return self._on_run_start
            case GroupStart():
                return functools.partial(self._on_group_start, event)
            case TrialStart():
                return functools.partial(self._on_trial_start, event)
            case EpochEnd():
                return functools.partial(self._on_epoch, event)
            case TrialEnd():
                return functools.partial(self._on_trial_end, event)
            case GroupEnd():
                return functools.partial(self._on_group_end, event)
            case RunEnd():
                return functools.partial(self._on_run_end, event)
            case GroupKept() | RunWarning() | Note() | EvaluationNote() | EstimateUpdate():
                return None
            case _:
                unhandled(event)

    # ------------------------------------------------------------------ events

    def _on_run_start(self) -> None:
        try:
            self._connect()
        except Exception as exc:  # unreachable server, bad URI: say so at start, not as a warning per trial
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"cannot use MLflow tracking at {self.uri}: {first}; fix mlflow_tracking_uri or set use_mlflow: false"
            ) from None

    def _on_group_start(self, event: GroupStart) -> None:
        group = event.group
        tags = {KIND: "group", GROUP: group}
        run_id, created = self._get_or_create(("group", group), tags, run_name=group)
        if created:
            fixed = {f"fixed.{k}": v for k, v in self._fixed.items()}
            self._log(run_id, params={"group": group, **fixed})
            self._open.append(run_id)
        elif self._client.get_run(run_id).info.status != "FINISHED":  # paused or crashed before: going on
            self._reopen(run_id)

    def _on_trial_start(self, event: TrialStart) -> None:
        group, trial = event.group, event.trial
        parent = self._runs.get(("group", group))
        tags = {KIND: "trial", GROUP: group, TRIAL: str(trial), **({PARENT_TAG: parent} if parent else {})}
        run_id, created = self._get_or_create(("trial", group, str(trial)), tags, run_name=f"{group} #{trial}")
        if created:
            self._log(run_id, params=event.params)
            self._logged_steps[run_id] = set()
            self._open.append(run_id)
        else:  # a trial resumed after a stop or crash: its earlier epochs are in MLflow already
            history = self._client.get_metric_history(run_id, "objective")
            self._logged_steps[run_id] = {int(m.step) for m in history}
            self._reopen(run_id)

    def _on_epoch(self, event: EpochEnd) -> None:
        epoch = event.epoch
        run_id = self._runs.get(("trial", event.group, str(event.trial)))
        if run_id is None:
            return
        steps = self._logged_steps.setdefault(run_id, set())
        if epoch in steps:  # replayed from a checkpoint after a resume
            return
        self._log(run_id, metrics={"objective": event.value, **_scalars(event.metrics)}, step=epoch)
        steps.add(epoch)

    def _on_trial_end(self, event: TrialEnd) -> None:
        run_id = self._runs.get(("trial", event.group, str(event.trial)))
        if run_id is None:
            return
        value = event.value
        metrics = {"value": value} if isinstance(value, (int, float)) and math.isfinite(value) else {}
        self._log(run_id, metrics=metrics, tags={"state": event.state, "collapsed": str(bool(event.collapsed)).lower()})
        self._close(run_id, END_STATUS.get(event.state, "FINISHED"))

    def _on_group_end(self, event: GroupEnd) -> None:
        best_value, best_params = event.best_value, event.best_params
        self._fixed.update(best_params or {})
        run_id = self._runs.get(("group", event.group))
        if run_id is None:
            return
        run = self._client.get_run(run_id)
        if run.info.status != "FINISHED":  # a group already closed before a resume is left as it is
            metrics = {"best_value": best_value} if isinstance(best_value, (int, float)) else {}
            params = {f"best.{k}": v for k, v in (best_params or {}).items()}
            self._log(run_id, params=params, metrics=metrics, tags={"reason": str(event.reason)})
        self._close(run_id, "FINISHED")

    def _on_run_end(self, event: RunEnd) -> None:
        results = event.results
        if event.status != "completed" or results is None:
            for run_id in list(self._open):  # paused: resume sets them RUNNING again
                self._close(run_id, "KILLED")
            return
        run_id, created = self._get_or_create(("final",), {KIND: "final"}, run_name="final_evaluation")
        if created:
            metrics = _scalars(results.get("test_metrics") or {}, "test_")
            metrics.update(_scalars(results.get("validation_metrics") or {}, "val_"))
            for name, scores in (results.get("baselines") or {}).items():
                metrics.update(_scalars(scores, f"baseline_{name}_"))
            self._log(run_id, params=results.get("best_params") or {}, metrics=metrics)
            self._client.log_dict(run_id, results, "results.json")
        model_dir = self.run_dir / MODEL_DIR
        if (model_dir / MANIFEST_FILE).is_file() and (created or not self._client.list_artifacts(run_id, MODEL_DIR)):
            self._client.log_artifacts(run_id, str(model_dir), artifact_path=MODEL_DIR)  # weights + model.json
        self._close(run_id, "FINISHED")

    # ------------------------------------------------------------------ MLflow calls

    def _connect(self) -> None:
        if self._client is not None:
            return
        client = self._client_cls(tracking_uri=self.uri)
        experiment = client.get_experiment_by_name(self.experiment)
        if experiment is not None:
            self._experiment_id = experiment.experiment_id
        else:
            artifacts = None
            if self.uri == default_tracking_uri(self.run_dir):  # keep artifacts inside the run directory too
                artifacts = (self.run_dir / MLFLOW_DIR / "artifacts").resolve().as_uri()
            self._experiment_id = client.create_experiment(self.experiment, artifact_location=artifacts)
        self._client = client

    def _get_or_create(self, key: tuple[str, ...], tags: dict[str, str], run_name: str) -> tuple[str, bool]:
        """The run for `key`: from this session, else found by its tags, else created; and whether it is new."""
        self._connect()
        if key in self._runs:
            return self._runs[key], False
        query = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items() if k in (KIND, GROUP, TRIAL))
        found = self._client.search_runs([self._experiment_id], filter_string=query, max_results=1)
        if found:
            self._runs[key] = found[0].info.run_id
            return self._runs[key], False
        run = self._client.create_run(self._experiment_id, tags={**tags, JOB: self.job_id}, run_name=run_name)
        self._runs[key] = run.info.run_id
        return self._runs[key], True

    def _log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        step: int = 0,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = _now_ms()
        self._client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)) for k, v in (params or {}).items()],
            tags=[RunTag(k, v) for k, v in (tags or {}).items()],
        )

    def _reopen(self, run_id: str) -> None:
        self._client.update_run(run_id, status="RUNNING")
        if run_id not in self._open:
            self._open.append(run_id)

    def _close(self, run_id: str, status: str) -> None:
        self._client.set_terminated(run_id, status=status)
        if run_id in self._open:
            self._open.remove(run_id)
