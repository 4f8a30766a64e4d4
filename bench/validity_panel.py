"""Validity on several symbols (issue 24): is the pooled verdict tighter than single-symbol verdicts?

Run as `python bench/validity_panel.py` (bench_validity.run_untuned does the work).

Data sets (hourly bars; a panel needs one bar spacing: DataPreparer refuses mixed spacings,
so NASDAQ_D1, a daily file, cannot join EURUSD_H1 in one panel):
- panel_real: EURUSD_H1 (tests/data, 5,000 bars) + a random walk + a planted pattern
  (bench/synthetic_markets.py, their own seeds) on EURUSD's own timestamps (same 1h
  spacing, the same range and weekend gaps), so every time block holds all three symbols;
- planted_panel: PLANTED_SYMBOLS planted-pattern markets, seeds 100.., 5,000 bars each, the
  same start (2020-01-01, hourly).

Per data set and seed (the run's top-level seed; the data is fixed), the default config's
untuned walk-forward (bench_validity.run_untuned, as a run's final evaluation):
- `pooled`: the panel in one run: the pooled verdict (bootstrap over blocks of time, all
  symbols together) and each symbol's metrics and own verdict inside it
  (WalkForwardResult.by_symbol, evaluation.verdict.symbol_verdicts);
- `alone`: each symbol as its own single-file run, the same seed.

Targets: the pooled interval (LSTM - best baseline macro-F1, 95 %) is <= 0.6 x the median
width of the single-symbol runs' intervals; planted_panel's pooled verdict beats the best
baseline with the interval above 0 in 3 of 3 seeds, where one symbol alone does not (the
count of single-symbol wins per seed is reported beside it).

    python bench/validity_panel.py            # 3 seeds, both data sets: ~1.5-3 h on 2 cores (estimate)
    python bench/validity_panel.py --quick    # smoke: 1 seed, planted_panel of 3 x 2,000 bars,
                                                      # 1 epoch, 1 ensemble seed, 1 job (~2-3 min)
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import common

PANEL_DATASETS = ("panel_real", "planted_panel")
PLANTED_SYMBOLS = 8  # planted_panel's symbols
PLANTED_SEED0 = 100  # planted_panel's symbol i uses seed PLANTED_SEED0 + i
WIDTH_TARGET = 0.6  # pooled interval width <= this x the median single-symbol width
EURUSD = common.REPO / "tests" / "data" / "EURUSD_H1.csv"


def settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "seeds": [0],
            "datasets": ["planted_panel"],
            "bars": 2000,
            "planted_symbols": 3,
            "jobs": 1,
            "overrides": {"epochs_per_trial": 1, "ensemble_seeds": 1},
        }
    return {
        "seeds": [0, 1, 2],
        "datasets": list(PANEL_DATASETS),
        "bars": 5000,
        "planted_symbols": PLANTED_SYMBOLS,
        "jobs": 2,
        "overrides": {},
    }


def _write(frame: Any, path: Path) -> str:
    frame.to_csv(path, index_label="timestamp")
    return str(path)


def write_panel_datasets(
    folder: Path, bars: int, planted_symbols: int, datasets: tuple[str, ...] | list[str] = PANEL_DATASETS
) -> dict[str, list[str]]:
    """Each panel data set's files, one per symbol (the symbol is the file stem), in its own folder."""
    import synthetic_markets
    from hyperopt_cli.data.load import load_ohlcv

    paths: dict[str, list[str]] = {}
    if "panel_real" in datasets:
        real = folder / "panel_real"
        real.mkdir(parents=True, exist_ok=True)
        eurusd = load_ohlcv(EURUSD)
        if bars < len(eurusd):  # a smoke run: EURUSD's last `bars` bars, same symbol name
            eurusd = eurusd.iloc[-bars:]
            files = [_write(eurusd, real / EURUSD.name)]
        else:
            files = [str(EURUSD)]
        for name, make, seed in (
            ("RANDOM_WALK_H1", synthetic_markets.random_walk, 11),
            ("PLANTED_H1", synthetic_markets.planted_pattern, 12),
        ):
            frame = make(len(eurusd), seed=seed)
            frame.index = eurusd.index.rename("timestamp")  # EURUSD's calendar: same spacing, range and gaps
            files.append(_write(frame, real / f"{name}.csv"))
        paths["panel_real"] = files
    if "planted_panel" in datasets:
        planted = folder / "planted_panel"
        planted.mkdir(parents=True, exist_ok=True)
        paths["planted_panel"] = [
            _write(synthetic_markets.planted_pattern(bars, seed=PLANTED_SEED0 + i), planted / f"PLANTED_{i:02d}.csv")
            for i in range(planted_symbols)
        ]
    return paths


