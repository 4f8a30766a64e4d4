"""`hyperopt status` without a run: every run with what it earned, so runs compare at a glance.

JSON only (state.json, results.json): no torch, no optuna.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperopt_cli.run import rundir


def with_scores(status: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """A run_status row plus `best_value`, `test_macro_f1`, `verdict` (wording) and `beats_best_baseline`."""
    results = rundir.read_json(Path(run_dir) / rundir.RESULTS_FILE)
    results = results if isinstance(results, dict) else {}
    verdict = results.get("verdict") or {}
    test = results.get("test_metrics") or {}
    best = results.get("best_value")
    if best is None:  # unfinished: the best of the groups finished so far, as state.json has them
        values = [g.get("best_value") for g in (status.get("groups") or {}).values() if g.get("best_value") is not None]
        best = values[-1] if values else None
    return {
        **status,
        "best_value": best,
        "test_macro_f1": test.get("macro_f1"),
        "verdict": verdict.get("wording"),
        "beats_best_baseline": verdict.get("beats_best_baseline"),
    }
