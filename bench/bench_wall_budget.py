"""The best value a search reaches in a fixed wall budget: today's 3-fold search vs the raced one (issue 31).

Runs `hyperopt start --mode quick` (the learning_rate group, 15 trials of 4 epochs, pruning on,
`convergence_patience` lifted so that both arms run every trial) on EURUSD_H1 and NASDAQ_D1 for
seeds 0, 1 and 2, in two arms, one after the other (bench_selection_cost.one_run, one worker, one
torch thread):
- today: three folds, every trial trains every fold (`race_margin_se: null`, `race_eta: null`);
- raced: three folds raced against the incumbent at 1 SE and ranked (`race_eta: 3`).
The budget T is today's group wall time. For each seed it reports today's best value at T (its
last), the raced search's best value at T/2 and at its own end, when (as a share of T) the raced
search first reached today's best, trials per hour of each arm's group wall, and each final
model's test macro-F1. The target: the raced search at T/2 is at least as good as today's at T
(the search's own objective, validation cross-entropy over the folds: lower is better), median of
the 3 seeds. The epoch ladder is left out: it changes how long a trial trains, not what it costs
to score one.

    python bench/bench_wall_budget.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import common
from bench_selection_cost import DATA, one_run

SEEDS = (0, 1, 2)
# (name, race_margin_se, race_eta)
ARMS: tuple[tuple[str, float | None, int | None], ...] = (("today", None, None), ("raced", 1.0, 3))


def settings(quick: bool) -> dict[str, Any]:
    return {
        "trials": 6 if quick else 15,
        "seeds": list(SEEDS[:1] if quick else SEEDS),
        "arms": [list(a) for a in ARMS],
        "data": list(DATA[:1] if quick else DATA),
    }


def best_at(curve: list[list[float]], seconds: float) -> float | None:
    """The best value reached by `seconds` after the group started (None: no trial completed by then)."""
    reached = [best for t, best in curve if t <= seconds]
    return reached[-1] if reached else None


def first_reaching(curve: list[list[float]], target: float) -> float | None:
    """Seconds until the curve's best is at least as good (as low) as `target`; None if it never is."""
    return next((t for t, best in curve if best <= target), None)


def compare(today: dict[str, Any], raced: dict[str, Any]) -> dict[str, Any]:
    budget = today.get("group_wall_s")
    if "error" in today or "error" in raced or not budget or not today["best_curve"] or not raced["best_curve"]:
        return {"error": today.get("error") or raced.get("error") or "no completed trial"}
    today_best = today["best_curve"][-1][1]
    raced_half = best_at(raced["best_curve"], budget / 2)
    reached = first_reaching(raced["best_curve"], today_best)
    return {
        "budget_s": budget,
        "today_best": today_best,
        "raced_best_at_half": raced_half,
        "raced_best_at_end": raced["best_curve"][-1][1],
        "as_good_at_half": raced_half is not None and raced_half <= today_best,
        "raced_reaches_today_at_share": None if reached is None else reached / budget,
        "today_trials_per_hour": 3600 * today["trials"] / budget,
        "raced_trials_per_hour": 3600 * raced["trials"] / raced["group_wall_s"] if raced["group_wall_s"] else None,
        "raced_out": raced["raced_out"],
        "today_test_macro_f1": today["test_macro_f1"],
        "raced_test_macro_f1": raced["test_macro_f1"],
    }


def run(quick: bool = False) -> dict[str, Any]:
    s = settings(quick)
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_wall_budget_") as folder:
        for data in s["data"]:
            per_seed = []
            for seed in s["seeds"]:
                extra = (f"seed={seed}", "convergence_patience=100")
                arms = {
                    name: one_run(3, s["trials"], data, Path(folder), race, name, eta, extra)
                    for name, race, eta in ARMS
                }
                row = {"data": Path(data).stem, "seed": seed, **compare(arms["today"], arms["raced"]), "runs": arms}
                rows.append(row)
                per_seed.append(row)
                print({k: v for k, v in row.items() if k != "runs"}, file=sys.stderr, flush=True)
            summary[Path(data).stem] = summarise(per_seed)
    return {
        "settings": s,
        "rows": rows,
        "summary": summary,
        "load_avg": common.load_avg(),
        "commit": common.git_commit(),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    if not ok:
        return {"error": "no seed finished"}
    gaps = [r["today_best"] - r["raced_best_at_half"] for r in ok if r["raced_best_at_half"] is not None]
    return {
        "seeds": len(ok),
        "as_good_at_half": sum(bool(r["as_good_at_half"]) for r in ok),
        "median_gain_at_half": statistics.median(gaps) if gaps else None,  # > 0: the raced search is lower (better)
        "median_rate_ratio": statistics.median(
            r["raced_trials_per_hour"] / r["today_trials_per_hour"] for r in ok if r["raced_trials_per_hour"]
        ),
    }


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Wall budget: the best value in today's time T, today's 3-fold search vs raced (1 SE, eta 3)",
        "",
        "Values are the search's objective (validation cross-entropy over 3 folds, lower is better).",
        "",
        "| data | seed | T s | today at T | raced at T/2 | raced at end | as good at T/2 | raced reaches today at | "
        "trials/hour today | raced | raced out | test F1 today | raced |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['data']} | {r['seed']} | error: {r['error']} |")
            continue
        lines.append(
            f"| {r['data']} | {r['seed']} | {r['budget_s']:.0f} | {r['today_best']:.4f} | "
            f"{_fmt(r['raced_best_at_half'], '.4f')} | {r['raced_best_at_end']:.4f} | "
            f"{'yes' if r['as_good_at_half'] else 'no'} | {_fmt(r['raced_reaches_today_at_share'], '.2f')} T | "
            f"{r['today_trials_per_hour']:.0f} | {_fmt(r['raced_trials_per_hour'], '.0f')} | {r['raced_out']} | "
            f"{_fmt(r['today_test_macro_f1'])} | {_fmt(r['raced_test_macro_f1'])} |"
        )
    lines += [
        "",
        "| data | seeds as good at T/2 | median gain at T/2 | median trials/hour ratio |",
        "|---|---|---|---|",
    ]
    for data, s in result["summary"].items():
        if "error" in s:
            lines.append(f"| {data} | error: {s['error']} |")
            continue
        lines.append(
            f"| {data} | {s['as_good_at_half']} of {s['seeds']} | {_fmt(s['median_gain_at_half'], '+.4f')} | "
            f"{s['median_rate_ratio']:.2f} |"
        )
    lines += ["", f"load {result['load_avg']}; commit {result['commit']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "wall-budget", "EURUSD only, seed 0, 6 trials")


if __name__ == "__main__":
    main()
