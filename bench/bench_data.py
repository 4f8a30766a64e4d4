"""Time and memory of the data pipeline: generate, featurise, label, prepare, gather windows.

Each measurement runs in a fresh child process, so its peak resident memory (ru_maxrss)
is the honest number for that size alone. Also times loading a CSV of the largest size.

    python bench/bench_data.py [--bars 100000 1000000] [--out bench/out/data.json]

Panel mode (issue 24, several symbols in one run): N synthetic hourly symbols of `--bars`
bars each (different seeds, the same start), one fresh child per N, each one timing the
preparation a run does (features per symbol, labels, the same-time split, scaling: one
`prepare` and one `prepare_folds(3)`) and a few batches of window gathering, with its peak
RSS; plus a child that only imports the same modules (the memory floor). Target: 20 x 50,000
bars prepare in < 60 s and < 4 GB. `--profile` adds a cProfile of the largest panel's
preparation (top functions by cumulative and by own time) in one more child.

    python bench/bench_data.py --symbols 1 5 20 --bars 50000 [--scaling per_symbol|pooled] [--profile]
        -> bench/results/data-panel-DATE.json and .md
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
PANEL_FOLDS = 3  # selection folds prepared in panel mode (configs/default.yaml's selection_folds)
PANEL_BATCHES = 50  # shuffled training batches gathered in panel mode
PANEL_TARGET_S = 60.0  # issue 24: 20 x 50,000 bars prepare in under a minute...
PANEL_TARGET_MIB = 4 * 1024.0  # ...and under 4 GB


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
    from hyperopt_cli.data.features import compute_features
    from hyperopt_cli.data.labels import triple_barrier_labels
    from hyperopt_cli.data.prepare import DataPreparer
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


def panel_frames(n_symbols: int, n_bars: int) -> list[Any]:
    """`n_symbols` synthetic hourly symbols, SYM00.., different seeds, the same start (overlapping in time)."""
    from hyperopt_cli.data.synthetic import synthetic_ohlcv

    frames = []
    for s in range(n_symbols):
        frame = synthetic_ohlcv(n_bars, SEED + s, start="2020-01-01", freq="1h")
        frame.attrs["info"] = {"symbol": f"SYM{s:02d}", "source": f"SYM{s:02d}.csv"}
        frames.append(frame)
    return frames


def _gather_batches(segment: Any, n_batches: int) -> float:
    """Seconds per shuffled batch of `BATCH` windows (the median of `n_batches` gathers)."""
    order = np.random.default_rng(SEED).permutation(len(segment))
    times = []
    for i in range(n_batches):
        idx = order[(i * BATCH) % len(order) :][:BATCH]
        t = time.perf_counter()
        segment.windows(idx)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _prepare_panel(frames: list[Any], scaling: str) -> tuple[Any, Any, dict[str, float]]:
    """The preparation a run does: features, labels, split, scaling, the selection folds; seconds per step."""
    from hyperopt_cli.config import DataConfig, LabelsConfig
    from hyperopt_cli.data.prepare import DataPreparer

    seconds: dict[str, float] = {}
    lc = LabelsConfig()
    t = time.perf_counter()
    preparer = DataPreparer(frames, DataConfig(scaling=scaling))
    seconds["preparer_init_s"] = time.perf_counter() - t  # features per symbol, stacking
    t = time.perf_counter()
    data = preparer.prepare(lc)
    seconds["prepare_s"] = time.perf_counter() - t  # labels + same-time split + scaling
    t = time.perf_counter()
    folds = preparer.prepare_folds(lc, PANEL_FOLDS)
    seconds["prepare_folds_s"] = time.perf_counter() - t  # the earlier folds' own scaling
    seconds["preparation_s"] = seconds["preparer_init_s"] + seconds["prepare_s"] + seconds["prepare_folds_s"]
    return data, folds, seconds


def child_imports() -> dict[str, Any]:
    """Peak RSS of a child that only imports what a panel child imports (the memory floor)."""
    from hyperopt_cli.data.prepare import DataPreparer  # noqa: F401
    from hyperopt_cli.data.synthetic import synthetic_ohlcv  # noqa: F401

    return {"peak_rss_mib": _peak_mib()}


def child_panel(n_symbols: int, n_bars: int, scaling: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "symbols": n_symbols,
        "bars_per_symbol": n_bars,
        "bars": n_symbols * n_bars,
        "scaling": scaling,
    }
    t = time.perf_counter()
    frames = panel_frames(n_symbols, n_bars)
    out["generate_s"] = time.perf_counter() - t
    data, folds, seconds = _prepare_panel(frames, scaling)
    out.update(seconds)
    out["samples"] = {name: len(getattr(data, name)) for name in ("train", "val", "test")}
    out["n_features"] = data.n_features
    out["fold_train_samples"] = [len(f.train) for f in folds]
    out["batch_gather_ms"] = 1e3 * _gather_batches(data.train, PANEL_BATCHES)
    out["batch_gather_last_fold_ms"] = 1e3 * _gather_batches(folds[0].train, PANEL_BATCHES)
    out["materialised_windows_gib"] = sum(out["samples"].values()) * data.train.window * data.n_features * 4 / 2**30
    out["peak_rss_mib"] = _peak_mib()
    return out


def child_profile_panel(n_symbols: int, n_bars: int, scaling: str, top: int = 15) -> dict[str, Any]:
    """cProfile of one panel preparation (generation excluded): the top functions by cumulative and own time."""
    import cProfile
    import pstats

    import hyperopt_cli.data.prepare  # noqa: F401  (imported before the profiler starts)

    frames = panel_frames(n_symbols, n_bars)
    profiler = cProfile.Profile()
    profiler.enable()
    _prepare_panel(frames, scaling)
    profiler.disable()
    stats = pstats.Stats(profiler)

    def rows(key: str) -> list[dict[str, Any]]:
        entries = sorted(stats.stats.items(), key=lambda kv: kv[1][3 if key == "cumulative" else 2], reverse=True)
        return [
            {
                "function": f"{Path(f).name}:{line}({name})",
                "calls": nc,
                "own_s": round(tt, 3),
                "cumulative_s": round(ct, 3),
            }
            for (f, line, name), (_cc, nc, tt, ct, _callers) in entries[:top]
        ]

    return {
        "symbols": n_symbols,
        "bars_per_symbol": n_bars,
        "by_cumulative": rows("cumulative"),
        "by_own": rows("own"),
        "peak_rss_mib": _peak_mib(),
    }


def panel_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"## Data preparation, several symbols ({report['bars_per_symbol']:,} hourly bars each, "
        f"scaling {report['scaling']})",
        "",
        f"Each row is a fresh child process; preparation = features + labels + split + scaling, one `prepare` "
        f"and one `prepare_folds({PANEL_FOLDS})` (generation of the synthetic bars apart). Peak RSS of a child "
        f"that only imports the same modules: {report['imports_peak_rss_mib']:.0f} MiB.",
        "",
        "| symbols | bars | generate s | features s | prepare s | folds s | **preparation s** | peak RSS MiB "
        "| train samples | batch of 256 windows ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["panel"]:
        lines.append(
            f"| {r['symbols']} | {r['bars']:,} | {r['generate_s']:.2f} | {r['preparer_init_s']:.2f} "
            f"| {r['prepare_s']:.2f} | {r['prepare_folds_s']:.2f} | **{r['preparation_s']:.2f}** "
            f"| {r['peak_rss_mib']:.0f} | {r['samples']['train']:,} | {r['batch_gather_ms']:.2f} |"
        )
    t = report.get("target")
    largest = max(report["panel"], key=lambda r: r["symbols"])
    if t:
        lines += [
            "",
            f"Target (issue 24): {t['symbols']} x {t['bars_per_symbol']:,} bars in < {PANEL_TARGET_S:.0f} s "
            f"and < {PANEL_TARGET_MIB / 1024:.0f} GB: preparation {t['preparation_s']:.1f} s "
            f"(with generation {t['with_generation_s']:.1f} s), peak RSS {t['peak_rss_mib']:.0f} MiB: "
            f"**{'met' if t['met'] else 'missed'}**. Copying every sample's window instead would take "
            f"{largest['materialised_windows_gib']:.1f} GiB.",
        ]
    if report.get("profile"):
        lines += [
            "",
            f"cProfile of the {report['profile']['symbols']}-symbol preparation, top by cumulative time:",
            "",
            "| function | calls | own s | cumulative s |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{r['function']}` | {r['calls']} | {r['own_s']} | {r['cumulative_s']} |"
            for r in report["profile"]["by_cumulative"]
        ]
    lines += [
        "",
        f"Machine: {report['machine']}; load average before/after {report['load_avg_before']} / "
        f"{report['load_avg_after']}; commit {report.get('commit')}.",
    ]
    return "\n".join(lines) + "\n"


def run_panel(symbols: list[int], n_bars: int, scaling: str, profile: bool) -> dict[str, Any]:
    import datetime
    import os

    import common

    report: dict[str, Any] = {
        "bars_per_symbol": n_bars,
        "scaling": scaling,
        "folds": PANEL_FOLDS,
        "machine": f"{common.cpu_model()}, {len(os.sched_getaffinity(0))} cores, {common.mem_total_gib()} GiB",
        "python": platform.python_version(),
        "commit": common.git_commit(),
        "load_avg_before": common.load_avg(),
        "panel": [],
    }
    report["imports_peak_rss_mib"] = _run_child("imports")["peak_rss_mib"]
    for n in symbols:
        result = _run_child("panel", str(n), str(n_bars), scaling)
        report["panel"].append(result)
        print(json.dumps(result), flush=True)
    largest = max(report["panel"], key=lambda r: r["symbols"])
    if largest["symbols"] >= 20:
        report["target"] = {
            "symbols": largest["symbols"],
            "bars_per_symbol": n_bars,
            "preparation_s": largest["preparation_s"],
            "with_generation_s": largest["preparation_s"] + largest["generate_s"],
            "peak_rss_mib": largest["peak_rss_mib"],
            "met": bool(largest["preparation_s"] < PANEL_TARGET_S and largest["peak_rss_mib"] < PANEL_TARGET_MIB),
        }
    if profile:
        report["profile"] = _run_child("profile_panel", str(largest["symbols"]), str(n_bars), scaling)
    report["load_avg_after"] = common.load_avg()
    out = common.BENCH_DIR / "results" / f"data-panel-{datetime.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(common.rnd(report), indent=2) + "\n")
    out.with_suffix(".md").write_text(panel_markdown(report))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return report


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
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bars",
        type=int,
        nargs="+",
        default=None,
        help="bar counts (default 100000 1000000); panel mode: bars per symbol (default 50000)",
    )
    parser.add_argument("--quick", action="store_true", help="CI-sized: 20,000 bars (default bar counts only)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/data.json"))
    parser.add_argument(
        "--symbols",
        type=int,
        nargs="+",
        default=None,
        help="panel mode: symbol counts, each x --bars bars (e.g. --symbols 1 5 20 --bars 50000)",
    )
    parser.add_argument(
        "--scaling", choices=("per_symbol", "pooled"), default="per_symbol", help="panel mode's data.scaling"
    )
    parser.add_argument("--profile", action="store_true", help="panel mode: cProfile the largest panel's preparation")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "imports":
            result = child_imports()
        elif kind == "panel":
            result = child_panel(int(rest[0]), int(rest[1]), rest[2])
        elif kind == "profile_panel":
            result = child_profile_panel(int(rest[0]), int(rest[1]), rest[2])
        elif kind == "synthetic":
            result = child_synthetic(int(rest[0]))
        elif kind == "write_csv":
            result = child_write_csv(int(rest[0]), rest[1])
        else:
            result = child_csv(rest[0])
        print(json.dumps(result))
        return
    if args.symbols:
        run_panel(args.symbols, args.bars[0] if args.bars else 50_000, args.scaling, args.profile)
        return
    args.bars = args.bars or ([20_000] if args.quick else [100_000, 1_000_000])

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
