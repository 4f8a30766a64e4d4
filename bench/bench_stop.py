"""Stop latency, idle and beside busy processes, for this code and a baseline in the same run.

    python bench/bench_stop.py [--stops 8] [--competing 0,2] [--baseline REF|none] [--owner-kills 3]
                               [--bars 30000] [--resume-probes 1] [--out bench/results/stop-DATE.json]

1. Two variants: this working tree ("current") and `--baseline REF` (default: the last commit
   before issue 33's fixes, its `src/` unpacked with `git archive` into the bench's temp folder
   and put first on PYTHONPATH). Each variant gets its own run: `start --mode quick` with
   `--bars` synthetic bars (epochs of ~10 s idle on 2 cores) and whatever parallelism
   `start` picks (2 workers on 2 cores; the JSON records it).
2. Rounds: in each, for each load in `--competing` (busy-loop processes, common.BUSY_LOOP,
   started for that measurement and killed after), for each variant: resume the run, wait
   until the owner and its local workers train, wait a random time (uniform 0-3 s), send
   SIGINT to the owner and time signal -> the last process of the run gone (owner and
   workers). So the variants and loads share the machine's conditions, round by round.
3. `--owner-kills N`: N times per variant, resume, `kill -9` the owner and time until the
   last of its workers is gone (at most 30 s, then they are killed and the time is `>30`).
4. `--resume-probes N` (current only): from launching `hyperopt resume` to the first training
   step, beside the data preparation time measured in the same process.

Writes the JSON and a Markdown table (p50/p95/max per variant and load, the ratio current /
baseline, the issue's target: p95 < 2 s beside two busy processes). The load average of the
machine is recorded before and after: on a shared machine "idle" means no busy loop of ours.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

import common

BARS = 30_000
EPOCHS = 4
TARGET_P95_S = 2.0
TARGET_COMPETING = 2
KILL_WAIT_S = 30.0
BASELINE_REF = (
    "616c26c"  # the commit issue 33 started from: neither quick_exit (item 6) nor workers dying with the owner (item 5)
)

RESUME_PROBE = r"""
import os, sys, time, signal
run_dir, t0, timing_path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
import hyperopt_cli.training.trainer as trainer
import hyperopt_cli.run.optimizer as optimizer
import hyperopt_cli.data.prepare as dataset
timings = {}
original_step = trainer._train_step
def first_step(*args, **kwargs):
    if "first_step" not in timings:
        timings["first_step"] = time.time() - t0
        with open(timing_path, "w") as fh:
            import json; json.dump(timings, fh)
        os.kill(os.getpid(), signal.SIGINT)
    return original_step(*args, **kwargs)
trainer._train_step = first_step
original_load = optimizer.load_data
def timed_load(cfg):
    start = time.time()
    ohlcv = original_load(cfg)
    prep = dataset.DataPreparer(ohlcv, cfg.data)
    prep.prepare(cfg.labels)
    timings["data_prep"] = time.time() - start
    return ohlcv
optimizer.load_data = timed_load
from hyperopt_cli.cli import main
sys.argv = ["hyperopt", "resume", run_dir]
main()
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.5), 3),
        "p95": round(percentile(values, 0.95), 3),
        "max": round(max(values), 3),
        "all": [round(x, 3) for x in values],
    }