def _job(args: tuple[str, int, str, str | list[str], dict[str, Any]]) -> tuple[str, int, str, dict[str, Any]]:
    import bench_validity

    dataset, seed, kind, data, overrides = args
    return dataset, seed, kind, bench_validity.run_untuned(data, seed, overrides=overrides)


def width(run: dict[str, Any] | None) -> float | None:
    interval = ((run or {}).get("verdict") or {}).get("interval_macro_f1")
    return None if interval is None else float(interval[1] - interval[0])


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def compare_seed(entry: dict[str, Any]) -> dict[str, Any]:
    """One data set and seed: the pooled width against the median width of its symbols run alone."""
    pooled = entry.get("pooled") or {}
    alone = entry.get("alone") or {}
    widths = {sym: width(run) for sym, run in alone.items()}
    known = [w for w in widths.values() if w is not None]
    pooled_width = width(pooled)
    median_single = _median(known)
    ratio = None if pooled_width is None or not median_single else pooled_width / median_single
    return {
        "pooled_width": pooled_width,
        "single_widths": widths,
        "median_single_width": median_single,
        "width_ratio": ratio,
        "width_target_met": None if ratio is None else bool(ratio <= WIDTH_TARGET),
        "pooled_wins": bool((pooled.get("verdict") or {}).get("beats_best_baseline")),
        "single_wins": sum(bool((run.get("verdict") or {}).get("beats_best_baseline")) for run in alone.values()),
        "singles": len(alone),
    }


