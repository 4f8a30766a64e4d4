"""`hyperopt status` without a run: every run with what it earned, so runs compare at a glance.

JSON only (state.json, results.json): no torch, no optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperopt_cli.run import rundir
from hyperopt_cli.run.results import RunResults


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
    raw = rundir.peek_json(Path(run_dir) / rundir.RESULTS_FILE)
    results = RunResults.from_json(raw) if isinstance(raw, dict) else RunResults()
    verdict = results.verdict or {}
    test = results.test_metrics or {}
    best, metric = results.best_value, results.best_value_metric
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