def read_state(run: Path) -> dict[str, Any]:
    try:
        return json.loads((run / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def resolved_parallel(run: Path) -> dict[str, Any]:
    import yaml

    raw = yaml.safe_load((run / "config.yaml").read_text()) or {}
    return {
        "workers": raw.get("workers"),
        "num_threads": (raw.get("trainer") or {}).get("num_threads"),
        "storage_url": raw.get("storage_url"),
    }


class Variant:
    """One code version: its environment (PYTHONPATH for the baseline) and its own run directory."""

    def __init__(self, name: str, env: dict[str, str], run: Path, log: Any, cwd: Path) -> None:
        self.name, self.env, self.run, self.log, self.cwd = name, env, run, log, cwd  # cwd: its configs/default.yaml

    def launch(self, *args: str) -> subprocess.Popen[bytes]:
        # A session of its own: a failed bench kills the run together with its local workers.
        return subprocess.Popen(
            [sys.executable, "-m", "hyperopt_cli", *args],
            env=self.env,
            stdout=self.log,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.cwd,
        )

    def start_or_resume(self, overrides: list[str]) -> subprocess.Popen[bytes]:
        if (self.run / "config.yaml").is_file():
            return self.launch("resume", str(self.run))
        return self.launch("start", "--mode", "quick", "--run-dir", str(self.run), *overrides)

    def wait_training(self, proc: subprocess.Popen[bytes], timeout: float = 600) -> list[psutil.Process]:
        """Until the owner trains and every local worker it started is registered; the run's processes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name}: the run exited early with {proc.returncode} ({self.log.name})")
            state = read_state(self.run)
            progress = state.get("progress") or {}
            children = psutil.Process(proc.pid).children(recursive=True)
            registered = list((self.run / "workers").glob("*.json")) if (self.run / "workers").is_dir() else []
            want = (
                max(0, int(resolved_parallel(self.run).get("workers") or 1) - 1)
                if (self.run / "config.yaml").is_file()
                else None
            )
            # This session's state (a kill -9 leaves the last one "running"), its workers started and registered.
            if (
                state.get("status") == "running"
                and state.get("pid") == proc.pid
                and progress.get("current_epoch") is not None
                and want is not None
                and len(children) >= want
                and len(registered) >= want
            ):
                return [psutil.Process(proc.pid), *children]
            time.sleep(0.05)
        raise TimeoutError(f"{self.name}: the run never trained")


def gone_after(procs: list[psutil.Process], since: float, limit: float) -> float | None:
    """Seconds from `since` until every process in `procs` is gone; None past `limit` (then they are killed)."""
    _, alive = psutil.wait_procs(procs, timeout=max(0.0, since + limit - time.monotonic()))
    if alive:
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(alive, timeout=10)
        return None
    return time.monotonic() - since


@contextlib.contextmanager
def owned(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """`proc`, and on an error its whole process group killed."""
    try:
        yield proc
    except BaseException:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise


def one_stop(variant: Variant, overrides: list[str], rng: random.Random) -> float:
    proc = variant.start_or_resume(overrides)
    with owned(proc):
        procs = variant.wait_training(proc)
        time.sleep(rng.uniform(0.0, 3.0))
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        took = gone_after(procs, sent, 120.0)
        proc.wait()
    if took is None:
        raise RuntimeError(f"{variant.name}: a stopped run was still alive after 120 s")
    return took


def one_owner_kill(variant: Variant, overrides: list[str]) -> float | None:
    proc = variant.start_or_resume(overrides)
    with owned(proc):
        procs = variant.wait_training(proc)
        workers = procs[1:]
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return gone_after(workers, killed, KILL_WAIT_S) if workers else 0.0


def resume_probes(variant: Variant, work: Path, n: int) -> list[dict[str, float]]:
    runs = []
    for _ in range(n):
        timing_file = work / "resume_timing.json"
        t0 = time.time()
        subprocess.run(
            [sys.executable, "-c", RESUME_PROBE, str(variant.run), repr(t0), str(timing_file)],
            env=variant.env,
            stdout=variant.log,
            stderr=variant.log,
            timeout=600,
            start_new_session=True,
            cwd=variant.cwd,
        )
        runs.append(json.loads(timing_file.read_text()))
    return runs


def baseline_tree(ref: str, work: Path) -> Path:
    """`src/` and `configs/` of commit `ref`, unpacked from git (no worktree, nothing written into the repository)."""
    target = work / "baseline"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref, "src", "configs"], cwd=common.REPO, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    overrides = [
        "--set",
        f"data.synthetic.n_bars={args.bars}",
        "--set",
        f"epochs_per_trial={EPOCHS}",
        "--set",
        "max_trials_per_group=200",
        "--set",
        "convergence_patience=200",
    ]
    logs = {}
    variants = []
    names = ["current"] + ([] if args.baseline == "none" else ["baseline"])
    for name in names:
        env, cwd = dict(base_env), common.REPO
        if name == "baseline":
            cwd = baseline_tree(args.baseline, work)
            env["PYTHONPATH"] = os.pathsep.join([str(cwd / "src"), env.get("PYTHONPATH", "")])
        logs[name] = open(work / f"{name}.log", "ab")
        variants.append(Variant(name, env, work / f"run-{name}", logs[name], cwd))
    loads = [int(x) for x in args.competing.split(",")]
    stops: dict[str, dict[int, list[float]]] = {v.name: {n: [] for n in loads} for v in variants}
    load_avgs = []
    try:
        for r in range(args.stops):
            for n in loads:
                with common.busy_loops(n):
                    for v in variants if r % 2 == 0 else variants[::-1]:  # alternate who goes first
                        took = one_stop(v, overrides, rng)
                        stops[v.name][n].append(took)
                        print(f"round {r + 1}/{args.stops} competing {n} {v.name}: {took:.2f} s", flush=True)
                    load_avgs.append(common.load_avg())
        kills: dict[str, list[float | None]] = {v.name: [] for v in variants}
        for _ in range(args.owner_kills):
            for v in variants:
                kills[v.name].append(one_owner_kill(v, overrides))
                print(f"kill -9 of the owner, {v.name}: last worker gone after {kills[v.name][-1]}", flush=True)
        current = variants[0]
        probes = resume_probes(current, work, args.resume_probes) if args.resume_probes else []
    finally:
        for log in logs.values():
            log.close()
    out: dict[str, Any] = {
        "parallel": {v.name: resolved_parallel(v.run) for v in variants},
        "stop_latency_s": {
            v: {f"competing_{n}": summary(values) for n, values in by_load.items()} for v, by_load in stops.items()
        },
        "owner_kill_to_last_worker_gone_s": {
            v: {
                "all": [None if x is None else round(x, 3) for x in xs],
                "max": None if any(x is None for x in xs) or not xs else round(max(x for x in xs if x is not None), 3),
                "over_limit": sum(x is None for x in xs),
                "limit_s": KILL_WAIT_S,
            }
            for v, xs in kills.items()
        },
        "load_avg_during": load_avgs,
    }
    if probes:
        resume_s = statistics.median(p["first_step"] for p in probes)
        prep_s = statistics.median(p["data_prep"] for p in probes)
        out["resume"] = {
            "to_first_training_step_s": round(resume_s, 2),
            "data_prep_s": round(prep_s, 2),
            "ratio_to_data_prep": round(resume_s / prep_s, 2),
            "runs": probes,
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    lat = result["stop_latency_s"]
    lines = [
        f"# Stop latency, current vs baseline ({result['date']})",
        "",
        f"`{result['command']}` at commit {result['git_commit']}; baseline `{result['baseline']}`; "
        f"{result['machine']}. Load average before / after: {result['load_avg_before_after'][0]} / "
        f'{result["load_avg_before_after"][1]} (a shared machine: "competing 0" means no busy loop of ours). '
        f"{result['bars']} synthetic bars, {EPOCHS} epochs a trial, parallelism as `start` picks it: "
        f"{result['parallel'].get('current')}.",
        "",
        "SIGINT to the owner -> the last process of the run gone (owner and its local workers), seconds:",
        "",
        "| variant | busy processes | n | p50 | p95 | max |",
        "|---|---|---|---|---|---|",
    ]
    for variant, by_load in lat.items():
        for load, s in by_load.items():
            lines.append(
                f"| {variant} | {load.split('_')[1]} | {s.get('n')} | {s.get('p50')} | {s.get('p95')} | "
                f"{s.get('max')} |"
            )
    if "baseline" in lat:
        lines += ["", "| busy processes | p50 current / baseline | p95 current / baseline |", "|---|---|---|"]
        for load in lat["current"]:
            c, b = lat["current"][load], lat["baseline"][load]
            if c.get("n") and b.get("n"):
                lines.append(f"| {load.split('_')[1]} | {c['p50'] / b['p50']:.2f} | {c['p95'] / b['p95']:.2f} |")
    lines += [
        "",
        f"kill -9 of the owner -> its last worker gone, seconds (limit {KILL_WAIT_S:g} s, then killed by the bench):",
        "",
    ]
    for variant, k in result["owner_kill_to_last_worker_gone_s"].items():
        shown = ", ".join(">30" if x is None else f"{x:.2f}" for x in k["all"])
        lines.append(f"- {variant}: {shown or '-'}")
    target = result.get("target_p95_below_2s_with_2_busy_met")
    lines += [
        "",
        f"Target (issue 33): stop p95 < {TARGET_P95_S:g} s beside {TARGET_COMPETING} busy processes: "
        f"**{'met' if target else 'not met' if target is not None else 'not measured'}**.",
    ]
    if result.get("resume"):
        r = result["resume"]
        lines += [
            "",
            f"Resume to the first training step: {r['to_first_training_step_s']} s "
            f"({r['ratio_to_data_prep']} x the data preparation, {r['data_prep_s']} s).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=8, help="rounds (each: every load x every variant)")
    parser.add_argument("--competing", default=f"0,{TARGET_COMPETING}", help="busy-loop counts, comma separated")
    parser.add_argument("--baseline", default=BASELINE_REF, help="git ref of the baseline, or none")
    parser.add_argument("--owner-kills", type=int, default=3)
    parser.add_argument("--resume-probes", type=int, default=1)
    parser.add_argument("--bars", type=int, default=BARS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: bench/results/stop-DATE.json)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds, 1 owner kill, no resume probe")
    args = parser.parse_args()
    if args.quick:
        args.stops, args.owner_kills, args.resume_probes = 2, 1, 0
    load_before = common.load_avg()
    work = Path(tempfile.mkdtemp(prefix="bench_stop_"))
    print(f"runs and logs in {work}", flush=True)
    measured = measure(args, work)
    shutil.rmtree(work, ignore_errors=True)  # kept when the bench fails: the logs say why
    today = datetime.date.today().isoformat()
    result = {
        "command": "python bench/bench_stop.py " + " ".join(sys.argv[1:]),
        "date": today,
        "git_commit": common.git_commit(),
        "baseline": args.baseline,
        "machine": f"{common.cpu_model()}, {os.cpu_count()} cores, torch CPU",
        "load_avg_before_after": [load_before, common.load_avg()],
        "bars": args.bars,
        "epochs_per_trial": EPOCHS,
        **measured,
    }
    loaded = result["stop_latency_s"]["current"].get(f"competing_{TARGET_COMPETING}") or {}
    result["target_p95_below_2s_with_2_busy_met"] = loaded["p95"] < TARGET_P95_S if loaded.get("n") else None
    out = args.out or common.BENCH_DIR / "results" / f"stop-{today}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
