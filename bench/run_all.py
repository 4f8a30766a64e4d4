"""Run the bench suite, or any registered benchmark; write every figure to one JSON file and a short Markdown table.

    python bench/run_all.py [--quick] [--out FILE.json] [--only NAME ...] [--eurusd PATH]
    python bench/run_all.py --list          # every registered benchmark: name, in the suite?, script, what it measures

Full variant (default): about 25 minutes on 2 cores; writes bench/results/<date>.json and
.md. --quick: a few minutes, CI-sized; writes bench/out/quick.json and .md (not committed).
Without --only it runs the suite (throughput, overhead, scaling, parallel, search_quality: the
figures of the Markdown table); `--only NAME` runs any registered benchmark, each with
`--quick` and `--out` like the suite's. Each bench runs in its own process (thread settings and
instrumentation never leak between them). See bench/README.md for what every figure means.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common


@dataclass(frozen=True)
class Bench:
    """One benchmark: a script under bench/ run as `python bench/SCRIPT [--quick] --out FILE.json`."""

    script: str
    suite: bool = False  # run by default; its figures make the Markdown table
    eurusd: bool = False  # takes --eurusd PATH


# Every benchmark of bench/, in the order the suite runs them. A new benchmark is one line here
# (tests/test_bench_registry.py fails on a bench/bench_*.py that is missing); its script takes
# --quick (the CI-sized variant) and --out FILE.json (where its JSON goes), as every script here does.
REGISTRY: dict[str, Bench] = {
    "throughput": Bench("bench_throughput.py", suite=True),
    "overhead": Bench("bench_overhead.py", suite=True),
    "scaling": Bench("bench_scaling.py", suite=True),
    "parallel": Bench("bench_parallel.py", suite=True),
    "search_quality": Bench("bench_search_quality.py", suite=True, eurusd=True),
    "contention": Bench("bench_contention.py"),
    "data": Bench("bench_data.py"),
    "features": Bench("bench_features.py"),
    "guard_noise": Bench("bench_guard_noise.py"),
    "ladder": Bench("bench_ladder.py"),
    "panel_speed": Bench("bench_panel_speed.py"),
    "precision_f1": Bench("bench_precision_f1.py"),
    "predict": Bench("bench_predict.py"),
    "resume": Bench("bench_resume.py"),
    "selection": Bench("bench_selection.py"),
    "selection_cost": Bench("bench_selection_cost.py"),
    "soak": Bench("bench_soak.py"),
    "stop": Bench("bench_stop.py"),
    "trainer": Bench("bench_trainer.py"),
    "validity": Bench("bench_validity.py"),
    "wall_budget": Bench("bench_wall_budget.py"),
    "validity_panel": Bench("validity_panel.py"),
}
SUITE = tuple(name for name, bench in REGISTRY.items() if bench.suite)
BENCHES = SUITE  # the suite's names, as before the registry


def what_it_measures(bench: Bench) -> str:
    """The first line of the script's docstring (read, not imported)."""
    source = (common.BENCH_DIR / bench.script).read_text(encoding="utf-8")
    return (ast.get_docstring(ast.parse(source)) or "").split("\n", 1)[0]


def list_benches() -> str:
    width = max(map(len, REGISTRY))
    return "\n".join(
        f"{name:<{width}}  {'suite' if bench.suite else '     '}  {bench.script:<26}  {what_it_measures(bench)}"
        for name, bench in REGISTRY.items()
    )


