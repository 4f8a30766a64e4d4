"""Search quality per trial budget (grouped vs joint TPE vs random) and what the pruner saves.

Three strategies get the same total number of trials and epochs per trial, on the same
data, for each seed:
- grouped: this tool. `HyperparameterOptimizer.optimize()` over the groups learning_rate,
  regularization, class_balance, augmentation, scheduler in order, K trials each, best
  values frozen group by group, then its own final evaluation;
- joint_tpe: one Optuna study over all 14 parameters of those groups, 5 x K trials, with
  the tool's own sampler (search.make_sampler: multivariate TPE, n_startup_trials random
  trials first, reseeded per trial);
- random: the same joint study with optuna's RandomSampler.
The triple_barrier group is left out of all three (labels at their defaults), so every
trial's val_f1 is measured against the same labels and the values are comparable.
Pruning is off for this comparison (n_warmup_steps = epochs) and so is early stopping
by convergence (convergence_patience = K), so every strategy trains exactly
5 x K x epochs epochs. The objective is the tool's: the final epoch's validation macro-F1,
halved for a collapsed trial (val precision < 0.35).

Reported per dataset and strategy: the best objective reached after n trials (median over
seeds, n = 1..5K); the winner's validation value (the configuration the strategy outputs,
as measured in its own trial: for grouped the best trial of the last group, since each
group's best is frozen even when it is below an earlier group's best); and the test
macro-F1 of each winner, trained once more with the winner's params and scored on the
untouched test segment exactly as the tool's final evaluation does (same seed, epochs).

Pruning: the grouped search again with the tool's pruner on, at the tool's defaults
(PercentilePruner 50th percentile, n_warmup_steps 2, n_startup_trials 3 per group, 4
epochs) on the same seeds: epochs trained vs the unpruned grouped runs, best value and
test macro-F1 with and without.

Jobs run two at a time (one torch thread each; see bench_parallel.py for why).

    python bench/bench_search_quality.py [--quick] [--eurusd PATH] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import logging
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import common

STRATEGIES = ("grouped", "joint_tpe", "random")
SEARCH_GROUPS = ("learning_rate", "regularization", "class_balance", "augmentation", "scheduler")


def settings(quick: bool) -> dict[str, Any]:
    # Full: the tool's defaults for epochs (4), n_startup_trials (3) and the pruner (n_warmup_steps 2).
    # Quick: a smoke run; n_startup_trials 1 and n_warmup_steps 1 so that the pruner can act at all.
    if quick:
        return {
            "seeds": [0, 1],
            "trials_per_group": 2,
            "epochs": 3,
            "n_startup_trials": 1,
            "n_warmup_steps": 1,
            "parallel_jobs": 2,
        }
    return {
        "seeds": [0, 1, 2],
        "trials_per_group": 6,
        "epochs": 4,
        "n_startup_trials": 3,
        "n_warmup_steps": 2,
        "parallel_jobs": 2,
    }


def raw_config(dataset: str, eurusd: str, seed: int, st: dict[str, Any], pruning: bool) -> dict[str, Any]:
    k, epochs = st["trials_per_group"], st["epochs"]
    data: dict[str, Any] = {"window": 24}
    if dataset == "eurusd":
        data["path"] = eurusd
    else:
        data["synthetic"] = {"n_bars": 5000, "seed": 0}  # the same bars for every seed
    return {
        "mode": "full",
        "seed": seed,
        "epochs_per_trial": epochs,
        "max_trials_per_group": k,
        "n_startup_trials": st["n_startup_trials"],
        "n_warmup_steps": st["n_warmup_steps"] if pruning else epochs,  # warm-up >= epochs: never prunes
        "pruning_percentile": 50.0,
        "convergence_patience": k,  # never ends a group before its K trials
        "data": data,
        "model": {"hidden_size": 32, "num_layers": 1},
        "trainer": {"num_threads": 1, "checkpoint_interval_s": 3600.0},
    }


# ---------------------------------------------------------------------------- one job (child process)


def _final_test_f1(cfg: Any, preparer: Any, params: dict[str, Any]) -> float:
    """The tool's final evaluation: train the winner once more (seed 'final') and score the test segment."""
    from hyperopt_cli.config import with_params
    from hyperopt_cli.evaluation.walkforward import score_predictions
    from hyperopt_cli.training.seeding import derive_seed
    from hyperopt_cli.training.trainer import predict, train_model

    trainer_cfg, labels_cfg = with_params(cfg, params)
    data = preparer.prepare(labels_cfg)
    result = train_model(data, trainer_cfg, cfg.model, epochs=cfg.epochs_per_trial, seed=derive_seed(cfg.seed, "final"))
    pred, _ = predict(result.model, data.test, trainer_cfg.eval_batch_size, "cpu")
    return float(score_predictions(data.test.labels, data.test.forward_returns, pred)["macro_f1"])


