"""Orchestration overhead of a quick run: the share of wall time not spent in training/evaluation math.

Runs ``HyperparameterOptimizer.optimize()`` on configs/quick.yaml (what `hyperopt start
--config configs/quick.yaml` runs, with the same live display rendering into /dev/null)
and charges every second of it to a category by wrapping module attributes in this
process only (no library code is changed):

- math: `train_model` of the trials and of the final evaluation, minus what runs inside
  it but is not math (checkpoint writes, the per-epoch hook: Optuna report/prune, state.json,
  events), plus predict / score_predictions / baselines of the final evaluation;
- overhead, by category: Optuna storage calls, state.json/results.json writes, checkpoints,
  events and display, per-trial data lookup, the time-estimate probe, run-dir setup, and
  the unaccounted rest (the loops, summaries, config handling).

The one-off data load (load + features + labels + split, done by the CLI before
optimize) is timed separately and excluded. The display's background refresh thread is
reported separately (it mostly overlaps training on the second core).

    python bench/bench_overhead.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import cProfile
import dataclasses
import io
import os
import pstats
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import common

# Issue 15's targets, on the search phase (groups and trials; the final walk-forward is math
# that dwarfs a quick run's short trials and would hide the per-trial cost).
TARGET_SHARE = {"quick": 0.05, "default": 0.01}
# final_walk_forward_math: the walk-forward trainings and baseline fits of the final evaluation
# (its storage writes are wrapped inside it and charged to their own categories).
MATH = ("train_math", "final_train_math", "final_eval_math", "final_walk_forward_math")


def _instrument(timers: common.SelfTimers) -> None:
    import optuna
    import rich.live

    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.run import events, final, optimizer, rundir, state
    from hyperopt_cli.search import group as search
    from hyperopt_cli.training import trainer

    if getattr(search.train_model, "__bench_hooked__", False):
        return
    from hyperopt_cli.run import groups

    search_phase = groups.GroupRunner.run

    def timed_search_phase(*args: Any, **kwargs: Any) -> Any:  # inclusive: the groups' whole wall time
        t0 = time.perf_counter()
        try:
            return search_phase(*args, **kwargs)
        finally:
            SEARCH_WALL_S[0] += time.perf_counter() - t0

    groups.GroupRunner.run = timed_search_phase  # type: ignore[method-assign]
    timed_train = timers.wrap("train_math", search.train_model)

    def train_with_timed_hooks(*args: Any, hooks: Any = None, **kwargs: Any) -> Any:
        if hooks is not None and hooks.on_epoch is not None:
            hooks = dataclasses.replace(hooks, on_epoch=timers.wrap("epoch_hook", hooks.on_epoch))
        return timed_train(*args, hooks=hooks, **kwargs)

    train_with_timed_hooks.__bench_hooked__ = True  # type: ignore[attr-defined]
    search.train_model = train_with_timed_hooks
    timers.patch(final, "train_model", "final_train_math")
    for name in ("predict", "score_predictions", "baselines", "confusion_matrix"):
        timers.patch(final, name, "final_eval_math")
    for name in ("_walk_forward", "_retrain_last_block"):  # the final evaluation's trainings and baseline fits
        timers.patch(final, name, "final_walk_forward_math")
    timers.patch(trainer, "_write_checkpoint", "checkpoints")
    timers.patch(search, "delete_checkpoint", "checkpoints")
    timers.patch(final, "delete_checkpoint", "checkpoints")
    timers.patch(optuna, "create_study", "optuna_open_study")
    timers.patch(optuna, "load_study", "optuna_open_study")
    for name in ("ask", "tell", "get_trials", "set_user_attr"):
        timers.patch(optuna.study.Study, name, f"optuna_study.{name}")
    for name in ("report", "should_prune", "set_user_attr", "suggest_float", "suggest_int", "suggest_categorical"):
        timers.patch(optuna.trial.Trial, name, "optuna_trial." + ("suggest" if name.startswith("suggest") else name))
    timers.patch(state.StateWriter, "write", "state_json")
    timers.patch(optimizer.HyperparameterOptimizer, "_results", "state_json")
    timers.patch(rundir, "write_json", "state_json")
    timers.patch(events.FanOut, "emit", "events_display")
    timers.patch(rich.live.Live, "refresh", "display_refresh")
    timers.patch(optimizer, "seconds_per_epoch", "time_estimate_probe")
    timers.patch(DataPreparer, "prepare", "data_between_trials")
    timers.patch(optimizer, "init_or_check_run_dir", "run_dir_setup")
    timers.patch(optimizer, "check_data", "run_dir_setup")
    timers.patch(optimizer, "load_finished_groups", "run_dir_setup")
    timers.patch(search, "summarize", "summaries")
    timers.patch(state, "summarize", "summaries")
    timers.patch(search, "group_done_record", "optuna_study.user_attrs")
    timers.patch(search, "make_sampler", "sampler_rebuild")
    timers.patch(search, "claim", "worker_claims")
    timers.patch(rundir.RunLock, "acquire", "run_dir_setup")
    timers.patch(rundir.RunLock, "release", "run_dir_setup")


def _display() -> Any:
    from rich.console import Console

    from hyperopt_cli.cli.progress import LiveDisplay

    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the display
    return LiveDisplay(Console(file=sink, force_terminal=True, width=140))


def one_run(cfg: Any, workdir: Path, profile: bool = False) -> dict[str, Any]:
    """One quick run; returns wall time and its split into math and overhead categories."""
    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    t0 = time.perf_counter()
    preparer = DataPreparer.for_run(load_data(cfg), cfg)
    preparer.prepare(cfg.labels)
    data_load_s = time.perf_counter() - t0

    timers = TIMERS
    _instrument(timers)  # once per process; later runs only reset the counters
    timers.reset()
    SEARCH_WALL_S[0] = 0.0
    opt = HyperparameterOptimizer(cfg, workdir / f"run{time.monotonic_ns()}", preparer=preparer)
    display = _display()
    opt.events.sinks = (*opt.events.sinks, display)
    display.start()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    try:
        if profiler is not None:
            results = profiler.runcall(opt.optimize, threading.Event())
        else:
            results = opt.optimize(threading.Event())
    finally:
        wall = time.perf_counter() - start
        display.stop()
    cats = dict(timers.self_s)
    math_s = sum(cats.get(k, 0.0) for k in MATH)
    overhead = {k: v for k, v in cats.items() if k not in MATH}
    overhead["other_unaccounted"] = wall - sum(cats.values())
    overhead_s = wall - math_s
    n_trials = sum(
        sum(g["n_trials"][k] for k in ("complete", "pruned", "failed")) for g in results["group_results"].values()
    )
    epochs = timers.calls.get("epoch_hook", 0)
    out = {
        "wall_s": wall,
        "data_load_s": data_load_s,
        "math_s": math_s,
        "math_split_s": {k: cats.get(k, 0.0) for k in MATH},
        "overhead_s": overhead_s,
        "overhead_share": overhead_s / wall,
        "overhead_split_s": dict(sorted(overhead.items(), key=lambda kv: -kv[1])),
        "calls": dict(timers.calls),
        "display_refresh_thread_s": timers.other_threads_s.get("display_refresh", 0.0),
        "trials": n_trials,
        "epochs": epochs,
        "overhead_ms_per_trial": 1000 * overhead_s / max(n_trials, 1),
    }
    out["overhead_share_incl_display_thread"] = (overhead_s + out["display_refresh_thread_s"]) / wall
    # The search alone (groups and trials, without the final evaluation's walk-forward trainings,
    # which dwarf 6 short trials): the share a long quick run converges to.
    search_wall = SEARCH_WALL_S[0]
    out["search_wall_s"] = search_wall
    out["search_overhead_share"] = (search_wall - cats.get("train_math", 0.0)) / search_wall if search_wall else None
    if profiler is not None:
        out["profile"] = _profile_summary(profiler)
    return out


TIMERS = common.SelfTimers()
SEARCH_WALL_S = [0.0]


def _profile_summary(profiler: cProfile.Profile, top: int = 15) -> dict[str, Any]:
    """Top functions outside the training math, by cumulative and by own time."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("site-packages/")[-1].split("src/")[-1]
        rows.append({"function": f"{where}:{line}({func})", "calls": nc, "own_s": tt, "cum_s": ct})

    math_like = (
        "torch/",
        "torch._C",
        "built-in method torch",
        "hyperopt_cli/trainer.py",
        "hyperopt_cli/losses.py",
        "hyperopt_cli/model.py",
        "hyperopt_cli/dataset.py",
        "hyperopt_cli/seeding.py",
        "hyperopt_cli/metrics.py",
        "hyperopt_cli/evaluation.py",
        "sklearn/",
        "scipy",
        "numpy",
        "<method 'item'",
        "<method 'numpy'",
    )
    outside = [r for r in rows if not any(m in r["function"] for m in math_like)]
    by_own = sorted(outside, key=lambda r: -r["own_s"])[:top]
    by_cum = sorted(
        (r for r in outside if "optuna/" in r["function"] or "hyperopt_cli/" in r["function"]),
        key=lambda r: -r["cum_s"],
    )[:top]
    return {
        "note": "cProfile of one more run; times inflated by the profiler, compare them with each other only",
        "top_own_time_outside_math": by_own,
        "top_cumulative_optuna_and_hyperopt_cli": by_cum,
    }