def _run_bench(name: str, quick: bool, eurusd: str, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{name}.json"
    bench = REGISTRY[name]
    cmd = [sys.executable, str(common.BENCH_DIR / bench.script), "--out", str(out)]
    if quick:
        cmd.append("--quick")
    if bench.eurusd:
        cmd += ["--eurusd", eurusd]
    start = time.perf_counter()
    load_before = common.machine_info()["load_avg"]
    print(f"== {name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=common.REPO, check=False)
    seconds = time.perf_counter() - start
    print(f"== {name}: {seconds:.0f} s (exit {proc.returncode})", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        return {"error": f"exit code {proc.returncode}", "bench_s": seconds}
    result = json.loads(out.read_text())
    result["bench_s"] = seconds
    result["load_avg_before_after"] = [load_before, common.machine_info()["load_avg"]]
    return result


# ---------------------------------------------------------------------------- Markdown


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    b = report["benches"]
    lines = [
        f"# Bench results {report['date']} ({report['variant']} variant)",
        "",
        (
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB, {m['os']}; Python {m['python']}, "
            f"torch {m['torch']} (oneDNN {m['onednn']}), optuna {m['optuna']}. Load average at start "
            f"{m['load_avg']} (the machine is shared: figures are ratios or best-of within one run). "
            f"Total {report['total_s'] / 60:.1f} min. Command: `{report['command']}`."
        ),
        "",
    ]
    if report.get("merged_into"):
        rerun = [f"{name} ({bench['run_at']})" for name, bench in b.items() if "run_at" in bench]
        lines += [
            (
                f"Re-run later with `--only ... --merge` and merged into this file: {', '.join(rerun)}; the other "
                f"benches are from the first run (load average at its start {report['merged_into']['machine_at_first_run']['load_avg']})."
            ),
            "",
        ]
    o = b.get("overhead", {})
    if "series" in o:
        lines += [
            "## 1. Orchestration overhead (configs/quick.yaml, live display to /dev/null)",
            "",
            "| torch threads | search-phase overhead (median) | whole run | per trial | largest parts (median run) | incl. display thread |",
            "|---|---|---|---|---|---|",
        ]
        for name, ser in o["series"].items():
            r = ser["median_run"]
            top = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in list(r["overhead_split_s"].items())[:3])
            lines.append(
                f"| {name} ({ser['torch_threads']}) | **{_pct(ser['search_overhead_share_median'])}** | "
                f"{_pct(ser['overhead_share_median'])} | {ser['overhead_ms_per_trial_median']:.0f} ms | "
                f"{top} | {_pct(r['overhead_share_incl_display_thread'])} |"
            )
        first = next(iter(o["series"].values()))
        r = first["median_run"]
        lines += [
            "",
            (
                f"Targets (search phase): < 5 % at quick size {'met' if o['meets_target_quick'] else 'missed'} "
                f"({o['headline']}), < 1 % at default size: {o.get('meets_target_default_size')}. "
                f"{r['trials']} trials, {r['epochs']} epochs, wall {r['wall_s']:.1f} s per run; one-off data load "
                f"{r['data_load_s'] * 1000:.0f} ms (excluded); first run in a fresh process (cold torch): "
                f"{_pct(first.get('cold_first_run', {}).get('overhead_share'))}."
            ),
            "",
        ]
    t = b.get("throughput", {})
    if "by_threads" in t:
        lines += [
            "## 2. Trainer throughput",
            "",
            "| threads | loop | samples/s (best) | vs raw loop (paired median) | GFLOP/s | share of matmul peak |",
            "|---|---|---|---|---|---|",
        ]
        for threads, res in t["by_threads"].items():
            ratios = res["trainer_vs_raw"]["throughput_ratio_paired_median"]
            flag = " (disturbed)" if res.get("disturbed") else ""
            for name, row in res["achieved"].items():
                lines.append(
                    f"| {threads}{flag} | {name} | {row['samples_per_s_best']:.0f} | {_f(ratios.get(name, 1.0))} | "
                    f"{row['gflops_best']:.1f} | {_pct(row['share_of_matmul_peak'])} |"
                )
        st = t["setup"]
        mm = "; ".join(
            f"{th} thread(s): {res['matmul_gflops']['square_1024']['max']:.0f} GFLOP/s at 1024^3, "
            f"{res['matmul_gflops']['lstm_shape']['max']:.0f} at the LSTM's GEMM shape"
            for th, res in t["by_threads"].items()
        )
        lines += [
            "",
            (
                f"Dense matmul (best of repeats): {mm}. LSTM {st['layers']} x {st['hidden']}, window {st['window']}, "
                f"{st['n_features']} features, batch {st['batch']}: "
                f"{t['flops_per_sample']['train_step'] / 1e6:.2f} MFLOP per training sample "
                "(8*h*(in+h)*window per layer, x3 for fwd+bwd)."
            ),
            "",
        ]
    sq = b.get("search_quality", {})
    if "quality" in sq:
        s = sq["settings"]
        lines += [
            "## 3. Search quality (val macro-F1, labels at defaults, triple_barrier excluded)",
            "",
            (
                f"{len(s['seeds'])} seeds, {s['total_trials']} trials x {s['epochs']} epochs per strategy "
                f"({s['trials_per_group']} per group for grouped), {s['model']}; best objective after n trials, median over seeds."
            ),
            "",
        ]
        cps = sq["checkpoints"]
        lines.append("| data | strategy | " + " | ".join(f"n={n}" for n in cps) + " | winner's val | test macro-F1 |")
        lines.append("|---|---|" + "---|" * len(cps) + "---|---|")
        for dataset, rows in sq["quality"].items():
            for strategy, row in rows.items():
                cells = " | ".join(_f(row["best_after_n_trials_median"][str(n)]) for n in cps)
                lines.append(
                    f"| {dataset} | {strategy} | {cells} | {_f(row.get('winner_val_median'))} | "
                    f"{_f(row['test_f1_median'])} |"
                )
        lines += [
            "",
            (
                "n=...: best val objective seen after n trials; winner's val: the output configuration's own "
                "trial (grouped: best of the last group); test macro-F1: the winner retrained and scored on test. "
                "All medians over seeds."
            ),
        ]
        lines.append("")
        if sq.get("pruning"):
            lines += [
                "## 4. Pruning (grouped search, pruner on vs off)",
                "",
                (
                    "| data | epochs saved (median) | most the settings allow | pruned trials per seed | winner's val on / off "
                    "| test macro-F1 on / off | search s on / off |"
                ),
                "|---|---|---|---|---|---|---|",
            ]
            for dataset, p in sq["pruning"].items():
                lines.append(
                    f"| {dataset} | {_pct(p['epochs_saved_share_median'])} of {p['epochs_max_per_run']} | "
                    f"{_pct(p.get('max_saveable_share'))} | {p['pruned_trials_per_seed']} | "
                    f"{_f(p['winner_val_median']['on'])} / {_f(p['winner_val_median']['off'])} | "
                    f"{_f(p['test_f1_median']['on'])} / {_f(p['test_f1_median']['off'])} | "
                    f"{p['search_s_median']['on']:.0f} / {p['search_s_median']['off']:.0f} |"
                )
            lines.append("")
    sc = b.get("scaling", {})
    if "sizes" in sc:
        lines += [
            "## 5. Scaling",
            "",
            "| bars | data prep s | data peak MiB (above imports) | s/batch | epoch s (est.) |",
            "|---|---|---|---|---|",
        ]
        for row in sc["sizes"]:
            lines.append(
                f"| {row['bars']:,} | {row['prep_s']:.3f} | {row['data_rss_mib']:.0f} | "
                f"{row['s_per_batch'] * 1000:.1f} ms | {row['epoch_s']:.1f} |"
            )
        rr = sc["ratio_of_ratios"]
        chk = sc.get("epoch_check_10k", {})
        lines += [
            "",
            "Ratio of ratios (1.0 = linear): "
            + "; ".join(
                f"{key} " + ", ".join(f"{step} {v:.2f}" for step, v in steps.items()) for key, steps in rr.items()
            )
            + ".",
            f"{sc['epoch_note']} (estimate / measured at 10k: {_f(chk.get('estimate_over_measured'), 2)}).",
            "",
        ]
        al = sc.get("allocator")
        if al:
            lines += [
                (
                    f"Epoch children run with glibc MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_/MALLOC_TOP_PAD_ raised: "
                    f"a bare {al['bars']:,}-bar child with the default thresholds takes "
                    f"{al['s_per_batch_bare_default_malloc'] * 1000:.1f} ms a batch instead of "
                    f"{al['s_per_batch_malloc_env'] * 1000:.1f} ms (page faults after heap trims); "
                    "a `hyperopt` process does not show this."
                ),
                "",
            ]
    pa = b.get("parallel", {})
    if "summary" in pa:
        lines += [
            "## 6. Parallel workers on one machine (trials/hour)",
            "",
            "| model | " + " | ".join(f"{c} (workers x threads)" for c in pa["settings"]["configs"]) + " | best |",
            "|---|" + "---|" * len(pa["settings"]["configs"]) + "---|",
        ]
        for model, row in pa["summary"].items():
            cells = " | ".join(f"{row['trials_per_hour'][c]:.0f}" for c in pa["settings"]["configs"])
            lines.append(f"| {model} | {cells} | {row['best']} |")
        lines.append("")
    others = {k: v for k, v in b.items() if k not in SUITE and "error" not in v}
    if others:
        lines += ["## Other benchmarks run", "", "| bench | seconds | figures |", "|---|---|---|"]
        lines += [f"| {k} | {v.get('bench_s', 0):.0f} | in the JSON file, `benches.{k}` |" for k, v in others.items()]
        lines.append("")
    errors = {k: v["error"] for k, v in b.items() if "error" in v}
    if errors:
        lines += ["Failed benches: " + ", ".join(f"{k} ({v})" for k, v in errors.items()), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI-sized variant (a few minutes)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON output (default: bench/results/<date>.json, or bench/out/quick.json with --quick); "
        "the Markdown table goes next to it with .md",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(REGISTRY),
        default=list(SUITE),
        metavar="NAME",
        help="run these registered benchmarks (see --list; default: the suite)",
    )
    parser.add_argument("--list", action="store_true", help="list every registered benchmark and exit")
    parser.add_argument("--eurusd", default=str(common.DEFAULT_EURUSD), help="EURUSD_H1.csv for search quality")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="date in the file name and report")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="FILE.json",
        help="only rewrite the Markdown table of an existing results file",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other benches of an existing --out file and replace only those run now",
    )
    args = parser.parse_args()
    if args.list:
        print(list_benches())
        return 0
    if args.render is not None:
        args.render.with_suffix(".md").write_text(render_markdown(json.loads(args.render.read_text())) + "\n")
        return 0
    out = args.out or (common.BENCH_DIR / ("out/quick.json" if args.quick else f"results/{args.date}.json"))
    report: dict[str, Any] = {
        "date": args.date,
        "variant": "quick" if args.quick else "full",
        "command": "python bench/run_all.py"
        + (" --quick" if args.quick else "")
        + ("" if args.only == list(SUITE) else " --only " + " ".join(args.only)),
        "machine": common.machine_info(),
        "benches": {},
    }
    previous = json.loads(out.read_text()) if args.merge and out.exists() else None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        for name in REGISTRY:
            if name in args.only:
                report["benches"][name] = _run_bench(name, args.quick, args.eurusd, Path(tmp))
                report["benches"][name]["run_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            elif previous is not None and name in previous["benches"]:
                report["benches"][name] = previous["benches"][name]
    report["total_s"] = time.perf_counter() - start
    if previous is not None:
        report["merged_into"] = {"machine_at_first_run": previous["machine"], "total_s_first_run": previous["total_s"]}
        report["total_s"] += previous["total_s"] - sum(
            previous["benches"][n].get("bench_s", 0.0) for n in args.only if n in previous["benches"]
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(common.rnd(report), indent=2) + "\n")
    md = out.with_suffix(".md")
    md.write_text(render_markdown(report) + "\n")
    print(f"wrote {out} and {md}", file=sys.stderr)
    return 1 if any("error" in v for v in report["benches"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
