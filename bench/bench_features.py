"""Which feature families help the untuned LSTM: walk-forward with all families, each one left out, and returns+candle.

The evaluation is bench_validity's `run_untuned` (the default config's final evaluation,
no search: evaluation.lstm + evaluation.walkforward + evaluation.verdict) with the family
set of each variant. Data sets: bench_validity's four (EURUSD_H1, NASDAQ_D1 from tests/data,
random_walk, planted_pattern, 5,000 bars each) plus the interaction market
(bench/synthetic_markets.py `interaction_market`, 8,000 hourly bars: the drift after a wick
pair is the product of the two wicks' directions).

Reported per data set and variant: the pooled walk-forward macro-F1 of the LSTM (median over
seeds), its difference to the all-families run, the best baseline, and the verdict wins.
A family whose removal raises the LSTM's macro-F1 on most data sets is a candidate to leave
out of the default `features.families` (issue 26, item 3).

    python bench/bench_features.py [--quick] [--out FILE.json]

--quick: one seed, the interaction market and EURUSD_H1 only.
BENCH_FEATURES_DATASETS / _SEEDS / _JOBS (comma lists) narrow a full run;
`--merge OUT.json IN.json...` summarises runs made apart as one table.
"""

from __future__ import annotations

import concurrent.futures as cf
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import common

DATASETS = ("EURUSD_H1", "NASDAQ_D1", "random_walk", "planted_pattern", "interaction")
FAMILIES = ("returns", "volatility", "candle", "volume", "oscillators", "calendar")  # data/features.py FAMILY_NAMES


def variants() -> dict[str, list[str]]:
    """Variant name -> families: all, each family left out, and the returns+candle set issue 26 measured."""
    out = {"all": list(FAMILIES)}
    out.update({f"-{left}": [f for f in FAMILIES if f != left] for left in FAMILIES})
    out["returns+candle"] = ["returns", "candle"]
    return out


def settings(quick: bool) -> dict[str, Any]:
    """--quick: one seed on two data sets; BENCH_FEATURES_DATASETS / _SEEDS / _JOBS narrow a full run."""
    import os

    if quick:
        return {"seeds": [0], "datasets": ("interaction", "EURUSD_H1"), "jobs": 2}
    datasets = tuple(os.environ.get("BENCH_FEATURES_DATASETS", ",".join(DATASETS)).split(","))
    seeds = [int(s) for s in os.environ.get("BENCH_FEATURES_SEEDS", "0,1,2").split(",")]
    return {"seeds": seeds, "datasets": datasets, "jobs": int(os.environ.get("BENCH_FEATURES_JOBS", "2"))}


def write_datasets(folder: Path, names: tuple[str, ...]) -> dict[str, Path]:
    import bench_validity
    import synthetic_markets

    paths = bench_validity.write_datasets(folder)
    if "interaction" in names:
        path = folder / "interaction.csv"
        synthetic_markets.interaction_market(synthetic_markets.INTERACTION_BARS, seed=7).to_csv(
            path, index_label="timestamp"
        )
        paths["interaction"] = path
    return {name: paths[name] for name in names}


def _job(args: tuple[str, str, int, str, list[str]]) -> tuple[str, str, int, dict[str, Any]]:
    import bench_validity

    name, path, seed, variant, families = args
    try:
        return name, variant, seed, bench_validity.run_untuned(path, seed, families=families)
    except Exception as exc:  # one variant failing (e.g. no column left) must not lose the others
        return name, variant, seed, {"error": f"{type(exc).__name__}: {exc}"}


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def run(quick: bool = False) -> dict[str, Any]:
    s = settings(quick)
    table: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_features_") as folder:
        paths = write_datasets(Path(folder), s["datasets"])
        jobs = [
            (name, str(paths[name]), seed, variant, families)
            for name in s["datasets"]
            for seed in s["seeds"]
            for variant, families in variants().items()
        ]
        with cf.ProcessPoolExecutor(max_workers=s["jobs"]) as pool:
            for name, variant, seed, summary in pool.map(_job, jobs):
                summary["seed"] = seed
                table.setdefault(name, {}).setdefault(variant, []).append(summary)
                print(
                    f"{name} {variant} seed {seed}: "
                    + (summary.get("error") or f"LSTM {summary['macro_f1']['model']:.3f}"),
                    file=sys.stderr,
                    flush=True,
                )
    return {"settings": {**s, "variants": variants()}, "results": table, "summary": summarise(table)}


def summarise(table: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, dict[str, Any]]:
    """Per data set and variant: median LSTM macro-F1, its difference to "all", best baseline, verdict wins."""
    out: dict[str, dict[str, Any]] = {}
    for name, by_variant in table.items():
        ok = {v: [r for r in runs if "macro_f1" in r] for v, runs in by_variant.items()}
        all_f1 = _median([r["macro_f1"]["model"] for r in ok.get("all", [])])
        out[name] = {}
        for variant, runs in ok.items():
            f1 = _median([r["macro_f1"]["model"] for r in runs])
            out[name][variant] = {
                "lstm_macro_f1": f1,
                "minus_all": None if f1 is None or all_f1 is None else f1 - all_f1,
                "best_baseline_macro_f1": _median(
                    [max(v for k, v in r["macro_f1"].items() if k != "model") for r in runs]
                ),
                "wins": f"{sum(bool(r['verdict']['beats_best_baseline']) for r in runs)}/{len(runs)}",
                "seconds": _median([r["seconds"] for r in runs]),
            }
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(result: dict[str, Any]) -> str:
    seeds = result["settings"]["seeds"]
    lines = [
        f"## Feature families: untuned walk-forward macro-F1 (median over seeds {seeds})",
        "",
        "| data | variant | LSTM | vs all | best baseline | wins over best baseline | s/run |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, by_variant in result["summary"].items():
        for variant, r in by_variant.items():
            lines.append(
                f"| {name} | {variant} | {_fmt(r['lstm_macro_f1'], '.3f')} | {_fmt(r['minus_all'], '+.3f')} "
                f"| {_fmt(r['best_baseline_macro_f1'], '.3f')} | {r['wins']} | {_fmt(r['seconds'], '.0f')} |"
            )
    return "\n".join(lines) + "\n"


def merge(paths: list[str]) -> dict[str, Any]:
    """Several runs' results (e.g. seeds run apart) as one table, summarised again."""
    import json

    table: dict[str, dict[str, list[dict[str, Any]]]] = {}
    seeds: set[int] = set()
    for path in paths:
        part = json.loads(Path(path).read_text())
        for name, by_variant in part["results"].items():
            for variant, runs in by_variant.items():
                table.setdefault(name, {}).setdefault(variant, []).extend(runs)
                seeds.update(int(r["seed"]) for r in runs)
    return {
        "settings": {"seeds": sorted(seeds), "merged_from": paths, "variants": variants()},
        "results": table,
        "summary": summarise(table),
    }


def main() -> None:
    if sys.argv[1:2] == ["--merge"]:  # --merge OUT.json IN.json...: one table from runs made apart
        import json

        out = Path(sys.argv[2])
        result = merge(sys.argv[3:])
        out.write_text(json.dumps(common.rnd(result), indent=2, default=str) + "\n")
        out.with_suffix(".md").write_text(markdown(result))
        return
    common.dated_main(run, markdown, __doc__, "features", "one seed, the interaction market and EURUSD_H1 only")


if __name__ == "__main__":
    main()