def _grouped(cfg: Any, preparer: Any, workdir: Path) -> dict[str, Any]:
    import optuna

    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    cfg.groups_to_run = lambda: SEARCH_GROUPS  # instance attribute: full mode without triple_barrier
    run_dir = workdir / "run"
    results = HyperparameterOptimizer(cfg, run_dir, preparer=preparer).optimize()
    values: list[float | None] = []
    epochs_run = pruned_last = 0
    for group in SEARCH_GROUPS:
        study = optuna.load_study(
            study_name=f"{cfg.study_name}_{group}", storage=f"sqlite:///{run_dir / f'{cfg.study_name}_{group}.db'}"
        )
        for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
            if t.user_attrs.get("surplus"):
                continue
            values.append(t.value if t.state == optuna.trial.TrialState.COMPLETE else None)
            epochs_run += len(t.intermediate_values)
            if t.state == optuna.trial.TrialState.PRUNED and len(t.intermediate_values) >= cfg.epochs_per_trial:
                pruned_last += 1  # pruned after its final epoch: nothing saved, its result discarded
    best_params = dict(results["best_params"])
    return {
        "values": values,
        "best_params": best_params,
        "epochs_trained": epochs_run,
        "tool_test_f1": (results.get("test_metrics") or {}).get("macro_f1"),
        "pruned": sum(g["n_trials"]["pruned"] for g in results["group_results"].values()),
        "pruned_after_last_epoch": pruned_last,
    }


def _joint(cfg: Any, preparer: Any, strategy: str, n_trials: int) -> dict[str, Any]:
    import optuna

    from hyperopt_cli.config import with_params
    from hyperopt_cli.core.errors import DivergedError
    from hyperopt_cli.search.group import make_sampler
    from hyperopt_cli.search.space import sample_params
    from hyperopt_cli.training.seeding import derive_seed
    from hyperopt_cli.training.trainer import train_model

    space = {name: spec for g in SEARCH_GROUPS for name, spec in cfg.search_space[g].items()}
    study = optuna.create_study(direction="maximize")
    values: list[float | None] = []
    best_value, best_params = None, None
    for n in range(n_trials):
        if strategy == "joint_tpe":
            study.sampler = make_sampler(cfg, "joint", n)
        else:
            study.sampler = optuna.samplers.RandomSampler(seed=derive_seed(cfg.seed, "random", n))
        trial = study.ask()
        params = sample_params(trial, space)
        trainer_cfg, labels_cfg = with_params(cfg, params)
        try:
            result = train_model(
                preparer.prepare(labels_cfg),
                trainer_cfg,
                cfg.model,
                epochs=cfg.epochs_per_trial,
                seed=derive_seed(cfg.seed, strategy, n),
            )
        except DivergedError:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            values.append(None)
            continue
        final = result.history[-1]
        value = final.val_f1 * (0.5 if final.val_precision < cfg.collapse_precision else 1.0)
        study.tell(trial, value)
        values.append(value)
        if best_value is None or value > best_value:
            best_value, best_params = value, params
    return {"values": values, "best_params": best_params, "epochs_trained": n_trials * cfg.epochs_per_trial}


