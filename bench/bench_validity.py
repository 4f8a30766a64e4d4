"""Validity: does the tuned LSTM beat its baselines out of sample, and does the verdict say so honestly?

Data sets (5,000 bars each but the last, data never shrunk):
- EURUSD_H1 and NASDAQ_D1 (real; tests/data copies of ../shared/data),
- random_walk: no signal at all (a verdict claiming a win is a false positive),
- planted_pattern: an XOR of two past shocks sets the next 12 bars' drift; last-bar
  features and linear models cannot see it (bench/synthetic_markets.py),
- interaction (8,000 bars): the sequence-only market; a 12-bar drift whose direction is the
  product of two wick directions 4 bars apart: only a model of the order of events sees it.

Per data set and seed (the run's top-level seed; the data is fixed):
- untuned: the default config's LSTM, no search, walk-forward evaluated exactly as a run's
  final evaluation does (evaluation.lstm + evaluation.walkforward + evaluation.verdict);
- quick: `hyperopt start --mode quick` (learning-rate group only) as a subprocess;
- full: `hyperopt start --mode full` (all seven groups) as a subprocess.
Budgets are shrunk, not data: trials per group (quick 6, full 4; --quick: 2 and 2) at the
default 4 epochs. Every job uses one worker with one torch thread; two jobs run at a time.

Reported: pooled walk-forward macro-F1 of the LSTM and of every baseline, the verdict, the
best validation objective (for the val→test gap), prediction shares, wall time; and the
targets: no verdict win on the random walk and never significantly below stratified random; a
win on the planted pattern; quick ≥ untuned and full's edge over the best baseline ≥ untuned's
on the real files (medians over seeds); interaction: wins with the interval above 0.

    python bench/bench_validity.py [--quick] [--out FILE.json]

Several symbols in one run (issue 24) are bench/validity_panel.py's: the pooled verdict of a
panel (EURUSD_H1 + two synthetic hourly markets on its calendar; 8 planted-pattern markets)
against each symbol run alone, with the interval widths compared.

    python bench/validity_panel.py [--quick] [--seeds 0 1 2] [--datasets ...] [--jobs N]
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

N_BARS = 5000
DATASETS = ("EURUSD_H1", "NASDAQ_D1", "random_walk", "planted_pattern", "interaction")
MODES = ("untuned", "quick", "full")


def settings(quick: bool) -> dict[str, Any]:
    """--quick: a smoke run; BENCH_VALIDITY_DATASETS / _SEEDS / _MODES / _JOBS (comma lists) narrow a full one."""
    import os

    s = _settings(quick)
    if not quick:
        s["datasets"] = tuple(os.environ.get("BENCH_VALIDITY_DATASETS", ",".join(s["datasets"])).split(","))
        s["seeds"] = [int(v) for v in os.environ.get("BENCH_VALIDITY_SEEDS", ",".join(map(str, s["seeds"]))).split(",")]
        s["jobs"] = int(os.environ.get("BENCH_VALIDITY_JOBS", str(s["jobs"])))
    s["modes"] = tuple(os.environ.get("BENCH_VALIDITY_MODES", ",".join(MODES)).split(","))
    return s


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"seeds": [0], "trials": {"quick": 2, "full": 2}, "datasets": DATASETS, "jobs": 2}
    return {"seeds": [0, 1, 2], "trials": {"quick": 6, "full": 4}, "datasets": DATASETS, "jobs": 2}


def write_datasets(folder: Path) -> dict[str, Path]:
    import synthetic_markets

    paths = {name: common.REPO / "tests" / "data" / f"{name}.csv" for name in ("EURUSD_H1", "NASDAQ_D1")}
    for name, make in (
        ("random_walk", synthetic_markets.random_walk),
        ("planted_pattern", synthetic_markets.planted_pattern),
    ):
        path = folder / f"{name}.csv"
        make(N_BARS, seed=7).to_csv(path, index_label="timestamp")
        paths[name] = path
    # The sequence-only market: the drift's direction is the product of two wick directions
    # PAIR_GAP bars apart, so no last-bar and no linear window model sees it (its own, longer size).
    paths["interaction"] = folder / "interaction.csv"
    synthetic_markets.interaction_market(seed=7).to_csv(paths["interaction"], index_label="timestamp")
    return paths


def _summary(
    pooled: dict[str, dict[str, Any]],
    verdict: dict[str, Any],
    best_value: float | None,
    seconds: float,
    argmax: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`argmax`: each predictor with a fitted decision rule, scored under plain argmax instead (issue 30)."""
    return {
        "macro_f1": {k: m["macro_f1"] for k, m in pooled.items()},
        "argmax_macro_f1": {k: m["macro_f1"] for k, m in (argmax or {}).items() if m},
        "trading_score": {k: m["trading_score"] for k, m in pooled.items()},
        "model_pred_shares": pooled["model"].get("pred_distribution"),
        "verdict": {
            k: verdict.get(k)
            for k in ("beats_best_baseline", "baseline", "delta_macro_f1", "interval_macro_f1", "wording")
        },
        "vs_logistic_regression": verdict.get("against", {}).get("logistic_regression"),
        "vs_stratified_random": verdict.get("against", {}).get("stratified_random"),
        "best_validation_value": best_value,
        "seconds": seconds,
    }


