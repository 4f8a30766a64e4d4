"""A run as `status` and `results` read it: state.json plus the owner's liveness, or an unfinished run's partial results.

JSON only, no torch, no optuna: `hyperopt status`, the report, export and the server read a run through here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.records import fixed_params
from hyperopt_cli.run.shapes import check_state, read_results


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
    state = rundir.read_json(run_dir / rundir.STATE_FILE)
    if state is not None:
        check_state(state, run_dir / rundir.STATE_FILE)
    if state is None:
        if owner is None:
            from hyperopt_cli.run.state import rebuild_state

            state = rebuild_state(run_dir)
            state["note"] = "state.json missing or corrupt: rebuilt from config.yaml and the studies (not saved)"
        else:
            state = {"status": "starting", "job_id": run_dir.name}
    state = dict(state)
    state["run_dir"] = str(run_dir)
    state["owner_alive"] = owner is not None
    state["owner_pid"] = owner.pid if owner is not None else None
    if state.get("workers"):
        from hyperopt_cli.search.liveness import ALIVE, HEARTBEAT_PREFIX, latest_session, worker_state

        timeout = float((state.get("config") or {}).get("worker_timeout_s", 60.0))
        for key, info in state["workers"].items():
            info["state"] = worker_state(key, info, {HEARTBEAT_PREFIX + key: info}, timeout)
            info["alive"] = info["state"] == ALIVE
            info["heartbeat_age_s"] = round(time.time() - float(info.get("heartbeat", 0.0)), 1)
        state["workers"] = latest_session(state["workers"])
    state.pop("config", None)
    if state.get("status") in ("running", "starting") and owner is None:
        state["status"] = "interrupted"
    return state


def results_of(run_dir: Path) -> dict[str, Any]:
    """results.json, or for an unfinished run the partial results from state.json (`complete: false`)."""
    status = run_status(run_dir)
    results = read_results(run_dir, status)
    if results is not None:
        return {**results, "status": status.get("status"), "complete": True}
    groups = status.get("groups") or {}
    fixed = fixed_params(row.get("best_params") for row in groups.values() if row.get("status") == "completed")
    return {
        "job_id": status.get("job_id"),
        "status": status.get("status"),
        "complete": False,
        "mode": status.get("mode"),
        "best_params": fixed,
        "best_value": None,
        "fixed_params": fixed,
        "group_results": groups,
        "test_metrics": None,
        "baselines": None,
    }
