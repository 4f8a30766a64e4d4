"""`hyperopt status` without a run: every run with what it earned, so runs compare at a glance.

JSON only (state.json, results.json): no torch, no optuna.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hyperopt_cli.run import rundir


def value_with_metric(value: Any, metric: Any) -> str:
    """`0.4186 val_f1`: a study's best value always with the metric it is in (groups differ: val_f1, trading_score)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{value:.4f} {metric}" if metric else f"{value:.4f}"


def best_label(row: dict[str, Any]) -> str:
    """The `best` cell of a with_scores row."""
    return value_with_metric(row.get("best_value"), row.get("best_metric"))


def with_scores(status: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """A run_status row plus `best_value` (in `best_metric`), `test_macro_f1`, `verdict` (wording), `beats_best_baseline`."""
    results = rundir.read_json(Path(run_dir) / rundir.RESULTS_FILE)
    results = results if isinstance(results, dict) else {}
    verdict = results.get("verdict") or {}
    test = results.get("test_metrics") or {}
    best, metric = results.get("best_value"), results.get("best_value_metric")
    if best is None:  # unfinished: the best of the groups finished so far, as state.json has them
        rows = [g for g in (status.get("groups") or {}).values() if g.get("best_value") is not None]
        best, metric = (rows[-1].get("best_value"), rows[-1].get("metric")) if rows else (None, None)
    return {
        **status,
        "best_value": best,
        "best_metric": metric,
        "test_macro_f1": test.get("macro_f1"),
        "verdict": verdict.get("wording"),
        "beats_best_baseline": verdict.get("beats_best_baseline"),
    }


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
