"""Time and memory of the data pipeline: generate, featurise, label, prepare, gather windows.

Each measurement runs in a fresh child process, so its peak resident memory (ru_maxrss)
is the honest number for that size alone. Also times loading a CSV of the largest size.

    python bench/bench_data.py [--bars 100000 1000000] [--out bench/out/data.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 256  # training batch size used for the window-gathering pass
SEED = 0  # synthetic data seed


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _window_pass(data: Any) -> float:
    """One shuffled epoch of batch gathers over the train segment, in seconds."""
    order = np.random.default_rng(SEED).permutation(len(data.train))
    start = time.perf_counter()
    for i in range(0, len(order), BATCH):
        data.train.windows(order[i : i + BATCH])
    return time.perf_counter() - start


def child_synthetic(n_bars: int) -> dict[str, Any]:
    from hyperopt_cli.config import DataConfig, LabelsConfig
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.data.features import compute_features
    from hyperopt_cli.data.labels import triple_barrier_labels
    from hyperopt_cli.data.synthetic import synthetic_ohlcv

    out: dict[str, Any] = {"bars": n_bars}
    t = time.perf_counter()
    df = synthetic_ohlcv(n_bars, SEED)
    out["generate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    x, _ = compute_features(df)
    out["featurise_s"] = time.perf_counter() - t
    del x
    lc = LabelsConfig()
    t = time.perf_counter()
    triple_barrier_labels(df["close"].to_numpy(), lc)
    out["label_s"] = time.perf_counter() - t
    t = time.perf_counter()
    preparer = DataPreparer(df, DataConfig())
    out["preparer_init_s"] = time.perf_counter() - t  # features, once per process
    t = time.perf_counter()
    data = preparer.prepare(lc)
    out["prepare_s"] = time.perf_counter() - t  # labels + split + scaling
    t = time.perf_counter()
    preparer.prepare(lc)
    out["prepare_cached_s"] = time.perf_counter() - t
    out["train_window_epoch_s"] = _window_pass(data)
    out["samples"] = {name: len(getattr(data, name)) for name in ("train", "val", "test")}
    out["materialised_windows_gib"] = sum(out["samples"].values()) * 32 * data.n_features * 4 / 2**30
    out["pipeline_s"] = out["generate_s"] + out["preparer_init_s"] + out["prepare_s"]
    out["peak_rss_mib"] = _peak_mib()
    return out


def child_write_csv(n_bars: int, path: str) -> dict[str, Any]:
    from hyperopt_cli.data.synthetic import synthetic_ohlcv

    t = time.perf_counter()
    synthetic_ohlcv(n_bars, SEED).to_csv(path)
    return {"write_csv_s": time.perf_counter() - t, "csv_mib": Path(path).stat().st_size / 2**20}


def child_csv(path: str) -> dict[str, Any]:
    from hyperopt_cli.config import DataConfig, LabelsConfig
    from hyperopt_cli.data.load import load_ohlcv
    from hyperopt_cli.data.prepare import DataPreparer

    out: dict[str, Any] = {}
    start = t = time.perf_counter()
    df = load_ohlcv(path)
    out["load_csv_s"] = time.perf_counter() - t
    out["bars"] = len(df)
    t = time.perf_counter()
    preparer = DataPreparer(df, DataConfig())
    out["preparer_init_s"] = time.perf_counter() - t
    t = time.perf_counter()
    data = preparer.prepare(LabelsConfig())
    out["prepare_s"] = time.perf_counter() - t
    out["train_window_epoch_s"] = _window_pass(data)
    out["load_to_windows_s"] = time.perf_counter() - start  # loaded+featurised+labelled+windowed
    out["peak_rss_mib"] = _peak_mib()
    return out


def _run_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=Path("bench/out/data.json"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "synthetic":
            result = child_synthetic(int(rest[0]))
        elif kind == "write_csv":
            result = child_write_csv(int(rest[0]), rest[1])
        else:
            result = child_csv(rest[0])
        print(json.dumps(result))
        return

    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": len(__import__("os").sched_getaffinity(0)),
        "synthetic": [],
    }
    for n in args.bars:
        result = _run_child("synthetic", str(n))
        report["synthetic"].append(result)
        print(json.dumps(result))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bars.csv")
        n = max(args.bars)
        csv_result = {**_run_child("write_csv", str(n), path), **_run_child("csv", path)}
        report["csv"] = csv_result
        print(json.dumps(csv_result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
