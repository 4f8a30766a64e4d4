"""What scoring a trial over K purged folds costs: trials/hour and one group's wall time, K=1 vs K=3.

Runs `hyperopt start --mode quick` (the learning_rate group, default config: 15 trials of 4
epochs, pruning on) on EURUSD_H1 and NASDAQ_D1 (5,000 bars each) in four arms, one after the
other in the same session (the ratios are what count on a shared machine), one worker, one
torch thread:
- one split (`selection_folds: 1`), the baseline of every ratio;
- three folds, every trial trains every fold (`race_margin_se: null`, the behaviour before racing);
- three folds raced against the incumbent at the default margin (1 SE) and at 0 (search/racing.py);
- three folds raced at 1 SE with the ranking rule `race_eta: 3` (a challenger must also rank in
  the best third of the earlier trials on the folds it has trained).
Reports each run's search time (the trials' own training seconds), the group's wall time (first
trial's start to last trial's end), trials/hour, pruned and raced-out trials, the epochs
actually trained, the group's decision and the final model's test macro-F1.

Two trials/hour figures. `trials_per_hour` (kept as before, so older results compare) is
finished trials per hour of the trials' own `train_seconds`: the pace of training alone.
`tool_trials_per_hour` is the tool's figure, read from `hyperopt status RUN --json` of the
finished run as a user reads it (run/rate.py: finished trials per hour of the run's search
time, the elapsed time while a group was current). The tool's is the lower: its hour also
holds each trial's overhead outside training (sampling, opening the study, checkpoints,
state.json writes, pruned trials' set-up); `tool_vs_train` is their ratio, 1 minus the share
of search time that overhead takes. Both leave out the final evaluation.

    python bench/bench_selection_cost.py [--quick] [--out FILE.json]
    BENCH_SELECTION_COST_ARMS=long python bench/bench_selection_cost.py   # 12 epochs, fixed vs the ladder
    BENCH_SELECTION_COST_ARMS=warm python bench/bench_selection_cost.py   # warm-started folds vs cold
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
Arm = tuple[str, int, float | None, int | None, tuple[str, ...]]
# (name, selection_folds, race_margin_se, race_eta, more overrides): the first is every ratio's baseline
ARMS: tuple[Arm, ...] = (
    ("1 split", 1, None, None, ()),
    ("3 folds", 3, None, None, ()),
    ("3 folds raced", 3, 1.0, None, ()),
    ("3 folds raced, margin 0", 3, 0.0, None, ()),
    ("3 folds raced, eta 3", 3, 1.0, 3, ()),
)
# BENCH_SELECTION_COST_ARMS=long: the long training some signals need (12 epochs), every group run to
# its 15 trials (`convergence_patience` lifted, so every arm scores the same number of trials), with
# epochs as the budget (the ladder 4 -> 12, successive halving at 4 epochs) against fixed 12 epochs.
LONG = ("epochs_per_trial=12", "convergence_patience=100")
LADDER = ("rung_eta=3", "rung_min_epochs=4")
LONG_ARMS: tuple[Arm, ...] = (
    ("1 split, 12 epochs", 1, None, None, LONG),
    ("3 folds, 12 epochs", 3, None, None, LONG),
    ("3 folds raced, 12 epochs", 3, 1.0, None, LONG),
    ("3 folds raced, ladder 4-12", 3, 1.0, None, LONG + LADDER),
    ("1 split, ladder 4-12", 1, None, None, LONG + LADDER),
)
# BENCH_SELECTION_COST_ARMS=warm: warm-started folds (`fold_start: warm`: a later fold fine-tunes the one
# before's model on the samples it adds) against cold ones, at 4 epochs and at 12, fixed or on the ladder.
WARM = ("fold_start=warm",)
WARM_ARMS: tuple[Arm, ...] = (
    ("1 split", 1, None, None, ()),
    ("3 folds raced", 3, 1.0, None, ()),
    ("3 folds raced, warm", 3, 1.0, None, WARM),
    ("1 split, 12 epochs", 1, None, None, LONG),
    ("3 folds raced, 12 epochs", 3, 1.0, None, LONG),
    ("3 folds raced, 12 epochs, warm", 3, 1.0, None, LONG + WARM),
    ("1 split, ladder 4-12", 1, None, None, LONG + LADDER),
    ("3 folds raced, ladder 4-12", 3, 1.0, None, LONG + LADDER),
    ("3 folds raced, ladder 4-12, warm", 3, 1.0, None, LONG + LADDER + WARM),
)
DATA = ("tests/data/EURUSD_H1.csv", "tests/data/NASDAQ_D1.csv")
ARM_SETS = {"long": LONG_ARMS, "warm": WARM_ARMS}


def arms() -> tuple[Arm, ...]:
    return ARM_SETS.get(os.environ.get("BENCH_SELECTION_COST_ARMS", ""), ARMS)


def settings(quick: bool) -> dict[str, Any]:
    return {"trials": 6 if quick else 15, "arms": [list(a) for a in arms()], "data": list(DATA[:1] if quick else DATA)}


def one_run(
    folds: int,
    trials: int,
    data: str,
    folder: Path,
    race: float | None = None,
    name: str = "",
    race_eta: int | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One quick run of an arm; `extra` are more `--set KEY=VALUE` overrides (and name the run folder)."""
    from optuna.trial import TrialState

    run_dir = folder / "-".join([f"{Path(data).stem}-folds{folds}-race{race}-eta{race_eta}", *extra]).replace("=", "")
    cmd = [
        sys.executable,
        "-m",
        "hyperopt_cli",
        "start",
        "--mode",
        "quick",
        "--data",
        str(common.REPO / data),
        "--run-dir",
        str(run_dir),
        "--set",
        f"selection_folds={folds}",
        "--set",
        f"max_trials_per_group={trials}",
        "--set",
        f"race_margin_se={'null' if race is None else race}",
        "--set",
        f"race_eta={'null' if race_eta is None else race_eta}",
        "--set",
        "workers=1",
        "--set",
        "trainer.num_threads=1",
        "--set",
        "trainer.device=cpu",
        "--set",
        "walk_forward_blocks=1",
        "--set",
        "ensemble_seeds=1",
        *[arg for item in extra for arg in ("--set", item)],
    ]
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=common.REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:], "seconds": wall}
    sys.path.insert(0, str(common.REPO / "tests"))
    from cli_helpers import load_run_study

    study = load_run_study(run_dir, "ml_hyperopt_learning_rate")
    trials_ = study.get_trials(deepcopy=False)
    search_s = sum(float(t.user_attrs.get("train_seconds", 0.0)) for t in trials_)
    starts = [t.datetime_start for t in trials_ if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials_ if t.datetime_complete is not None]
    results = json.loads((run_dir / "results.json").read_text())
    group = (results.get("group_results") or {}).get("learning_rate") or {}
    train_rate = 3600.0 * len(trials_) / search_s if search_s else None
    tool_rate = tool_trials_per_hour(run_dir, env)
    return {
        "arm": name,
        "data": Path(data).stem,
        "folds": folds,
        "race_margin_se": race,
        "race_eta": race_eta,
        "trials": len(trials_),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials_),
        "raced_out": sum(t.user_attrs.get("pruned_by") == "race" for t in trials_),
        "rung_stopped": sum(t.user_attrs.get("pruned_by") == "rung" for t in trials_),
        "group_wall_s": (max(ends) - min(starts)).total_seconds() if starts and ends else None,
        "kept": group.get("kept"),
        "best_trial": group.get("best_trial"),
        "best_params": results.get("best_params"),
        "epochs_trained": sum(len(t.intermediate_values) for t in trials_),
        "search_seconds": search_s,
        "trials_per_hour": train_rate,
        "tool_trials_per_hour": tool_rate,
        "tool_vs_train": tool_rate / train_rate if tool_rate and train_rate else None,
        "run_seconds": wall,
        "chosen_epochs": results.get("epochs"),
        "test_macro_f1": (results.get("test_metrics") or {}).get("macro_f1"),
        "best_curve": best_curve(trials_, study.direction.name == "MAXIMIZE"),
    }