def job(spec: dict[str, Any]) -> dict[str, Any]:
    """One (dataset, strategy, seed) search in this process; returns its trial values and winner's test F1."""
    import torch

    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import DataPreparer

    logging.getLogger("hyperopt_cli").addHandler(logging.NullHandler())  # mode-collapse warnings: counted, not shown
    logging.getLogger("hyperopt_cli").propagate = False
    torch.set_num_threads(1)
    cfg = common.make_cfg(raw_config(spec["dataset"], spec["eurusd"], spec["seed"], spec["settings"], spec["pruning"]))
    preparer = DataPreparer.for_run(load_data(cfg), cfg)
    preparer.prepare(cfg.labels)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_sq_") as tmp:
        if spec["strategy"] == "grouped":
            out = _grouped(cfg, preparer, Path(tmp))
        else:
            out = _joint(cfg, preparer, spec["strategy"], cfg.max_trials_per_group * len(SEARCH_GROUPS))
    out["search_s"] = time.perf_counter() - start
    out["test_f1"] = _final_test_f1(cfg, preparer, out["best_params"] or {}) if out["best_params"] is not None else None
    return {**{k: spec[k] for k in ("dataset", "strategy", "seed", "pruning")}, **out}


# ---------------------------------------------------------------------------- aggregation


def best_so_far(values: list[float | None]) -> list[float | None]:
    out, best = [], None
    for v in values:
        if v is not None and (best is None or v > best):
            best = v
        out.append(best)
    return out


def _median_curve(curves: list[list[float | None]]) -> list[float | None]:
    n = max(len(c) for c in curves)
    out = []
    for i in range(n):
        column = [c[i] for c in curves if i < len(c) and c[i] is not None]
        out.append(common.median(column) if column else None)
    return out


def winner_value(run: dict[str, Any], k: int) -> float | None:
    """Validation objective of the configuration a strategy outputs, as measured in its own trial.

    joint/random: the best trial. grouped: the best trial of the *last* group, because the
    tool freezes each group's best even when it is below what an earlier group reached.
    """
    values = run["values"][-k:] if run["strategy"] == "grouped" else run["values"]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def group_bests(run: dict[str, Any], k: int) -> list[float | None]:
    out = []
    for i in range(len(SEARCH_GROUPS)):
        present = [v for v in run["values"][i * k : (i + 1) * k] if v is not None]
        out.append(max(present) if present else None)
    return out


