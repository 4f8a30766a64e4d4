"""A run as `status` and `results` read it: state.json plus the owner's liveness, or an unfinished run's partial results.

JSON only, no torch, no optuna: `hyperopt status`, the report, export and the server read a run through here.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.rate import state_rates
from hyperopt_cli.run.records import fixed_params
from hyperopt_cli.run.shapes import read_results
from hyperopt_cli.run.state_record import EMPTY, read_run_state


def run_status(run_dir: Path) -> dict[str, Any]:
    """state.json plus liveness: `owner_alive`, and `status` "interrupted" for a dead running owner.

    Reads JSON only; the studies are opened only when state.json is missing and no
    process owns the run.
    """
    if not run_dir.is_dir():
        raise RunStateError(f"run directory not found: {run_dir}")
    rundir.check_readable(run_dir)
    if not rundir.is_run_dir(run_dir):
        raise RunStateError(f"{run_dir} is not a run directory: {rundir.CONFIG_FILE} not found")
    owner = rundir.live_owner(run_dir)
    state = read_run_state(run_dir, check=True)
    if state is None:
        if owner is None:
            from hyperopt_cli.run.state import rebuild_state

            note = "state.json missing or corrupt: rebuilt from config.yaml and the studies (not saved)"
            state = rebuild_state(run_dir).updated(note=note)
        else:
            state = EMPTY.updated(status="starting", job_id=run_dir.name)
    answer = state.to_json()
    answer["run_dir"] = str(run_dir)
    answer["owner_alive"] = owner is not None
    answer["owner_pid"] = owner.pid if owner is not None else None
    if state.workers:
        from hyperopt_cli.search.liveness import ALIVE, HEARTBEAT_PREFIX, latest_session, worker_state

        timeout = float((state.config or {}).get("worker_timeout_s", 60.0))
        for key, info in state.workers.items():
            info["state"] = worker_state(key, info, {HEARTBEAT_PREFIX + key: info}, timeout)
            info["alive"] = info["state"] == ALIVE
            info["heartbeat_age_s"] = round(time.time() - float(info.get("heartbeat", 0.0)), 1)
        answer["workers"] = latest_session(state.workers)
    answer.pop("config", None)
    if state.status in ("running", "starting") and owner is None:
        answer["status"] = "interrupted"
    return with_rates(settle(answer))  # no ETA for a run that is not running, no group `running` in a dead run


def with_rates(state: dict[str, Any]) -> dict[str, Any]:
    """The run's `trials_per_hour`, and each group row's, computed from its counts and spans (run/rate.py)."""
    rates = state_rates(state)
    state["trials_per_hour"] = rates.run
    for name, row in (state.get("groups") or {}).items():
        row["trials_per_hour"] = rates.groups.get(name)
    return state


NOT_RUNNING = ("completed", "failed", "paused", "interrupted")


def remaining_now(estimate: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """A running run's estimate as of now: the remaining time counts down to its ETA, also between writes.

    state.json's estimate is written at each epoch and trial; through a final evaluation
    longer than the search nothing rewrites it, and a `remaining` read from the file froze.
    The ETA is absolute, so remaining = ETA - now; past it, `overdue_s` says by how much.
    """
    est = dict(estimate or {})
    try:
        eta = dt.datetime.fromisoformat(str(est.get("eta")))
    except ValueError:
        return est
    now = now or dt.datetime.now(dt.timezone.utc)
    if eta.tzinfo is None:
        eta = eta.replace(tzinfo=dt.timezone.utc)
    left = (eta - now).total_seconds()
    if isinstance(est.get("remaining_hours"), (int, float)):
        elapsed_h = float(est.get("estimated_hours") or 0.0) - float(est["remaining_hours"])
        est["remaining_hours"] = round(max(0.0, left) / 3600.0, 4)
        est["estimated_hours"] = round(elapsed_h + est["remaining_hours"], 4)
    if left < 0:
        est["overdue_s"] = round(-left, 1)
    return est


def settle(state: dict[str, Any]) -> dict[str, Any]:
    """A run_status whose times and states say what is true now, whatever the last writer left behind.

    - completed: nothing remains (`remaining_hours` 0), no ETA;
    - failed, paused or interrupted (owner gone): no ETA, since nothing runs; `remaining_hours`
      stays, as the work a resume has left; a group the file still calls `running` reads as the
      run does (`paused` or `interrupted`);
    - running: the remaining time counts down to the ETA (`remaining_now`).
    """
    status = state.get("status")
    est = state.get("time_estimate")
    if isinstance(est, dict):
        if status in NOT_RUNNING:
            est = {**est, "eta": None}
            if status == "completed":
                est.update(remaining_hours=0.0, remaining_trials=0)
        elif status == "running":
            est = remaining_now(est)
        state["time_estimate"] = est
    if status in ("paused", "interrupted", "failed"):
        for row in (state.get("groups") or {}).values():
            if isinstance(row, dict) and row.get("status") == "running":
                row["status"] = "interrupted" if status != "paused" else "paused"
    return state


def results_of(run_dir: Path) -> dict[str, Any]:
    """results.json, or for an unfinished run the partial results from state.json (`complete: false`)."""
    status = run_status(run_dir)
    results = read_results(run_dir, status)
    if results is not None:
        return {
            **results.to_json(),
            "status": status.get("status"),
            "complete": True,
            "trials_per_hour": status.get("trials_per_hour"),
        }
    groups = status.get("groups") or {}
    fixed = fixed_params(row.get("best_params") for row in groups.values() if row.get("status") == "completed")
    return {
        "job_id": status.get("job_id"),
        "status": status.get("status"),
        "complete": False,
        "trials_per_hour": status.get("trials_per_hour"),
        "mode": status.get("mode"),
        "best_params": fixed,
        "best_value": None,
        "fixed_params": fixed,
        "group_results": groups,
        "test_metrics": None,
        "baselines": None,
    }