def best_curve(trials_: list[Any], maximize: bool) -> list[list[float]]:
    """[seconds since the group's first trial started, best COMPLETE value so far] at each COMPLETE trial's end."""
    from optuna.trial import TrialState

    starts = [t.datetime_start for t in trials_ if t.datetime_start is not None]
    done = sorted(
        (t for t in trials_ if t.state == TrialState.COMPLETE and t.datetime_complete and t.value is not None),
        key=lambda t: t.datetime_complete,
    )
    curve: list[list[float]] = []
    best: float | None = None
    for t in done:
        value = float(t.value)
        best = value if best is None else (max(best, value) if maximize else min(best, value))
        curve.append([(t.datetime_complete - min(starts)).total_seconds(), best])
    return curve


def _ratio(row: dict[str, Any], base: dict[str, Any], key: str) -> float | None:
    a, b = row.get(key), base.get(key)
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def tool_trials_per_hour(run_dir: Path, env: dict[str, str]) -> float | None:
    """The run's trials per hour as the tool says it: `hyperopt status RUN --json`'s `trials_per_hour`."""
    proc = subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", "status", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=common.REPO,
    )
    if proc.returncode != 0:
        return None
    value = json.loads(proc.stdout).get("trials_per_hour")
    return float(value) if isinstance(value, (int, float)) else None


