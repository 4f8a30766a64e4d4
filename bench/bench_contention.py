"""Trials/hour of real `hyperopt start` runs: the parallel default vs the old default, idle and loaded.

    python bench/bench_contention.py [--quick] [--rounds R] [--bars N] [--trials N] [--out FILE.json]

Settings (what `start` resolves is read back from each run's config.yaml and run.log):
- `auto`: the config leaves `workers` and `trainer.num_threads` at 0, so `start` picks
  (run/parallel.py): on 2 cores, 2 worker processes x 1 torch thread on journal files;
- `old`: `--set workers=1 --set storage_url=sqlite`, one process with one thread per
  core (torch's default thread count) on per-group SQLite files: the default before issue 15.

Conditions: `idle`, and `loaded`: one competing CPU-bound process (common.BUSY_LOOP, the
issue's `python3 -c "while True: pass"`) started before the run and killed after it.

Every run is `--mode quick` (the learning_rate group) with fixed-cost trials: batch size
pinned to 128 (search space and incumbent), pruning off (`n_warmup_steps` = epochs), no
convergence stop, so each run trains exactly `max_trials_per_group` trials of the same
size (2 workers may finish one more). Trials/hour counts the SEARCH PHASE only: finished
trials / (last trial end - first trial start), read from the run's study, so start-up,
the second worker's start and the final evaluation are outside it (the worker's late
start is inside: it is a cost the user pays). Whole-run wall time is recorded too.
Cells run in rounds, the four cells interleaved (rotated each round), after one untimed
warm-up run (full variant); medians over rounds.
Children run without OMP_NUM_THREADS/MKL_NUM_THREADS, as from a plain shell.

Writes FILE.json and FILE.md (default: bench/results/contention-<date>.json; with --quick
bench/out/contention-quick.json, git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

SETTINGS: dict[str, list[str]] = {"auto": [], "old": ["--set", "workers=1", "--set", "storage_url=sqlite"]}
CONDITIONS = {"idle": 0, "loaded": 1}  # competing busy-loop processes
TARGET_LOADED_OVER_IDLE = 0.7  # issue 15: the default keeps >= 0.7x of its idle trials/hour under one busy loop
RUN_TIMEOUT_S = 1800


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"bars": 8000, "trials": 10, "epochs": 2, "rounds": 1}
    return {"bars": 20000, "trials": 24, "epochs": 2, "rounds": 3}


def run_config(size: dict[str, Any]) -> dict[str, Any]:
    """The runs' YAML: quick.yaml's model on synthetic bars, every trial the same cost."""
    return {
        "mode": "quick",
        "epochs_per_trial": size["epochs"],
        "max_trials_per_group": size["trials"],
        "n_startup_trials": 2,
        "n_warmup_steps": size["epochs"],  # the pruner may only prune from this epoch on: never
        "convergence_patience": size["trials"],
        "walk_forward_blocks": 1,
        "ensemble_seeds": 1,
        "data": {"window": 24, "synthetic": {"n_bars": size["bars"]}},
        "model": {"hidden_size": 32, "num_layers": 1},
        "trainer": {"batch_size": 128},
        "search_space": {"learning_rate": {"batch_size": {"type": "categorical", "choices": [128]}}},
    }


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return {**env, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


def search_phase(run_dir: Path) -> dict[str, Any]:
    """What the run's study says: finished trials and the span from first trial start to last trial end."""
    import optuna
    import yaml

    from hyperopt_cli.config import config_from_dict
    from hyperopt_cli.search.storage import RunStorage

    raw = yaml.safe_load((run_dir / "config.yaml").read_text())
    cfg = config_from_dict(raw, origin=str(run_dir / "config.yaml"))
    trials = RunStorage(cfg, run_dir).load_study("learning_rate").trials
    ended = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    if not ended:
        raise RuntimeError(f"no finished trial in {run_dir}")
    first = min(t.datetime_start for t in ended if t.datetime_start is not None)
    last = max(t.datetime_complete for t in ended if t.datetime_complete is not None)
    span = (last - first).total_seconds()
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in ended]
    per_worker: dict[str, int] = {}
    for t in ended:
        key = str(t.user_attrs.get("worker", "owner"))
        per_worker[key] = per_worker.get(key, 0) + 1
    return {
        "resolved": {
            "workers": cfg.workers,
            "num_threads": cfg.trainer.num_threads,
            "storage_url": cfg.storage_url,
            "precision": cfg.trainer.precision,
        },
        "trials_finished": len(ended),
        "trials_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in ended),
        "trials_other": len(trials) - len(ended),
        "search_s": span,
        "trials_per_hour": len(ended) / span * 3600 if span > 0 else None,
        "trial_s_median": common.median(durations),
        "trial_s_max": max(durations),
        "trials_per_worker": per_worker,
        "trials": [
            [
                (t.datetime_start - first).total_seconds(),
                (t.datetime_complete - t.datetime_start).total_seconds(),
                str(t.user_attrs.get("worker", "owner")),
            ]
            for t in sorted(ended, key=lambda t: t.number)
        ],
    }