def run_untuned(
    data_path: str | list[str],
    seed: int,
    precision: str = "fp32",
    families: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The default config's final evaluation, without any search (training in `precision`, on `families`).

    `data_path`: one file, or a list of files (one symbol each, named by the file stem): then
    the summary adds `by_symbol`, each symbol's metrics and own verdict inside the panel run.
    `overrides`: top-level config keys to change (smoke runs shrink epochs and ensembles).
    """
    import warnings

    warnings.filterwarnings("ignore")
    from hyperopt_cli.config import families_for, with_params
    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.evaluation.baselines import baselines_for
    from hyperopt_cli.evaluation.lstm import lstm_fit_predict
    from hyperopt_cli.evaluation.verdict import symbol_verdicts, verdict
    from hyperopt_cli.evaluation.walkforward import WalkForwardSource, walk_forward
    from hyperopt_cli.training.seeding import derive_seed

    t0 = time.perf_counter()
    raw = common.read_yaml("configs/default.yaml")
    raw["seed"] = seed
    raw["data"]["path"] = data_path
    raw["trainer"]["num_threads"] = 1
    raw["trainer"]["device"] = "cpu"
    raw["trainer"]["precision"] = precision
    if families is not None:
        raw.setdefault("features", {})["families"] = families
    for key, value in (overrides or {}).items():  # a dict value merges into its section (data.scaling, ...)
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key].update(value)
        else:
            raw[key] = value
    cfg = common.make_cfg(raw)
    trainer_cfg, labels_cfg = with_params(cfg, {})
    preparer = DataPreparer.for_run(
        load_data(cfg), cfg
    )  # one file: load_ohlcv(path) as before; a list: one frame per symbol
    data = preparer.prepare(labels_cfg, families_for(cfg, {}))
    source = WalkForwardSource.from_prepared(preparer, data)
    fit_predict = lstm_fit_predict(
        trainer_cfg,
        cfg.model,
        epochs=cfg.epochs_per_trial,
        seed=derive_seed(cfg.seed, "final"),
        purge_bars=data.purge_bars,
        feature_names=data.feature_names,
        ensemble_seeds=cfg.ensemble_seeds,
        decision_rule=cfg.decision_rule,
    )
    result = walk_forward(
        source, fit_predict, n_blocks=cfg.walk_forward_blocks, seed=cfg.seed, baselines=baselines_for(cfg.decision_rule)
    )  # as a run's final evaluation does
    judged = verdict(result, seed=derive_seed(cfg.seed, "verdict")).as_dict()
    summary = _summary(result.pooled, judged, None, time.perf_counter() - t0, result.argmax_pooled)
    summary["n_test_samples"] = len(result.labels)
    per_symbol = result.by_symbol()
    if per_symbol:
        own = symbol_verdicts(result, seed=derive_seed(cfg.seed, "verdict"))
        summary["by_symbol"] = {
            name: {
                "macro_f1": {k: m["macro_f1"] for k, m in metrics.items()},
                "n_test_samples": int((result.symbols == result.symbol_names.index(name)).sum()),
                "verdict": {
                    k: own[name].as_dict().get(k)
                    for k in ("beats_best_baseline", "baseline", "delta_macro_f1", "interval_macro_f1", "wording")
                }
                if name in own
                else None,
            }
            for name, metrics in per_symbol.items()
        }
    return summary


def run_cli(data_path: str, seed: int, mode: str, trials: int, folder: str) -> dict[str, Any]:
    """`hyperopt start` in a subprocess; its results.json, summarised."""
    run_dir = Path(folder) / f"{Path(data_path).stem}_{mode}_{seed}"
    cmd = [
        sys.executable,
        "-m",
        "hyperopt_cli",
        "start",
        "--mode",
        mode,
        "--data",
        data_path,
        "--run-dir",
        str(run_dir),
        "--set",
        f"seed={seed}",
        "--set",
        f"max_trials_per_group={trials}",
        "--set",
        "trainer.num_threads=1",
        "--set",
        "trainer.device=cpu",
        "--set",
        "workers=1",
    ]
    env = {**os.environ, "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=common.REPO)
    seconds = time.perf_counter() - t0
    results_path = run_dir / "results.json"
    if proc.returncode != 0 or not results_path.exists():
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] or ''}", "seconds": seconds}
    results = json.loads(results_path.read_text())
    decision = results.get("decision") or {}
    argmax = {**(decision.get("argmax_baselines") or {}), "model": decision.get("argmax_test_metrics")}
    summary = _summary(
        results["walk_forward"]["pooled"], results["verdict"], results.get("best_value"), seconds, argmax
    )
    features = (results.get("group_results") or {}).get("features") or {}
    summary["families"] = sorted(k.removeprefix("use_") for k, v in (features.get("best_params") or {}).items() if v)
    summary.update(
        pbo=results.get("pbo"),
        epochs=results.get("epochs"),
        kept={g: r.get("kept") for g, r in (results.get("group_results") or {}).items()},
        search_changed=results.get("search_changed"),
        run_check=results.get("run_check"),
    )
    return summary


def _job(args: tuple[str, str, int, str, int, str]) -> tuple[str, str, int, dict[str, Any]]:
    name, path, seed, mode, trials, folder = args
    if mode == "untuned":
        return name, mode, seed, run_untuned(path, seed)
    return name, mode, seed, run_cli(path, seed, mode, trials, folder)


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def targets(table: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """The issue's four targets, each with the figures that decide it."""

    def lstm(name: str, mode: str) -> float | None:
        return _median([r["macro_f1"]["model"] for r in table.get(name, {}).get(mode, []) if "macro_f1" in r])

    def best_baseline(name: str) -> float | None:
        runs = [r for mode in MODES for r in table.get(name, {}).get(mode, []) if "macro_f1" in r]
        return _median([max(v for k, v in r["macro_f1"].items() if k != "model") for r in runs])

    def edge(name: str, mode: str) -> float | None:
        """Median over seeds of (LSTM - best baseline) pooled macro-F1."""
        runs = [r for r in table.get(name, {}).get(mode, []) if "macro_f1" in r]
        return _median(
            [r["macro_f1"]["model"] - max(v for k, v in r["macro_f1"].items() if k != "model") for r in runs]
        )

    walk_runs = [r for mode in MODES for r in table.get("random_walk", {}).get(mode, []) if "verdict" in r]
    # Degenerate: significantly below stratified random guessing (its macro-F1 interval wholly below 0).
    degenerate = [
        r for r in walk_runs if ((r.get("vs_stratified_random") or {}).get("interval_macro_f1") or [0, 0])[1] < 0
    ]
    planted = [r for mode in MODES for r in table.get("planted_pattern", {}).get(mode, []) if "verdict" in r]
    interaction = {mode: [r for r in table.get("interaction", {}).get(mode, []) if "verdict" in r] for mode in MODES}
    out: dict[str, Any] = {
        "random_walk_false_wins": f"{sum(bool(r['verdict']['beats_best_baseline']) for r in walk_runs)} of {len(walk_runs)}",
        "random_walk_significantly_below_stratified_random": f"{len(degenerate)} of {len(walk_runs)}",
        "planted_pattern_wins_over_best_baseline": f"{sum(bool(r['verdict']['beats_best_baseline']) for r in planted)} of {len(planted)}",
        "interaction_wins_over_best_baseline": {
            mode: f"{sum(bool(r['verdict']['beats_best_baseline']) for r in runs)} of {len(runs)}"
            for mode, runs in interaction.items()
        },
        "planted_pattern_wins_over_logistic_regression": f"{sum(bool((r['vs_logistic_regression'] or {}).get('beaten')) for r in planted)} of {len(planted)}",
    }
    out["never_worse_than_untuned"] = never_worse(table)
    out["no_dropped_class"] = dropped_classes(table)
    for name in ("EURUSD_H1", "NASDAQ_D1"):
        f = {mode: lstm(name, mode) for mode in MODES}
        base = best_baseline(name)
        out[name] = {
            "median_lstm_macro_f1": f,
            "median_best_baseline_macro_f1": base,
            "full>=quick>=untuned": None if None in f.values() else bool(f["full"] >= f["quick"] >= f["untuned"]),
            "quick>=untuned": None if None in f.values() else bool(f["quick"] >= f["untuned"]),
            "median_edge_over_best_baseline": {mode: edge(name, mode) for mode in MODES},
            "full_edge>=untuned_edge": None
            if None in (edge(name, "full"), edge(name, "untuned"))
            else bool(edge(name, "full") >= edge(name, "untuned")),  # type: ignore[operator]
            "tuned>=best_baseline": None if f["full"] is None or base is None else bool(f["full"] >= base),
        }
    return out


def _by_seed(table: dict[str, dict[str, list[dict[str, Any]]]], name: str, mode: str) -> dict[int, float]:
    return {r["seed"]: r["macro_f1"]["model"] for r in table.get(name, {}).get(mode, []) if "macro_f1" in r}


def never_worse(table: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Issue 30: per data set, tuned minus untuned LSTM macro-F1 on the same seed (median and worst);
    targets: >= -0.01 everywhere, and a median gain >= +0.015 kept on EURUSD and the planted pattern."""
    out: dict[str, Any] = {}
    for name in table:
        untuned = _by_seed(table, name, "untuned")
        row: dict[str, Any] = {}
        for mode in ("quick", "full"):
            tuned = _by_seed(table, name, mode)
            gains = [tuned[s] - untuned[s] for s in tuned if s in untuned]
            if gains:
                row[mode] = {"median": _median(gains), "worst": min(gains), "ok": min(gains) >= -0.01}
        if name in ("EURUSD_H1", "planted_pattern") and row:
            row["keeps_gain>=0.015"] = {m: bool(row[m]["median"] >= 0.015) for m in ("quick", "full") if m in row}
        out[name] = row
    return out


def dropped_classes(table: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """Issue 30: final models with a class under 5% of their test predictions (every label set here has all three)."""
    runs = [r for modes in table.values() for rs in modes.values() for r in rs if r.get("model_pred_shares")]
    bad = [r for r in runs if min(r["model_pred_shares"]) < 0.05]
    return f"{len(bad)} of {len(runs)}"


def decision_markdown(result: dict[str, Any]) -> list[str]:
    """The decision rule alone: untuned pooled macro-F1 under argmax and under the fitted rule, median over seeds."""
    lines = ["", "## The decision rule alone (untuned; median over seeds; argmax → fitted)", ""]
    names = ["model", "logistic_regression", "gradient_boosting", "logistic_regression_window"]
    lines += [
        "| data | " + " | ".join("LSTM" if n == "model" else n for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for name, modes in result["results"].items():
        runs = [r for r in modes.get("untuned", []) if r.get("argmax_macro_f1")]
        if not runs:
            continue
        cells = []
        for n in names:
            before = _median([r["argmax_macro_f1"][n] for r in runs if n in r["argmax_macro_f1"]])
            after = _median([r["macro_f1"][n] for r in runs if n in r["argmax_macro_f1"]])
            cells.append("–" if before is None or after is None else f"{before:.3f} → {after:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def never_worse_markdown(result: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## Tuned minus untuned (same seed): median / worst",
        "",
        "| data | quick | full | changed the defaults (quick, full) |",
        "|---|---|---|---|",
    ]
    for name, row in result["targets"].get("never_worse_than_untuned", {}).items():
        modes = result["results"].get(name, {})
        changed = [
            f"{sum(bool(r.get('search_changed')) for r in modes.get(m, []))}/{len(modes.get(m, []))}"
            for m in ("quick", "full")
        ]
        cells = [f"{row[m]['median']:+.3f} / {row[m]['worst']:+.3f}" if m in row else "–" for m in ("quick", "full")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {', '.join(changed)} |")
    return lines


def run(quick: bool = False) -> dict[str, Any]:
    s = settings(quick)
    table: dict[str, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_validity_") as folder:
        paths = write_datasets(Path(folder))
        jobs = [
            (name, str(paths[name]), seed, mode, s["trials"].get(mode, 0), folder)
            for name in s["datasets"]
            for seed in s["seeds"]
            for mode in s["modes"]
        ]
        with cf.ProcessPoolExecutor(max_workers=s["jobs"]) as pool:
            for name, mode, seed, summary in pool.map(_job, jobs):
                summary["seed"] = seed
                table.setdefault(name, {}).setdefault(mode, []).append(summary)
                print(
                    f"{name} {mode} seed {seed}: "
                    + (
                        summary.get("error")
                        or f"LSTM {summary['macro_f1']['model']:.3f} | {summary['verdict']['wording']}"
                    ),
                    file=sys.stderr,
                    flush=True,
                )
    return {"settings": s, "results": table, "targets": targets(table)}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Validity: pooled walk-forward macro-F1 (median over seeds)",
        "",
        "| data | mode | LSTM | best baseline (which) | logistic regression | wins over best / over LR | val objective | s/run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, modes in result["results"].items():
        for mode in MODES:
            runs = [r for r in modes.get(mode, []) if "macro_f1" in r]
            if not runs:
                continue
            best = [max(((k, v) for k, v in r["macro_f1"].items() if k != "model"), key=lambda kv: kv[1]) for r in runs]
            vals = [r["best_validation_value"] for r in runs if r["best_validation_value"] is not None]
            lines.append(
                f"| {name} | {mode} | {_median([r['macro_f1']['model'] for r in runs]):.3f} "
                f"| {_median([v for _, v in best]):.3f} ({', '.join(sorted({k for k, _ in best}))}) "
                f"| {_median([r['macro_f1']['logistic_regression'] for r in runs]):.3f} "
                f"| {sum(bool(r['verdict']['beats_best_baseline']) for r in runs)}/{len(runs)} / "
                f"{sum(bool((r['vs_logistic_regression'] or {}).get('beaten')) for r in runs)}/{len(runs)} "
                f"| {(f'{_median(vals):.3f}' if vals else '–')} | {_median([r['seconds'] for r in runs]):.0f} |"
            )
    lines += never_worse_markdown(result) + decision_markdown(result)
    lines += ["", "Targets:", "", "```", json.dumps(result["targets"], indent=2), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "validity", "one seed, 2 trials per group (a smoke run)")


if __name__ == "__main__":
    main()