def aggregate(results: list[dict[str, Any]], st: dict[str, Any]) -> dict[str, Any]:
    k = st["trials_per_group"]
    n_total = k * len(SEARCH_GROUPS)
    checkpoints = sorted({1, k, 2 * k, 3 * k, 4 * k, n_total} | ({n_total // 2} if n_total > 10 else set()))
    quality: dict[str, Any] = {}
    pruning: dict[str, Any] = {}
    for dataset in sorted({r["dataset"] for r in results}):
        rows = {}
        for strategy in STRATEGIES:
            runs = sorted(
                (r for r in results if r["dataset"] == dataset and r["strategy"] == strategy and not r["pruning"]),
                key=lambda r: r["seed"],
            )
            curve = _median_curve([best_so_far(r["values"]) for r in runs])
            tests = [r["test_f1"] for r in runs if r["test_f1"] is not None]
            rows[strategy] = {
                "best_after_n_trials_median": {str(n): curve[n - 1] for n in checkpoints},
                "curve_median": curve,
                "final_best_median": curve[-1],
                "test_f1_median": common.median(tests) if tests else None,
                "test_f1_per_seed": [r["test_f1"] for r in runs],
                "final_best_per_seed": [best_so_far(r["values"])[-1] for r in runs],
                "winner_val_median": common.median([w for r in runs if (w := winner_value(r, k)) is not None]),
                "winner_val_per_seed": [winner_value(r, k) for r in runs],
                "search_s_median": common.median([r["search_s"] for r in runs]),
            }
            if strategy == "grouped":
                rows[strategy]["tool_test_f1_per_seed"] = [r.get("tool_test_f1") for r in runs]
                rows[strategy]["group_best_per_seed"] = {str(r["seed"]): group_bests(r, k) for r in runs}
        quality[dataset] = rows
        on = sorted((r for r in results if r["dataset"] == dataset and r["pruning"]), key=lambda r: r["seed"])
        off = sorted(
            (r for r in results if r["dataset"] == dataset and r["strategy"] == "grouped" and not r["pruning"]),
            key=lambda r: r["seed"],
        )
        if on:
            max_epochs = n_total * st["epochs"]
            pruning[dataset] = {
                "epochs_max_per_run": max_epochs,
                "epochs_trained_per_seed": {
                    "off": [r["epochs_trained"] for r in off],
                    "on": [r["epochs_trained"] for r in on],
                },
                "epochs_saved_share_median": common.median([1 - r["epochs_trained"] / max_epochs for r in on]),
                "pruned_trials_per_seed": [r["pruned"] for r in on],
                "pruned_after_last_epoch_per_seed": [r["pruned_after_last_epoch"] for r in on],
                # Only trials after the first n_startup_trials of a group can be pruned, and at the
                # earliest after epoch index n_warmup_steps, so at most this share can be saved:
                "max_saveable_share": max(0, k - st["n_startup_trials"])
                * max(0, st["epochs"] - st["n_warmup_steps"] - 1)
                / (k * st["epochs"]),
                "best_value_median": {
                    "off": common.median([best_so_far(r["values"])[-1] for r in off]),
                    "on": common.median([best_so_far(r["values"])[-1] for r in on]),
                },
                "winner_val_median": {
                    "off": common.median([winner_value(r, k) for r in off]),
                    "on": common.median([winner_value(r, k) for r in on]),
                },
                "test_f1_median": {
                    "off": common.median([r["test_f1"] for r in off]),
                    "on": common.median([r["test_f1"] for r in on]),
                },
                "search_s_median": {
                    "off": common.median([r["search_s"] for r in off]),
                    "on": common.median([r["search_s"] for r in on]),
                },
            }
    return {"quality": quality, "pruning": pruning, "checkpoints": checkpoints}


def run(quick: bool = False, eurusd: str = str(common.DEFAULT_EURUSD)) -> dict[str, Any]:
    st = settings(quick)
    datasets = ["eurusd", "synthetic"]
    if not Path(eurusd).is_file():
        raise SystemExit(f"--eurusd {eurusd}: file not found")
    specs = []
    for dataset in datasets:
        for seed in st["seeds"]:
            for strategy in STRATEGIES:
                specs.append({"dataset": dataset, "strategy": strategy, "seed": seed, "pruning": False})
            specs.append({"dataset": dataset, "strategy": "grouped", "seed": seed, "pruning": True})
    for spec in specs:
        spec.update(eurusd=eurusd, settings=st)
    start = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=st["parallel_jobs"], mp_context=ctx) as pool:
        results = list(pool.map(job, specs))
    wall = time.perf_counter() - start
    return {
        "what": "best val objective (val macro-F1, halved if collapsed) after n trials, median over seeds; "
        "test macro-F1 of each winner; labels at defaults (triple_barrier excluded from all strategies)",
        "settings": {
            **st,
            "total_trials": st["trials_per_group"] * len(SEARCH_GROUPS),
            "groups": list(SEARCH_GROUPS),
            "datasets": {"eurusd": eurusd, "synthetic": "5000 synthetic bars, data seed 0"},
            "model": "LSTM 1 x 32, window 24",
            "pruner": f"PercentilePruner(50, n_warmup_steps={st['n_warmup_steps']}, "
            f"n_startup_trials={st['n_startup_trials']}) in the pruning runs only",
        },
        **aggregate(results, st),
        "runs": results,
        "wall_s": wall,
    }


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eurusd", default=str(common.DEFAULT_EURUSD), help="EURUSD_H1.csv path")


if __name__ == "__main__":
    common.bench_main(run, __doc__, _extra)
