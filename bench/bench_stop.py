"""Stop latency and resume time, measured on real `hyperopt` processes.

    python bench/bench_stop.py [--stops 20] [--bars 250000] [--out bench/out/stop.json]

1. Starts a run whose epochs take >= 30 s (250k synthetic bars, the default model).
2. Repeats `--stops` times: wait a random time into training (uniform over one epoch),
   send SIGINT, and time signal -> process exit; then `hyperopt resume` it again.
3. Reports p50/p95 of that latency next to what "stop after the current trial" would
   cost on the same run: the measured trial duration (epoch time x epochs_per_trial).
4. Resume time: from launching `hyperopt resume` to the first training step, measured
   inside a resume process whose first `_train_step` call records the time, as a ratio
   to the data preparation time (load + features + labels + split) in that same process.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--bars", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/out/stop.json"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    work = Path(tempfile.mkdtemp(prefix="bench_stop_"))
    run = work / "run"
    overrides = ["--set", f"data.synthetic.n_bars={args.bars}", "--set", "epochs_per_trial=4",
                 "--set", "max_trials_per_group=50", "--set", "convergence_patience=50"]
    log = open(work / "processes.log", "ab")

    # One uninterrupted epoch first, to know the epoch (and so trial) duration.
    proc = subprocess.Popen(hyperopt("start", "--mode", "quick", "--run-dir", str(run), *overrides),
                            env=env, stdout=log, stderr=log)
    wait_training(run, proc)
    start = time.monotonic()
    while (read_state(run).get("progress") or {}).get("current_epoch") is None:
        time.sleep(0.05)
    epoch_s = time.monotonic() - start
    print(f"first epoch: {epoch_s:.1f} s", flush=True)

    latencies: list[float] = []
    for i in range(args.stops):
        if i > 0:
            proc = subprocess.Popen(hyperopt("resume", str(run)), env=env, stdout=log, stderr=log)
            wait_training(run, proc)
            time.sleep(rng.uniform(0.0, epoch_s))
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        latencies.append(time.monotonic() - sent)
        print(f"stop {i + 1}/{args.stops}: {latencies[-1]:.2f} s (exit {proc.returncode})", flush=True)

    resume_runs = []
    for _ in range(3):
        timing_file = work / "resume_timing.json"
        t0 = time.time()
        subprocess.run([sys.executable, "-c", RESUME_PROBE, str(run), repr(t0), str(timing_file)],
                       env=env, stdout=log, stderr=log, timeout=600)
        resume_runs.append(json.loads(timing_file.read_text()))
    resume_s = statistics.median(r["first_step"] for r in resume_runs)
    prep_s = statistics.median(r["data_prep"] for r in resume_runs)

    trial_s = epoch_s * 4
    result = {
        "machine": f"{os.cpu_count()} cores, torch CPU",
        "bars": args.bars,
        "epoch_seconds": round(epoch_s, 2),
        "stops": args.stops,
        "stop_latency_s": {"p50": round(percentile(latencies, 0.5), 3), "p95": round(percentile(latencies, 0.95), 3),
                           "max": round(max(latencies), 3), "all": [round(x, 3) for x in latencies]},
        "stop_after_current_trial_s": {"expected_wait_mean": round(trial_s / 2, 1), "worst": round(trial_s, 1),
                                       "note": "a trial-boundary stop waits for the rest of the trial: "
                                               "uniform over one trial of 4 epochs"},
        "resume": {"to_first_training_step_s": round(resume_s, 2), "data_prep_s": round(prep_s, 2),
                   "ratio_to_data_prep": round(resume_s / prep_s, 2), "runs": resume_runs},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "resume"} | {"resume": {
        k: v for k, v in result["resume"].items() if k != "runs"}}, indent=2))


if __name__ == "__main__":
    main()
