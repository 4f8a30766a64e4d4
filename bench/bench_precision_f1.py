"""Does bf16 training cost model quality? Pooled walk-forward macro-F1, fp32 vs bf16, paired.

The question `trainer.precision: auto` waits on (training/precision.py, AUTO_PICKS_BF16):
the same untuned final evaluation as bench_validity (the default config's LSTM, 3
walk-forward blocks x `ensemble_seeds` models, one torch thread), once per precision, on
the same four data sets and seeds. A pair differs only in the precision, so the paired
difference bf16 - fp32 is the precision's effect; the spread of fp32 across seeds is the
noise it is compared with. Wall time per evaluation gives the speed-up in the same run.

    python bench/bench_precision_f1.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import concurrent.futures as cf
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import bench_validity
import common

PRECISIONS = ("fp32", "bf16")


def _job(args: tuple[str, str, int, str]) -> tuple[str, int, str, dict[str, Any]]:
    name, path, seed, precision = args
    return name, seed, precision, bench_validity.run_untuned(path, seed, precision)


def run(quick: bool = False) -> dict[str, Any]:
    seeds = [0] if quick else [0, 1, 2]
    datasets = bench_validity.DATASETS[:2] if quick else bench_validity.DATASETS
    results: dict[str, dict[int, dict[str, dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_precision_") as folder:
        paths = bench_validity.write_datasets(Path(folder))
        jobs = [(name, str(paths[name]), seed, p) for name in datasets for seed in seeds for p in PRECISIONS]
        with cf.ProcessPoolExecutor(max_workers=2) as pool:  # a pair's two jobs run side by side: same load
            for name, seed, precision, summary in pool.map(_job, jobs):
                results.setdefault(name, {}).setdefault(seed, {})[precision] = summary
                print(
                    f"{name} seed {seed} {precision}: LSTM {summary['macro_f1']['model']:.3f} "
                    f"in {summary['seconds']:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return {"seeds": seeds, "results": results, "summary": summarize(results)}


def summarize(results: dict[str, dict[int, dict[str, dict[str, Any]]]]) -> dict[str, Any]:
    deltas, speedups, per_dataset = [], [], {}
    for name, by_seed in results.items():
        fp32 = [r["fp32"]["macro_f1"]["model"] for r in by_seed.values()]
        bf16 = [r["bf16"]["macro_f1"]["model"] for r in by_seed.values()]
        d = [b - f for b, f in zip(bf16, fp32)]
        s = [r["fp32"]["seconds"] / r["bf16"]["seconds"] for r in by_seed.values()]
        deltas += d
        speedups += s
        per_dataset[name] = {
            "fp32": fp32,
            "bf16": bf16,
            "delta": d,
            "fp32_seed_spread": max(fp32) - min(fp32),
            "speedup": s,
        }
    spread = statistics.median(v["fp32_seed_spread"] for v in per_dataset.values())
    median_delta = statistics.median(deltas)
    return {
        "per_dataset": per_dataset,
        "median_delta_macro_f1": median_delta,
        "mean_delta_macro_f1": statistics.fmean(deltas),
        "worst_delta_macro_f1": min(deltas),
        "median_fp32_seed_spread": spread,
        "median_speedup": statistics.median(speedups),
        # "No loss beyond noise": the typical paired change is smaller than half the typical
        # seed-to-seed spread of fp32 itself, and not negative beyond 0.01.
        "no_loss_beyond_noise": bool(median_delta >= -0.01 and abs(median_delta) <= spread / 2),
    }


def markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = [
        "## bf16 vs fp32: pooled walk-forward macro-F1 of the untuned default LSTM (paired by seed)",
        "",
        "| data | fp32 per seed | bf16 per seed | bf16 - fp32 | fp32 seed spread | speed-up (wall) |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in s["per_dataset"].items():
        f = lambda xs: " / ".join(f"{x:.3f}" for x in xs)  # noqa: E731
        lines.append(
            f"| {name} | {f(v['fp32'])} | {f(v['bf16'])} | {' / '.join(f'{x:+.3f}' for x in v['delta'])} "
            f"| {v['fp32_seed_spread']:.3f} | {' / '.join(f'{x:.2f}x' for x in v['speedup'])} |"
        )
    lines += [
        "",
        f"Median paired change {s['median_delta_macro_f1']:+.3f} (mean {s['mean_delta_macro_f1']:+.3f}, "
        f"worst {s['worst_delta_macro_f1']:+.3f}); median fp32 seed spread {s['median_fp32_seed_spread']:.3f}; "
        f"median speed-up {s['median_speedup']:.2f}x. No loss beyond noise: **{s['no_loss_beyond_noise']}**.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "precision-f1", "one seed, two data sets (a smoke run)")


if __name__ == "__main__":
    main()
