"""Stop latency and resume time, measured on real `hyperopt` processes, idle or under load.

    python bench/bench_stop.py [--stops 20] [--bars 250000] [--competing N] [--quick] [--out bench/out/stop.json]

1. Starts a run whose epochs take >= 30 s (250k synthetic bars, the default model;
   --quick: 30k bars, epochs of ~10 s idle, ~16 s beside one busy loop on 2 cores).
   The run uses whatever parallelism `start` picks; the JSON records it.
2. Repeats `--stops` times: wait a random time into training (uniform over one epoch),
   send SIGINT, and time signal -> process exit; then `hyperopt resume` it again.
3. Reports p50/p95 of that latency next to what "stop after the current trial" would
   cost on the same run: the measured trial duration (epoch time x epochs_per_trial).
4. Resume time: from launching `hyperopt resume` to the first training step, measured
   inside a resume process whose first `_train_step` call records the time, as a ratio
   to the data preparation time (load + features + labels + split) in that same process
   (3 resumes; 1 with --quick).

--competing N runs N CPU-bound busy-loop processes (common.BUSY_LOOP, the issue's
`python3 -c "while True: pass"`) through all of it: started before the first run, killed
at the end, also on error. Target (issue 15): stop p95 < 2 s with --competing 1.
"""

from __future__ import annotations

import argparse
import contextlib
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

import common

QUICK_BARS = 30_000
EPOCHS = 4
TARGET_P95_S = 2.0

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


def read_state(run: Path) -> dict[str, Any]:
    try:
        return json.loads((run / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_training(run: Path, proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    """Until the run is in a trial (state.json names a current trial)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"run exited early with {proc.returncode}")
        progress = read_state(run).get("progress") or {}
        if read_state(run).get("status") == "running" and progress.get("current_trial") is not None:
            return
        time.sleep(0.05)
    raise TimeoutError("run never started training")


def hyperopt(*args: str) -> list[str]:
    return [sys.executable, "-m", "hyperopt_cli", *args]


@contextlib.contextmanager
def owned(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """`proc` (started in a session of its own), and on an error its whole process group killed."""
    try:
        yield proc
    except BaseException:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise


def launch(args: list[str], env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    # A session of its own: a failed bench can kill the run together with its local workers.
    return subprocess.Popen(hyperopt(*args), env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def first_epoch(run: Path, overrides: list[str], env: dict[str, str], log: Any) -> tuple[subprocess.Popen[bytes], float]:
    """Start the run and time its first uninterrupted epoch (so the trial duration is known)."""
    proc = launch(["start", "--mode", "quick", "--run-dir", str(run), *overrides], env, log)
    with owned(proc):
        wait_training(run, proc)
        start = time.monotonic()
        while (read_state(run).get("progress") or {}).get("current_epoch") is None:
            if proc.poll() is not None:
                raise RuntimeError(f"run exited early with {proc.returncode}")
            time.sleep(0.05)
    return proc, time.monotonic() - start


def stop_latencies(run: Path, proc: subprocess.Popen[bytes], stops: int, epoch_s: float, rng: random.Random,
                   env: dict[str, str], log: Any) -> list[float]:
    """SIGINT at a random moment of an epoch, time signal -> exit, resume; `stops` times."""
    latencies: list[float] = []
    for i in range(stops):
        if i > 0:
            proc = launch(["resume", str(run)], env, log)
        with owned(proc):
            if i > 0:
                wait_training(run, proc)
                time.sleep(rng.uniform(0.0, epoch_s))
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
        latencies.append(time.monotonic() - sent)
        print(f"stop {i + 1}/{stops}: {latencies[-1]:.2f} s (exit {proc.returncode})", flush=True)
    return latencies


def resume_probes(run: Path, work: Path, n: int, env: dict[str, str], log: Any) -> list[dict[str, float]]:
    runs = []
    for _ in range(n):
        timing_file = work / "resume_timing.json"
        t0 = time.time()
        subprocess.run([sys.executable, "-c", RESUME_PROBE, str(run), repr(t0), str(timing_file)],
                       env=env, stdout=log, stderr=log, timeout=600, start_new_session=True)
        runs.append(json.loads(timing_file.read_text()))
    return runs


def resolved_parallel(run: Path) -> dict[str, Any]:
    """What `start` chose for this run (its frozen config.yaml)."""
    import yaml

    raw = yaml.safe_load((run / "config.yaml").read_text()) or {}
    return {"workers": raw.get("workers"), "num_threads": (raw.get("trainer") or {}).get("num_threads"),
            "storage_url": raw.get("storage_url")}


def measure(args: argparse.Namespace, bars: int, work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = work / "run"
    overrides = ["--set", f"data.synthetic.n_bars={bars}", "--set", f"epochs_per_trial={EPOCHS}",
                 "--set", "max_trials_per_group=50", "--set", "convergence_patience=50"]
    with open(work / "processes.log", "ab") as log:
        proc, epoch_s = first_epoch(run, overrides, env, log)
        print(f"first epoch: {epoch_s:.1f} s", flush=True)
        latencies = stop_latencies(run, proc, args.stops, epoch_s, rng, env, log)
        probes = resume_probes(run, work, 1 if args.quick else 3, env, log)
    resume_s = statistics.median(r["first_step"] for r in probes)
    prep_s = statistics.median(r["data_prep"] for r in probes)
    trial_s = epoch_s * EPOCHS
    return {
        "parallel": resolved_parallel(run),
        "epoch_seconds": round(epoch_s, 2),
        "stop_latency_s": {"p50": round(percentile(latencies, 0.5), 3), "p95": round(percentile(latencies, 0.95), 3),
                           "max": round(max(latencies), 3), "all": [round(x, 3) for x in latencies]},
        "stop_after_current_trial_s": {"expected_wait_mean": round(trial_s / 2, 1), "worst": round(trial_s, 1),
                                       "note": "a trial-boundary stop waits for the rest of the trial: "
                                               f"uniform over one trial of {EPOCHS} epochs"},
        "resume": {"to_first_training_step_s": round(resume_s, 2), "data_prep_s": round(prep_s, 2),
                   "ratio_to_data_prep": round(resume_s / prep_s, 2), "runs": probes},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--bars", type=int, default=None, help=f"synthetic bars (default 250000; --quick {QUICK_BARS})")
    parser.add_argument("--competing", type=int, default=0, help="CPU-bound busy-loop processes running throughout")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_BARS} bars and one resume probe")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/out/stop.json"))
    args = parser.parse_args()
    bars = args.bars or (QUICK_BARS if args.quick else 250_000)
    load_before = common.load_avg()
    work = Path(tempfile.mkdtemp(prefix="bench_stop_"))
    with common.busy_loops(args.competing) as busy:
        print(f"competing busy loops: {busy or 'none'}; run and logs in {work}", flush=True)
        measured = measure(args, bars, work)
    shutil.rmtree(work, ignore_errors=True)  # kept when the bench fails: processes.log says why
    result = {
        "command": "python bench/bench_stop.py " + " ".join(sys.argv[1:]),
        "git_commit": common.git_commit(),
        "machine": f"{common.cpu_model()}, {os.cpu_count()} cores, torch CPU",
        "load_avg_before_after": [load_before, common.load_avg()],
        "competing_processes": args.competing,
        "bars": bars,
        "epochs_per_trial": EPOCHS,
        "stops": args.stops,
        **measured,
    }
    result["target_p95_below_2s_met"] = result["stop_latency_s"]["p95"] < TARGET_P95_S
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "resume"} | {"resume": {
        k: v for k, v in result["resume"].items() if k != "runs"}}, indent=2))


if __name__ == "__main__":
    main()
