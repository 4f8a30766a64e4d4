"""What scoring a trial over K purged folds costs: trials/hour and one group's wall time, K=1 vs K=3.

Runs `hyperopt start --mode quick` (the learning_rate group, default config: 15 trials of 4
epochs, pruning on) on EURUSD_H1 (5,000 bars) with `selection_folds` 1 and 3, one after the
other in the same session (the ratio is what counts on a shared machine), one worker, one
torch thread. Reports each run's search-phase wall time (from the trials' own training
seconds and the run's start/end), trials/hour, pruned trials and the epochs actually trained.

Two trials/hour figures. `trials_per_hour` (kept as before, so older results compare) is
finished trials per hour of the trials' own `train_seconds`: the pace of training alone.
`tool_trials_per_hour` is the tool's figure, read from `hyperopt status RUN --json` of the
finished run as a user reads it (run/rate.py: finished trials per hour of the run's search
time, the elapsed time while a group was current). The tool's is the lower: its hour also
holds each trial's overhead outside training (sampling, opening the study, checkpoints,
state.json writes, pruned trials' set-up); `tool_vs_train` is their ratio, 1 minus the share
of search time that overhead takes. Both leave out the final evaluation.

    python bench/bench_selection_cost.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

FOLDS = (1, 3)


def settings(quick: bool) -> dict[str, Any]:
    return {"trials": 6 if quick else 15, "folds": list(FOLDS), "data": "tests/data/EURUSD_H1.csv"}


def one_run(folds: int, trials: int, data: str, folder: Path) -> dict[str, Any]:
    from optuna.trial import TrialState

    run_dir = folder / f"folds{folds}"
    cmd = [sys.executable, "-m", "hyperopt_cli", "start", "--mode", "quick", "--data", str(common.REPO / data),
           "--run-dir", str(run_dir), "--set", f"selection_folds={folds}", "--set", f"max_trials_per_group={trials}",
           "--set", "workers=1", "--set", "trainer.num_threads=1", "--set", "trainer.device=cpu",
           "--set", "walk_forward_blocks=1", "--set", "ensemble_seeds=1"]
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=common.REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:], "seconds": wall}
    sys.path.insert(0, str(common.REPO / "tests"))
    from cli_helpers import load_run_study

    trials_ = load_run_study(run_dir, "ml_hyperopt_learning_rate").get_trials(deepcopy=False)
    search_s = sum(float(t.user_attrs.get("train_seconds", 0.0)) for t in trials_)
    results = json.loads((run_dir / "results.json").read_text())
    train_rate = 3600.0 * len(trials_) / search_s if search_s else None
    tool_rate = tool_trials_per_hour(run_dir, env)
    return {
        "folds": folds,
        "trials": len(trials_),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials_),
        "epochs_trained": sum(len(t.intermediate_values) for t in trials_),
        "search_seconds": search_s,
        "trials_per_hour": train_rate,
        "tool_trials_per_hour": tool_rate,
        "tool_vs_train": tool_rate / train_rate if tool_rate and train_rate else None,
        "run_seconds": wall,
        "chosen_epochs": results.get("epochs"),
        "test_macro_f1": (results.get("test_metrics") or {}).get("macro_f1"),
    }


def tool_trials_per_hour(run_dir: Path, env: dict[str, str]) -> float | None:
    """The run's trials per hour as the tool says it: `hyperopt status RUN --json`'s `trials_per_hour`."""
    proc = subprocess.run([sys.executable, "-m", "hyperopt_cli", "status", str(run_dir), "--json"],
                          capture_output=True, text=True, env=env, cwd=common.REPO)
    if proc.returncode != 0:
        return None
    value = json.loads(proc.stdout).get("trials_per_hour")
    return float(value) if isinstance(value, (int, float)) else None


def run(quick: bool = False) -> dict[str, Any]:
    s = settings(quick)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_selection_cost_") as folder:
        for folds in FOLDS:
            rows.append(one_run(folds, s["trials"], s["data"], Path(folder)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    base, new = rows
    ratio = None
    if "trials_per_hour" in base and "trials_per_hour" in new and base["trials_per_hour"]:
        ratio = new["trials_per_hour"] / base["trials_per_hour"]
    return {"settings": s, "runs": rows, "trials_per_hour_ratio_3_vs_1": ratio,
            "group_wall_ratio_3_vs_1": (new.get("search_seconds") or 0) / (base.get("search_seconds") or 1),
            "load_avg": common.load_avg(), "commit": common.git_commit()}


def markdown(result: dict[str, Any]) -> str:
    lines = ["## Selection cost: the learning_rate group, selection_folds 1 vs 3", "",
             "| folds | trials | pruned | epochs trained | search s | trials/hour (train s) | trials/hour (status) "
             "| chosen epochs |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        if "error" in r:
            lines.append(f"| ? | error: {r['error']} |")
            continue
        lines.append(f"| {r['folds']} | {r['trials']} | {r['pruned']} | {r['epochs_trained']} | "
                     f"{r['search_seconds']:.0f} | {r['trials_per_hour']:.0f} | "
                     f"{_rate(r.get('tool_trials_per_hour'))} | {r['chosen_epochs']} |")
    lines += ["", f"trials/hour ratio (3 folds / 1): {result['trials_per_hour_ratio_3_vs_1']}; "
              f"group wall time ratio: {result['group_wall_ratio_3_vs_1']:.2f}; load {result['load_avg']}"]
    return "\n".join(lines) + "\n"


def _rate(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) else "-"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "selection-cost", "6 trials instead of 15")


if __name__ == "__main__":
    main()
