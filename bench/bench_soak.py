"""Soak: kill -9 a run at random moments, resume it each time, and compare with a straight run.

    python bench/bench_soak.py [--kills 6] [--more-kills 0] [--more-trials 2] [--min-s 1] [--max-s 4] [--seed 0]
                               [--issue-size] [--out FILE.json]

1. Runs the config straight through once (`hyperopt start`).
2. Starts the same config again and, `--kills` times, waits until the process works on the
   run, then a random 1-4 s more (uniform between --min-s and --max-s), sends SIGKILL and starts `hyperopt resume`; the last resume runs to
   the end. Kills land anywhere: during startup, between ask and training, mid-epoch,
   between tell and the state write, in the final evaluation.
   With --more-kills K, both runs then get `resume --more-trials N`; the soaked one is killed
   K times during that extension and resumed with a plain `resume`.
3. Reports trials lost (trials left RUNNING or FAIL, and trial numbers the straight run
   never used) and whether every trial (params, value, intermediate values) and results.json
   (best params, test metrics, walk-forward, verdict) are identical to the straight run's.

Default: a tiny full run on synthetic bars (2 trials x 2 epochs per group) so the whole
soak takes a few minutes on 2 cores. --issue-size is issue 14's soak: a quick-sized full run
on ../shared/data/EURUSD_H1.csv, 4 trials x 3 epochs per group, seed 11 (about 20 minutes
straight on a busy 2-core machine, so budget an hour). Writes FILE.json and FILE.md (default
bench/results/soak-<date>.json/.md). The target is 0 lost and identical over 50 kills.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import common

TINY = {
    "mode": "full",
    "epochs_per_trial": 2,
    "max_trials_per_group": 2,
    "n_startup_trials": 1,
    "n_warmup_steps": 0,
    "seed": 11,
    "walk_forward_blocks": 2,
    "data": {"window": 8, "synthetic": {"n_bars": 3000}},
    "model": {"hidden_size": 8, "num_layers": 1},
    "trainer": {"batch_size": 64, "num_threads": 1, "checkpoint_interval_s": 0.5},
}
RESULT_KEYS = ("best_params", "best_value", "fixed_params", "test_metrics", "baselines", "walk_forward", "verdict")


def soak_config(issue_size: bool, eurusd: Path) -> dict[str, Any]:
    if not issue_size:
        return json.loads(json.dumps(TINY))
    raw = common.read_quick_yaml()
    raw.update(mode="full", max_trials_per_group=4, epochs_per_trial=3, seed=11)
    raw["data"] = {**raw.get("data", {}), "path": str(eurusd)}
    raw["data"].pop("synthetic", None)
    return raw


def hyperopt(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "hyperopt_cli", *map(str, args)]


def trial_table(run: Path) -> list[tuple[Any, ...]]:
    """(group, number, state, params, value, intermediate values) of every trial of a run, whatever its storage."""
    from hyperopt_cli.run.records import load_run_config
    from hyperopt_cli.search import storage

    cfg = load_run_config(run, for_display=True)
    rows = []
    for group in cfg.groups_to_run():
        try:
            study = storage.load_study(cfg, run, group)
        except KeyError:  # a group the run never began
            continue
        for t in study.get_trials(deepcopy=False):
            rows.append(
                (
                    group,
                    t.number,
                    t.state.name,
                    sorted(t.params.items()),
                    t.value,
                    sorted(t.intermediate_values.items()),
                )
            )
    return rows


def decided(run: Path) -> dict[str, Any]:
    results = json.loads((run / "results.json").read_text())
    return {key: results.get(key) for key in RESULT_KEYS}


def progress_of(run: Path) -> dict[str, Any]:
    try:
        state = json.loads((run / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    p = state.get("progress") or {}
    return {
        "status": state.get("status"),
        "group": p.get("current_group"),
        "trial": p.get("current_trial"),
        "epoch": p.get("current_epoch"),
    }


def owns_run(run: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Wait until state.json names `proc` as the run's process (or it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads((run / "state.json").read_text()).get("pid") == proc.pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)


def soak(
    run: Path, first: list[str], kills: int, rng: random.Random, lo: float, hi: float, log: Any
) -> tuple[list[dict[str, Any]], int]:
    """Run `first`, then kill -9 and resume `kills` times; returns where each kill landed and the last exit code."""
    landed: list[dict[str, Any]] = []
    proc = subprocess.Popen(first, stdout=log, stderr=log)
    while len(landed) < kills:
        owns_run(run, proc)  # the interval counts from when this process works on the run, not from its start
        wait = rng.uniform(lo, hi)
        try:
            code = proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None:  # finished (or failed) before the next kill was due
            if code != 0:
                return landed, code
            break
        where = progress_of(run)
        if where.get("status") == "completed":  # done, only exiting: nothing left to interrupt
            return landed, proc.wait()
        proc.kill()
        proc.wait()
        landed.append({"after_s": round(wait, 2), **where})
        print(f"kill {len(landed)}/{kills} after {wait:.1f} s at {where}", file=sys.stderr, flush=True)
        if progress_of(run).get("status") == "completed":  # it finished between the look and the kill
            return landed, 0
        proc = subprocess.Popen(hyperopt("resume", run), stdout=log, stderr=log)
    return landed, proc.wait()


def compare(straight: Path, soaked: Path) -> dict[str, Any]:
    a, b = trial_table(straight), trial_table(soaked)
    states_a = {(row[0], row[1]): row[2] for row in a}
    # Left RUNNING, or FAIL where the straight run's trial was not (a features trial with no input FAILs in both).
    unfinished = sum(
        1 for row in b if row[2] == "RUNNING" or (row[2] == "FAIL" and states_a.get((row[0], row[1])) != "FAIL")
    )
    keys_a = {(row[0], row[1]) for row in a}
    extra = sum(1 for row in b if (row[0], row[1]) not in keys_a)
    first_diff = next((f"{x[0]} trial {x[1]}: {x[3]} -> {y[3]}" for x, y in zip(a, b) if x != y), None)
    results_same = decided(straight) == decided(soaked)
    return {
        "trials_straight": len(a),
        "trials_soak": len(b),
        "trials_lost": unfinished + extra,
        "trials_identical": a == b,
        "results_identical": results_same,
        "identical": a == b and results_same,
        "first_difference": first_diff,
        "leftover_checkpoints": len(list((soaked / "checkpoints").glob("*.pt"))),
    }


def run(
    kills: int,
    seed: int,
    min_s: float,
    max_s: float,
    issue_size: bool,
    eurusd: Path,
    more_kills: int = 0,
    more_trials: int = 2,
) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        folder = Path(tmp)
        cfg = folder / "soak.yaml"
        cfg.write_text(yaml.safe_dump(soak_config(issue_size, eurusd)))
        with open(folder / "log.txt", "w") as log:
            started = time.perf_counter()
            subprocess.run(
                hyperopt("start", "--config", cfg, "--run-dir", folder / "straight"), stdout=log, stderr=log, check=True
            )
            straight_s = time.perf_counter() - started
            started = time.perf_counter()
            soaked = folder / "soak"
            landed, code = soak(
                soaked, hyperopt("start", "--config", cfg, "--run-dir", soaked), kills, rng, min_s, max_s, log
            )
            if code == 0 and more_kills:  # then `--more-trials` on both, the soaked one killed during it
                subprocess.run(
                    hyperopt("resume", folder / "straight", "--more-trials", more_trials),
                    stdout=log,
                    stderr=log,
                    check=True,
                )
                more, code = soak(
                    soaked, hyperopt("resume", soaked, "--more-trials", more_trials), more_kills, rng, min_s, max_s, log
                )
                landed += [{**kill, "during": "--more-trials"} for kill in more]
            soak_s = time.perf_counter() - started
        if code != 0:
            tail = (folder / "log.txt").read_text()[-2000:]
            raise RuntimeError(f"the last resume exited {code}:\n{tail}")
        sessions = json.loads((folder / "soak" / "state.json").read_text()).get("sessions")
        return {
            "config": "issue-size (EURUSD_H1, 4 trials x 3 epochs, seed 11)" if issue_size else "tiny synthetic",
            "kills_requested": kills + more_kills,
            "kills": len(landed),
            "more_trials": more_trials if more_kills else 0,
            "kills_during_more_trials": sum(1 for kill in landed if kill.get("during")),
            "interval_s": [min_s, max_s],
            "seed": seed,
            "sessions": sessions,
            "straight_s": round(straight_s, 1),
            "soak_s": round(soak_s, 1),
            **compare(folder / "straight", folder / "soak"),
            "landed": landed,
        }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Soak: kill -9 and resume",
        "",
        f"`{result['command']}` on {result['machine']['cpu']} ({result['machine']['cores']} cores), "
        f"config: {result['config']}",
        "",
        "| kills | sessions | trials (straight / soak) | trials lost | identical | leftover checkpoints | straight s | soak s |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result['kills']} | {result['sessions']} | {result['trials_straight']} / {result['trials_soak']} | "
        f"{result['trials_lost']} | {'yes' if result['identical'] else 'NO'} | {result['leftover_checkpoints']} | "
        f"{result['straight_s']} | {result['soak_s']} |",
        "",
        f"Kills during `--more-trials {result.get('more_trials', 0)}`: {result.get('kills_during_more_trials', 0)}",
    ]
    if result.get("first_difference"):
        lines += ["", f"First difference: {result['first_difference']}"]
    statuses: dict[str, int] = {}
    for kill in result["landed"]:
        where = (
            "no state yet"
            if kill.get("status") is None
            else (
                "between trials"
                if kill.get("trial") is None
                else ("in a trial" if kill.get("epoch") is None else "mid-training")
            )
        )
        statuses[where] = statuses.get(where, 0) + 1
    lines += ["", "Where the kills landed: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=6, help="kill -9s before the last resume (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill intervals")
    parser.add_argument("--min-s", type=float, default=1.0)
    parser.add_argument("--max-s", type=float, default=4.0)
    parser.add_argument("--issue-size", action="store_true", help="issue 14's soak config on EURUSD_H1")
    parser.add_argument("--eurusd", type=Path, default=common.DEFAULT_EURUSD)
    parser.add_argument(
        "--more-kills",
        type=int,
        default=0,
        help="then `resume --more-trials N` on both runs, the soaked one killed this many times",
    )
    parser.add_argument("--more-trials", type=int, default=2, help="N of that extension (default 2)")
    parser.add_argument("--quick", action="store_true", help="CI-sized: 2 kills")
    stamp = dt.date.today().isoformat()
    parser.add_argument("--out", type=Path, default=common.BENCH_DIR / "results" / f"soak-{stamp}.json")
    args = parser.parse_args()
    kills = 2 if args.quick else args.kills
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result = run(
        kills, args.seed, args.min_s, args.max_s, args.issue_size, args.eurusd, args.more_kills, args.more_trials
    )
    result = {
        "command": "python bench/bench_soak.py " + " ".join(sys.argv[1:]),
        "machine": common.machine_info(),
        **result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(common.rnd(result), indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