def targets(table: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dataset, seeds in table.items():
        per_seed = {seed: compare_seed(entry) for seed, entry in seeds.items()}
        ratios = [c["width_ratio"] for c in per_seed.values() if c["width_ratio"] is not None]
        out[dataset] = {
            "per_seed": per_seed,
            "median_width_ratio": _median(ratios),
            "width_target": f"{sum(r <= WIDTH_TARGET for r in ratios)} of {len(ratios)} seeds <= {WIDTH_TARGET}",
            "pooled_wins": f"{sum(c['pooled_wins'] for c in per_seed.values())} of {len(per_seed)}",
            "single_symbol_wins": {str(seed): f"{c['single_wins']} of {c['singles']}" for seed, c in per_seed.items()},
        }
        if dataset == "planted_panel":
            out[dataset]["pooled_beats_where_one_symbol_alone_does_not"] = (
                all(c["pooled_wins"] and c["single_wins"] < c["singles"] for c in per_seed.values())
                if per_seed
                else None
            )
    return out


def run(s: dict[str, Any]) -> dict[str, Any]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_validity_panel_") as folder:
        paths = write_panel_datasets(Path(folder), s["bars"], s["planted_symbols"], s["datasets"])
        jobs: list[tuple[str, int, str, str | list[str], dict[str, Any]]] = []
        for dataset in s["datasets"]:
            for seed in s["seeds"]:
                jobs.append((dataset, seed, "pooled", paths[dataset], s["overrides"]))
                if not s.get("pooled_only"):
                    jobs += [(dataset, seed, Path(p).stem, p, s["overrides"]) for p in paths[dataset]]
        with cf.ProcessPoolExecutor(max_workers=s["jobs"]) as pool:
            for dataset, seed, kind, summary in pool.map(_job, jobs):
                entry = table.setdefault(dataset, {}).setdefault(str(seed), {"pooled": None, "alone": {}})
                if kind == "pooled":
                    entry["pooled"] = summary
                else:
                    entry["alone"][kind] = summary
                print(
                    f"{dataset} seed {seed} {kind}: LSTM {summary['macro_f1']['model']:.3f} | "
                    f"{summary['verdict']['wording']}",
                    file=sys.stderr,
                    flush=True,
                )
    return {"settings": s, "results": table, "targets": targets(table)}


def _interval(v: dict[str, Any] | None) -> str:
    if not v or v.get("interval_macro_f1") is None:
        return "–"
    lo, hi = v["interval_macro_f1"]
    return f"{v['delta_macro_f1']:+.3f} [{lo:+.3f}, {hi:+.3f}]{' win' if v.get('beats_best_baseline') else ''}"


def _best_baseline(macro_f1: dict[str, float]) -> str:
    name, value = max(((k, v) for k, v in macro_f1.items() if k != "model"), key=lambda kv: kv[1])
    return f"{value:.3f} ({name})"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Validity on several symbols: pooled vs each symbol alone (untuned default config)",
        "",
        "LSTM - best baseline walk-forward macro-F1 with its 95 % interval; `win` = interval above 0. In the "
        "panel: the pooled verdict bootstraps blocks of time (all symbols together); per symbol, its own "
        "verdict on its own test samples. Alone: the symbol as its own single-file run.",
        "",
    ]
    for dataset, seeds in result["results"].items():
        for seed, entry in seeds.items():
            pooled = entry["pooled"] or {}
            c = result["targets"][dataset]["per_seed"][seed]
            lines += [
                f"### {dataset}, seed {seed}",
                "",
                "| symbol | test samples | LSTM | best baseline | LSTM - best [interval] | width "
                "| alone: LSTM | alone: LSTM - best [interval] | alone: width |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            if pooled:
                lines.append(
                    f"| **pooled** | {pooled.get('n_test_samples', '–')} | {pooled['macro_f1']['model']:.3f} "
                    f"| {_best_baseline(pooled['macro_f1'])} | {_interval(pooled['verdict'])} "
                    f"| {c['pooled_width']:.3f} | | | median {c['median_single_width'] or float('nan'):.3f} |"
                )
            for sym, inside in (pooled.get("by_symbol") or {}).items():
                alone = entry["alone"].get(sym) or {}
                lines.append(
                    f"| {sym} | {inside['n_test_samples']} | {inside['macro_f1']['model']:.3f} "
                    f"| {_best_baseline(inside['macro_f1'])} | {_interval(inside['verdict'])} "
                    f"| {width(inside) or float('nan'):.3f} "
                    f"| {alone.get('macro_f1', {}).get('model', float('nan')):.3f} | {_interval(alone.get('verdict'))} "
                    f"| {width(alone) or float('nan'):.3f} |"
                )
            ratio = c["width_ratio"]
            lines += [
                "",
                f"Pooled width / median single width: **{'–' if ratio is None else f'{ratio:.2f}'}** "
                f"(target <= {WIDTH_TARGET}); pooled wins: {c['pooled_wins']}; single-symbol wins: "
                f"{c['single_wins']} of {c['singles']}.",
                "",
            ]
    lines += [
        "Targets:",
        "",
        "```",
        json.dumps(
            {d: {k: v for k, v in t.items() if k != "per_seed"} for d, t in result["targets"].items()}, indent=2
        ),
        "```",
        "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; load average "
        f"{result['machine']['load_avg']} at the start; settings {json.dumps(result['settings'])}; "
        f"commit {result.get('commit')}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke: 1 seed, planted_panel of 3 x 2,000 bars, 1 epoch")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="run seeds (default 0 1 2)")
    parser.add_argument("--datasets", nargs="+", choices=PANEL_DATASETS, default=None)
    parser.add_argument("--jobs", type=int, default=None, help="runs at a time (default 2; --quick 1)")
    parser.add_argument(
        "--scaling",
        choices=("per_symbol", "pooled"),
        default=None,
        help="data.scaling of the panel runs (default: the config's, per_symbol)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs_per_trial of every run (default: the config's)"
    )
    parser.add_argument("--pooled-only", action="store_true", help="skip the single-symbol runs")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON path (default: bench/results/validity-panel-DATE.json)"
    )
    args = parser.parse_args(argv)
    s = settings(args.quick)
    for key in ("seeds", "datasets", "jobs"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    if args.scaling is not None:
        s["overrides"] = {**s["overrides"], "data": {"scaling": args.scaling}}
    if args.epochs is not None:
        s["overrides"] = {**s["overrides"], "epochs_per_trial": args.epochs}
    s["pooled_only"] = args.pooled_only
    result = {"machine": common.machine_info(), "commit": common.git_commit(), **run(s)}
    name = "validity-panel-quick" if args.quick else "validity-panel"
    out = args.out or common.BENCH_DIR / "results" / f"{name}-{datetime.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(common.rnd(result), indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