def _series(raw: dict[str, Any], threads: int, repeats: int, workdir: Path, cold: bool) -> dict[str, Any]:
    import os as _os

    import torch

    raw = {**raw, "trainer": {**raw.get("trainer", {}), "num_threads": threads}}
    cfg = common.make_cfg(raw)
    torch.set_num_threads(threads or len(_os.sched_getaffinity(0)))  # also for the probe, which runs before training
    first = one_run(cfg, workdir) if cold else None
    runs = [one_run(cfg, workdir) for _ in range(repeats)]
    median_run = sorted(runs, key=lambda r: r["overhead_share"])[len(runs) // 2]
    out = {
        "torch_threads": torch.get_num_threads(),
        "overhead_share_median": common.median([r["overhead_share"] for r in runs]),
        "overhead_shares": [r["overhead_share"] for r in runs],
        "overhead_ms_per_trial_median": common.median([r["overhead_ms_per_trial"] for r in runs]),
        "search_overhead_share_median": common.median([r["search_overhead_share"] for r in runs]),
        "median_run": median_run,
        "runs": [{k: r[k] for k in ("wall_s", "math_s", "overhead_s", "overhead_share")} for r in runs],
    }
    if first is not None:
        out["cold_first_run"] = {k: first[k] for k in ("wall_s", "overhead_share", "overhead_split_s")}
    return out


def run(quick: bool = False) -> dict[str, Any]:
    # One worker's view: storage as `start` gives it (journal files), and SQLite files (the
    # default before journal files; `storage_url: sqlite`) as the baseline in the same run.
    # One ensemble seed: the final evaluation is charged to math and only slows the bench.
    raw = {**common.read_quick_yaml(), "workers": 1, "ensemble_seeds": 1}
    repeats = 1 if quick else 3
    # threads 0 = torch's own (one per core); 1 = one thread, what each parallel worker runs.
    settings = [("1_thread", 1, "journal"), ("1_thread_sqlite", 1, "sqlite")]
    if not quick:
        settings.append(("default", 0, "journal"))
    series = {}
    with tempfile.TemporaryDirectory(prefix="bench_overhead_") as tmp:
        # The first run of a process also pays torch's one-off set-up (oneDNN primitives),
        # mostly inside the time-estimate probe: reported as cold_first_run, not in the median.
        for i, (name, threads, storage) in enumerate(settings):
            series[name] = _series({**raw, "storage_url": storage}, threads, repeats, Path(tmp), cold=i == 0)
        if not quick:
            # The same instrumented run at the default config's data and model size (20k bars,
            # LSTM 2 x 64, 4 epochs), learning_rate group only, 3 trials: the per-trial cost is
            # about the same, the trials are ~20x longer.
            big = {
                **common.read_yaml("configs/default.yaml"),
                "mode": "quick",
                "max_trials_per_group": 3,
                "workers": 1,
                "ensemble_seeds": 1,
                "storage_url": "journal",
            }
            series["default_yaml_1_thread"] = _series(big, 1, 1, Path(tmp), cold=False)
        headline = series["1_thread"]
        share = headline["search_overhead_share_median"]
        profile = None
        if share > TARGET_SHARE["quick"] and not quick:
            import torch

            torch.set_num_threads(1)
            profile = one_run(common.make_cfg({**raw, "trainer": {"num_threads": 1}}), Path(tmp), profile=True)[
                "profile"
            ]
    return {
        "what": "share of optimize() wall time outside training/evaluation math, configs/quick.yaml, live display to /dev/null",
        "config": {
            "file": "configs/quick.yaml",
            **{k: raw[k] for k in ("mode", "epochs_per_trial", "max_trials_per_group")},
            "bars": raw["data"]["synthetic"]["n_bars"],
        },
        "repeats": repeats,
        "headline": "1_thread",
        "search_overhead_share_median": share,
        "target_share": TARGET_SHARE,
        "meets_target_quick": share <= TARGET_SHARE["quick"],
        "meets_target_default_size": (
            series["default_yaml_1_thread"]["search_overhead_share_median"] <= TARGET_SHARE["default"]
        )
        if "default_yaml_1_thread" in series
        else None,
        "series": series,
        "profile": profile,
        "instrumentation_missing": TIMERS.missing,
    }


if __name__ == "__main__":
    common.bench_main(run, __doc__)