def run(quick: bool = False) -> dict[str, Any]:
    s = settings(quick)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_selection_cost_") as folder:
        for data in s["data"]:
            base: dict[str, Any] = {}
            for name, folds, race, eta, extra in arms():
                row = one_run(folds, s["trials"], data, Path(folder), race, name, eta, extra)
                base = base or row
                row["search_ratio"] = _ratio(row, base, "search_seconds")
                row["wall_ratio"] = _ratio(row, base, "group_wall_s")
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    return {"settings": s, "runs": rows, "load_avg": common.load_avg(), "commit": common.git_commit()}


def _fmt(value: Any, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Selection cost: the learning_rate group, one split vs three folds, raced or not",
        "",
        "| data | arm | trials | pruned | raced out | stopped at a rung | epochs trained | search s | × first arm "
        "| group wall s | × first arm | trials/hour (train s) | trials/hour (status) | kept | test macro-F1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        if "error" in r:
            lines.append(f"| ? | error: {r['error']} |")
            continue
        lines.append(
            f"| {r['data']} | {r['arm']} | {r['trials']} | {r['pruned']} | {r['raced_out']} | {r.get('rung_stopped', 0)} | "
            f"{r['epochs_trained']} | {r['search_seconds']:.0f} | {_fmt(r['search_ratio'])} | "
            f"{_fmt(r['group_wall_s'], '.0f')} | {_fmt(r['wall_ratio'])} | {_fmt(r['trials_per_hour'], '.0f')} | "
            f"{_rate(r.get('tool_trials_per_hour'))} | {_decision(r)} | "
            f"{_fmt(r['test_macro_f1'], '.3f')} |"
        )
    lines += ["", f"load {result['load_avg']}; commit {result['commit']}"]
    return "\n".join(lines) + "\n"


def _rate(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) else "-"


def _decision(row: dict[str, Any]) -> str:
    """What the group did: the guard's reason for keeping the incumbent, or whether the best trial is the incumbent."""
    if row.get("kept"):
        return str(row["kept"])
    return "incumbent best" if row.get("best_trial") == 0 else "changed"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "selection-cost", "6 trials instead of 15")


if __name__ == "__main__":
    main()
