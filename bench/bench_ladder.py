"""Epochs as the budget: does the epoch ladder (4 -> 12 -> 36) find what 4 fixed epochs cannot, and at what cost?

Runs `hyperopt start --mode quick` (the learning_rate group; BENCH_LADDER_MODE=full: every group) in
two arms per data set and seed, one after the other in the same session unless BENCH_LADDER_ARMS
picks one (the ratio is what counts on a shared machine):
- fixed: today's default, every trial trains `epochs_per_trial` 4 epochs on each fold;
- ladder: `epochs_per_trial` 36 with `rung_eta` 3 from `rung_min_epochs` 4 (search/ladder.py):
  every trial trains 4 epochs per fold, the best third of those before it climb to 12, the best
  third of those to 36; the final model trains the chosen epoch count.
One worker, one torch thread, `ensemble_seeds` 1 in both arms (the final evaluation's cost
grows with the chosen epochs; both arms are judged by the same walk-forward, 3 blocks).
Data: the interaction market (bench/synthetic_markets.py: the LSTM needs about 30 epochs
there), EURUSD_H1 and NASDAQ_D1.

Reported per run: trials, how many stopped at each rung, epochs trained, the group's wall
time, the chosen epochs, whether the search changed the defaults, the final model's pooled
walk-forward macro-F1 and its edge over the best baseline with the interval (the verdict).

    python bench/bench_ladder.py [--quick] [--out FILE.json]
    BENCH_LADDER_DATASETS=interaction BENCH_LADDER_SEEDS=0,1,2 python bench/bench_ladder.py
    BENCH_LADDER_MODE=full BENCH_LADDER_TRIALS=4 BENCH_LADDER_DATASETS=interaction python bench/bench_ladder.py
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

DATASETS = ("interaction", "EURUSD_H1", "NASDAQ_D1")
ARMS: dict[str, list[str]] = {
    "fixed 4": [],
    "ladder 4-12-36": ["epochs_per_trial=36", "rung_eta=3", "rung_min_epochs=4"],
}


def settings(quick: bool) -> dict[str, Any]:
    names = os.environ.get("BENCH_LADDER_DATASETS", "interaction" if quick else ",".join(DATASETS)).split(",")
    seeds = [int(v) for v in os.environ.get("BENCH_LADDER_SEEDS", "0").split(",")]
    mode = os.environ.get("BENCH_LADDER_MODE", "quick")
    trials = int(os.environ.get("BENCH_LADDER_TRIALS", "3" if quick else "6" if mode == "quick" else "4"))
    arms = os.environ.get("BENCH_LADDER_ARMS", ",".join(ARMS)).split(",")
    return {"trials": trials, "datasets": names, "seeds": seeds, "arms": {a: ARMS[a] for a in arms}, "mode": mode}


def data_path(name: str, folder: Path) -> Path:
    if name == "interaction":
        import synthetic_markets

        path = folder / "interaction.csv"
        if not path.exists():
            synthetic_markets.interaction_market(seed=7).to_csv(path, index_label="timestamp")
        return path
    return common.REPO / "tests" / "data" / f"{name}.csv"


def one_run(data: Path, seed: int, arm: str, trials: int, folder: Path, mode: str = "quick") -> dict[str, Any]:
    from optuna.trial import TrialState

    run_dir = folder / f"{data.stem}-{seed}-{mode}-{arm.replace(' ', '_')}"
    sets = [
        "workers=1",
        "trainer.num_threads=1",
        "trainer.device=cpu",
        "ensemble_seeds=1",
        f"seed={seed}",
        f"max_trials_per_group={trials}",
        *ARMS[arm],
    ]
    cmd = [
        sys.executable,
        "-m",
        "hyperopt_cli",
        "start",
        "--mode",
        mode,
        "--data",
        str(data),
        "--run-dir",
        str(run_dir),
        *[a for s in sets for a in ("--set", s)],
    ]
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=common.REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"data": data.stem, "seed": seed, "arm": arm, "error": proc.stderr.strip().splitlines()[-1:]}
    sys.path.insert(0, str(common.REPO / "tests"))
    from cli_helpers import load_run_study

    results = json.loads((run_dir / "results.json").read_text())
    trials_ = [
        t
        for group in results.get("group_results") or {"learning_rate": None}
        for t in load_run_study(run_dir, f"ml_hyperopt_{group}").get_trials(deepcopy=False)
    ]
    starts = [t.datetime_start for t in trials_ if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials_ if t.datetime_complete is not None]
    verdict = results.get("verdict") or {}
    budgets = [t.user_attrs.get("budget_epochs") for t in trials_ if t.state != TrialState.FAIL]
    return {
        "data": data.stem,
        "seed": seed,
        "arm": arm,
        "trials": len(trials_),
        "complete": sum(t.state == TrialState.COMPLETE for t in trials_),
        "by_budget": {str(b): budgets.count(b) for b in sorted({b for b in budgets if b is not None})},
        "pruned_by": {k: sum(t.user_attrs.get("pruned_by") == k for t in trials_) for k in ("pruner", "race", "rung")},
        "epochs_trained": sum(len(t.intermediate_values) for t in trials_),
        "group_wall_s": (max(ends) - min(starts)).total_seconds() if starts and ends else None,
        "run_seconds": wall,
        "chosen_epochs": results.get("epochs"),
        "search_changed": results.get("search_changed"),
        "best_params": results.get("best_params"),
        "families": sorted(
            k.removeprefix("use_") for k, v in (results.get("best_params") or {}).items() if k.startswith("use_") and v
        ),
        "test_macro_f1": ((results.get("walk_forward") or {}).get("pooled") or {}).get("model", {}).get("macro_f1"),
        "baseline": verdict.get("baseline"),
        "delta_macro_f1": verdict.get("delta_macro_f1"),
        "interval_macro_f1": verdict.get("interval_macro_f1"),
        "beats_best_baseline": verdict.get("beats_best_baseline"),
    }


def run(quick: bool = False) -> dict[str, Any]:
    s = settings(quick)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_ladder_") as tmp:
        folder = Path(tmp)
        for name in s["datasets"]:
            for seed in s["seeds"]:
                for arm in s["arms"]:
                    row = one_run(data_path(name, folder), seed, arm, s["trials"], folder, s["mode"])
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    return {"settings": s, "runs": rows, "load_avg": common.load_avg(), "commit": common.git_commit()}


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(result: dict[str, Any]) -> str:
    mode = result["settings"].get("mode", "quick")
    lines = [
        f"## Epoch ladder: --mode {mode}, {result['settings']['trials']} trials per group, "
        "4 fixed epochs vs rungs 4-12-36",
        "",
        "| data | seed | arm | trials (complete) | trials per budget | stopped by rung/race/pruner | epochs trained "
        "| group wall s | chosen epochs | changed | test macro-F1 | vs best baseline [interval] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        if "error" in r:
            lines.append(f"| {r['data']} | {r['seed']} | {r['arm']} | error: {r['error']} |")
            continue
        by = r["pruned_by"]
        interval = r.get("interval_macro_f1") or [None, None]
        lines.append(
            f"| {r['data']} | {r['seed']} | {r['arm']} | {r['trials']} ({r['complete']}) | "
            f"{', '.join(f'{k}: {v}' for k, v in r['by_budget'].items()) or '-'} | "
            f"{by['rung']}/{by['race']}/{by['pruner']} | {r['epochs_trained']} | {_fmt(r['group_wall_s'], '.0f')} | "
            f"{r['chosen_epochs']} | {'yes' if r['search_changed'] else 'no'} | {_fmt(r['test_macro_f1'])} | "
            f"{_fmt(r['delta_macro_f1'], '+.3f')} vs {r['baseline']} [{_fmt(interval[0], '+.3f')}, "
            f"{_fmt(interval[1], '+.3f')}] |"
        )
    lines += ["", "Chosen parameters (the architecture, window and families where the run searched them):", ""]
    lines += [
        f"- {r['data']} seed {r['seed']} {r['arm']}: {r.get('best_params')}" for r in result["runs"] if "error" not in r
    ]
    lines += ["", f"load {result['load_avg']}; commit {result['commit']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "ladder", "3 trials, the interaction market only")


if __name__ == "__main__":
    main()