def header_line(run_dir: Path) -> str | None:
    """The run.log line in which `start` says what parallelism it chose."""
    try:
        return next(
            (
                line.split(" parallel ", 1)[1].strip()
                for line in (run_dir / "run.log").read_text().splitlines()
                if " parallel " in line
            ),
            None,
        )
    except OSError:
        return None


def measure(setting: str, condition: str, config_path: Path, run_dir: Path, log: Path) -> dict[str, Any]:
    """One `hyperopt start` of `setting` under `condition`, with its search-phase figures."""
    cmd = [
        sys.executable,
        "-m",
        "hyperopt_cli",
        "start",
        "--config",
        str(config_path),
        "--run-dir",
        str(run_dir),
        *SETTINGS[setting],
    ]
    load_before = common.load_avg()
    with common.busy_loops(CONDITIONS[condition]), open(log, "ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=child_env(),
            cwd=common.REPO,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{setting}/{condition}: hyperopt start exited {proc.returncode}:\n{tail}")
    return {
        "wall_s": wall,
        "load_avg_before": load_before,
        "parallel_header": header_line(run_dir),
        **search_phase(run_dir),
    }


def cells() -> list[tuple[str, str]]:
    return [(s, c) for c in CONDITIONS for s in SETTINGS]


def run(
    quick: bool = False, rounds: int | None = None, bars: int | None = None, trials: int | None = None
) -> dict[str, Any]:
    import yaml

    size = sizes(quick)
    size.update({k: v for k, v in {"rounds": rounds, "bars": bars, "trials": trials}.items() if v is not None})
    results: dict[str, dict[str, list[dict[str, Any]]]] = {s: {c: [] for c in CONDITIONS} for s in SETTINGS}
    load_before = common.load_avg()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_contention_") as folder:
        tmp = Path(folder)
        config_path = tmp / "config.yaml"
        config_path.write_text(yaml.safe_dump(run_config(size), sort_keys=False))
        if not quick:  # one untimed run first: the first start in a while pays cold file caches
            measure("auto", "idle", config_path, tmp / "warm_up", tmp / "runs.log")
        order = cells()
        for r in range(size["rounds"]):
            for i in range(len(order)):  # rotated each round: no cell always runs first or after the same one
                setting, condition = order[(i + r) % len(order)]
                one = measure(setting, condition, config_path, tmp / f"{setting}_{condition}_{r}", tmp / "runs.log")
                results[setting][condition].append(one)
                print(
                    f"round {r + 1}/{size['rounds']} {setting:4s} {condition:6s}: "
                    f"{one['trials_per_hour']:.0f} trials/h ({one['trials_finished']} trials in "
                    f"{one['search_s']:.1f} s; run {one['wall_s']:.1f} s; {one['parallel_header']})",
                    file=sys.stderr,
                    flush=True,
                )
    return {
        "what": "trials/hour of the search phase of real `hyperopt start --mode quick` runs: the parallel default "
        "('auto') vs one process with torch's default threads ('old'), idle and with one competing "
        "CPU-bound process ('loaded')",
        "settings": {
            **size,
            "model": "LSTM 1 x 32, window 24, batch 128 (quick.yaml's model)",
            "data": "synthetic",
            "setting_args": SETTINGS,
            "competing_processes": CONDITIONS,
            "run_config": run_config(size),
        },
        "git_commit": common.git_commit(),
        "machine": common.machine_info(),
        "load_avg_before_after": [load_before, common.load_avg()],
        "bench_s": time.perf_counter() - t_start,
        "summary": summarise(results),
        "runs": results,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarise(results: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    def med(runs: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return common.median(values) if values else None

    rate = {s: {c: med(runs, "trials_per_hour") for c, runs in by_c.items()} for s, by_c in results.items()}
    loaded_over_idle = {s: _ratio(rate[s]["loaded"], rate[s]["idle"]) for s in SETTINGS}
    return {
        "trials_per_hour": rate,
        "trial_s_median": {
            s: {c: med(runs, "trial_s_median") for c, runs in by_c.items()} for s, by_c in results.items()
        },
        "wall_s": {s: {c: med(runs, "wall_s") for c, runs in by_c.items()} for s, by_c in results.items()},
        "loaded_over_idle": loaded_over_idle,
        "auto_over_old": {c: _ratio(rate["auto"][c], rate["old"][c]) for c in CONDITIONS},
        "resolved": {s: results[s]["idle"][0]["parallel_header"] if results[s]["idle"] else None for s in SETTINGS},
        "target_loaded_over_idle_met": None
        if loaded_over_idle["auto"] is None
        else loaded_over_idle["auto"] >= TARGET_LOADED_OVER_IDLE,
        "idle_not_slower": None
        if rate["auto"]["idle"] is None or rate["old"]["idle"] is None
        else rate["auto"]["idle"] >= rate["old"]["idle"],
    }


def _f(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def markdown(result: dict[str, Any]) -> str:
    s, m, size = result["summary"], result["machine"], result["settings"]
    lines = [
        f"# Contention: the parallel default vs the old default ({result['date']})",
        "",
        f"`{result['command']}` at commit {result['git_commit']}; {m['cpu']}, {m['cores']} cores, torch {m['torch']}. "
        f"Load average before / after: {result['load_avg_before_after'][0]} / {result['load_avg_before_after'][1]}. "
        f"{size['rounds']} round(s), medians; {size['trials']} trials x {size['epochs']} epochs per run, "
        f"{size['bars']} synthetic bars, {size['model']}; {result['bench_s'] / 60:.1f} min.",
        "",
        "| setting (what start resolved) | idle trials/h | loaded trials/h | loaded / idle | trial s idle / loaded | run s idle / loaded |",
        "|---|---|---|---|---|---|",
    ]
    for setting in SETTINGS:
        rate, trial_s, wall = s["trials_per_hour"][setting], s["trial_s_median"][setting], s["wall_s"][setting]
        lines.append(
            f"| {setting} ({s['resolved'][setting]}) | {_f(rate['idle'], '.0f')} | {_f(rate['loaded'], '.0f')} "
            f"| {_f(s['loaded_over_idle'][setting], '.2f')} | {_f(trial_s['idle'], '.2f')} / {_f(trial_s['loaded'], '.2f')} "
            f"| {_f(wall['idle'], '.1f')} / {_f(wall['loaded'], '.1f')} |"
        )
    lines.append(
        f"| auto / old | {_f(s['auto_over_old']['idle'], '.2f')} | {_f(s['auto_over_old']['loaded'], '.2f')} | | | |"
    )
    lines += [
        "",
        f"Target (issue 15): the default keeps >= {TARGET_LOADED_OVER_IDLE}x of its idle trials/hour with one "
        f"competing process: **{'met' if s['target_loaded_over_idle_met'] else 'not met'}**; its idle speed is "
        f"not below the old default's: **{'yes' if s['idle_not_slower'] else 'no'}**.",
        "",
        "Trials/hour = finished trials / (last trial end - first trial start) from the run's study; "
        "'loaded' = one busy-loop process beside the run. Per-run figures in the JSON.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke-test size: 8,000 bars, 10 trials, 1 round (~2 min)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the four cells (default 3; --quick 1)")
    parser.add_argument("--bars", type=int, default=None, help="synthetic bars (default 20000; --quick 8000)")
    parser.add_argument("--trials", type=int, default=None, help="trials per run (default 24; --quick 10)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path; the Markdown goes beside it (.md)")
    args = parser.parse_args()
    today = dt.date.today().isoformat()
    out = args.out or (
        common.BENCH_DIR / "out" / "contention-quick.json"
        if args.quick
        else common.BENCH_DIR / "results" / f"contention-{today}.json"
    )
    result = {
        "command": "python bench/bench_contention.py " + " ".join(sys.argv[1:]),
        "date": today,
        **run(quick=args.quick, rounds=args.rounds, bars=args.bars, trials=args.trials),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(common.rnd(result), indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
