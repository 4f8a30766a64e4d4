"""Selection: does what the search optimises rank configurations the way they score out of sample?

For each data set, N configurations (the default plus N-1 drawn at random from the
learning_rate and regularization ranges, seeded) are each
- scored by the OLD objective: last-epoch validation macro-F1 on the single configured split,
  x0.5 when validation macro precision < collapse_precision (the rule before issue 23);
- scored by the NEW objective: validation cross-entropy averaged over `selection_folds` purged
  expanding-window folds inside train+val, at the best epoch of the fold-mean curve
  (search/selection.py, exactly what a trial reports), which also chooses the epoch count;
- evaluated out of sample: pooled walk-forward macro-F1 over the test segment (3 blocks, each
  trained on everything before it, purged; one model per block), once with the configured
  epochs (what the old rule trains) and once with the epochs the new objective chose.

Reported per data set: Spearman rank correlation of each objective (oriented so that higher
means "the search prefers it") with the walk-forward score of the same configuration, and
the top-1 pick's test score under each rule. The last fold of the new objective is the
single split, trained with the same seed, so the old objective comes from the same models.

    python bench/bench_selection.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import common

N_BARS = 5000
DATASETS = ("EURUSD_H1", "NASDAQ_D1", "planted_pattern")


def settings(quick: bool) -> dict[str, Any]:
    # test_seeds: models per walk-forward block voting by mean probability, as the final evaluation
    # does (ensemble_seeds); one seed's test F1 moves by ~0.02-0.03, as much as configurations differ.
    if quick:
        return {"configs": 4, "datasets": ("EURUSD_H1",), "jobs": 2, "seed": 0, "test_seeds": 1}
    # BENCH_SELECTION_DATASETS (a comma list) narrows a full run to some data sets.
    datasets = tuple(os.environ.get("BENCH_SELECTION_DATASETS", ",".join(DATASETS)).split(","))
    return {"configs": 9, "datasets": datasets, "jobs": 2, "seed": 0, "test_seeds": 3}


def configurations(n: int, seed: int) -> list[dict[str, Any]]:
    """The default (empty overrides) and n-1 random points of the learning_rate and regularization ranges."""
    from hyperopt_cli.config import default_search_space

    space = {**default_search_space()["learning_rate"], **default_search_space()["regularization"]}
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = [{}]
    for _ in range(n - 1):
        params: dict[str, Any] = {}
        for name, spec in space.items():
            if spec.type == "categorical":
                params[name] = spec.choices[int(rng.integers(len(spec.choices)))]
            elif spec.log:
                params[name] = float(np.exp(rng.uniform(np.log(spec.low), np.log(spec.high))))
            else:
                params[name] = float(rng.uniform(spec.low, spec.high))
        out.append(params)
    return out


def write_datasets(folder: Path) -> dict[str, Path]:
    import synthetic_markets

    paths = {name: common.REPO / "tests" / "data" / f"{name}.csv" for name in ("EURUSD_H1", "NASDAQ_D1")}
    path = folder / "planted_pattern.csv"
    synthetic_markets.planted_pattern(N_BARS, seed=7).to_csv(path, index_label="timestamp")
    paths["planted_pattern"] = path
    return paths


def evaluate(data_path: str, params: dict[str, Any], seed: int, test_seeds: int) -> dict[str, Any]:
    """Both objectives and the walk-forward scores of one configuration."""
    import warnings

    warnings.filterwarnings("ignore")
    from hyperopt_cli.config import with_params
    from hyperopt_cli.data.load import load_ohlcv
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.evaluation.lstm import lstm_fit_predict
    from hyperopt_cli.evaluation.walkforward import WalkForwardSource, walk_forward
    from hyperopt_cli.search.outcome import fold_curve
    from hyperopt_cli.search.selection import select
    from hyperopt_cli.training.seeding import derive_seed
    from hyperopt_cli.training.trainer import train_model

    t0 = time.perf_counter()
    raw = common.read_yaml("configs/default.yaml")
    raw.update(seed=seed)
    raw["data"]["path"] = data_path
    raw["trainer"].update(num_threads=1, device="cpu", precision="fp32")
    cfg = common.make_cfg(raw)
    trainer_cfg, labels_cfg = with_params(cfg, params)
    preparer = DataPreparer.for_run(load_ohlcv(data_path), cfg)
    folds = preparer.prepare_folds(labels_cfg, cfg.selection_folds)
    results = []
    for k, data in enumerate(folds):
        fold_seed = derive_seed(seed, "bench", 0) if k == len(folds) - 1 else derive_seed(seed, "bench", 0, "fold", k)
        results.append(train_model(data, trainer_cfg, cfg.model, epochs=cfg.epochs_per_trial, seed=fold_seed))
    curves = [fold_curve(r, d) for r, d in zip(results, folds)]
    new = select(curves, "val_loss", "minimize")
    last = results[-1].history[-1]
    old = last.val_f1 * (0.5 if last.val_precision < cfg.collapse_precision else 1.0)
    # The same models, other rules: which part of the change does the work?
    variants = {
        "f1_split_last_no_penalty": last.val_f1,
        "ce_split_best": -select(curves[-1:], "val_loss", "minimize").value,
        "ce_folds_last": -new.curve[-1],
        "f1_folds_best": select(curves, "val_f1", "maximize").value,
    }

    data = preparer.prepare(labels_cfg)
    source = WalkForwardSource.from_prepared(preparer, data)

    def test_f1(epochs: int) -> float:
        fit = lstm_fit_predict(
            trainer_cfg,
            cfg.model,
            epochs=epochs,
            seed=derive_seed(seed, "final"),
            purge_bars=data.purge_bars,
            feature_names=data.feature_names,
            ensemble_seeds=test_seeds,
        )
        return float(walk_forward(source, fit, n_blocks=cfg.walk_forward_blocks, seed=seed).pooled["model"]["macro_f1"])

    fixed = test_f1(cfg.epochs_per_trial)
    chosen = fixed if new.epochs == cfg.epochs_per_trial else test_f1(new.epochs)
    return {
        "params": params,
        "old_objective": old,
        "old_collapsed": bool(last.val_precision < cfg.collapse_precision),
        "new_objective": new.value,
        "new_epochs": new.epochs,
        "folds": len(folds),
        "variants": variants,
        "test_f1_configured_epochs": fixed,
        "test_f1_chosen_epochs": chosen,
        "seconds": time.perf_counter() - t0,
    }


def spearman(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    old = [r["old_objective"] for r in rows]
    new = [-r["new_objective"] for r in rows]  # a lower loss is what the search prefers
    fixed = [r["test_f1_configured_epochs"] for r in rows]
    chosen = [r["test_f1_chosen_epochs"] for r in rows]
    variants = {name: spearman([r["variants"][name] for r in rows], fixed) for name in rows[0]["variants"]}
    return {
        "spearman_variants_vs_test_configured_epochs": variants,
        "spearman_old_vs_test": spearman(old, fixed),
        "spearman_new_vs_test_chosen_epochs": spearman(new, chosen),
        "spearman_new_vs_test_configured_epochs": spearman(new, fixed),
        "pick_old_test_f1": fixed[int(np.argmax(old))],
        "pick_new_test_f1": chosen[int(np.argmax(new))],
        "default_test_f1": fixed[0],
        "best_possible_test_f1": max(max(fixed), max(chosen)),
        "old_collapsed": sum(r["old_collapsed"] for r in rows),
    }


def _job(args: tuple[str, str, int, dict[str, Any], int, int]) -> tuple[str, int, dict[str, Any]]:
    name, path, index, params, seed, test_seeds = args
    return name, index, evaluate(path, params, seed, test_seeds)


def run(quick: bool = False) -> dict[str, Any]:
    s = settings(quick)
    configs = configurations(s["configs"], s["seed"])
    table: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_selection_") as folder:
        paths = write_datasets(Path(folder))
        jobs = [
            (name, str(paths[name]), i, params, s["seed"], s["test_seeds"])
            for name in s["datasets"]
            for i, params in enumerate(configs)
        ]
        with cf.ProcessPoolExecutor(max_workers=s["jobs"]) as pool:
            for name, index, row in pool.map(_job, jobs):
                row["config"] = index
                table.setdefault(name, []).append(row)
                print(
                    f"{name} config {index}: old {row['old_objective']:.3f} new {row['new_objective']:.4f} "
                    f"({row['new_epochs']} ep) test {row['test_f1_configured_epochs']:.3f}/"
                    f"{row['test_f1_chosen_epochs']:.3f}",
                    file=sys.stderr,
                    flush=True,
                )
    return {
        "settings": {**s, "datasets": list(s["datasets"])},
        "results": table,
        "summary": {name: summarise(rows) for name, rows in table.items()},
        "commit": common.git_commit(),
    }


def _f(value: Any) -> str:
    return "–" if value is None else f"{value:+.2f}" if isinstance(value, float) and abs(value) <= 1 else f"{value}"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Selection: Spearman rank correlation of the objective with walk-forward test macro-F1",
        "",
        f"{result['settings']['configs']} configurations per data set (default + random learning_rate and "
        f"regularization points), one training seed per fold; test: walk-forward over 3 blocks, "
        f"{result['settings']['test_seeds']} model(s) per block.",
        "",
        "| data | old: last-epoch val F1, x0.5 collapse, one split | new: val CE, 3 purged folds, best epoch "
        "(test at chosen epochs) | new vs test at configured epochs | test F1 of the pick: old / new / default "
        "/ best | old rule collapsed |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in result["summary"].items():
        lines.append(
            f"| {name} | {_f(s['spearman_old_vs_test'])} | {_f(s['spearman_new_vs_test_chosen_epochs'])} "
            f"| {_f(s['spearman_new_vs_test_configured_epochs'])} | {s['pick_old_test_f1']:.3f} / "
            f"{s['pick_new_test_f1']:.3f} / {s['default_test_f1']:.3f} / {s['best_possible_test_f1']:.3f} "
            f"| {s['old_collapsed']} of {len(result['results'][name])} |"
        )
    names = list(next(iter(result["summary"].values()))["spearman_variants_vs_test_configured_epochs"])
    lines += [
        "",
        "The same models ranked by other rules (Spearman against test F1 at the configured epochs):",
        "",
        "| data | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for name, s in result["summary"].items():
        v = s["spearman_variants_vs_test_configured_epochs"]
        lines.append(f"| {name} | " + " | ".join(_f(v[n]) for n in names) + " |")
    lines += [
        "",
        "Per configuration:",
        "",
        "| data | # | old obj | new obj (CE) | epochs | test F1 (4 ep) | test F1 (chosen) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in result["results"].items():
        for r in sorted(rows, key=lambda r: r["config"]):
            lines.append(
                f"| {name} | {r['config']} | {r['old_objective']:.3f} | {r['new_objective']:.4f} | "
                f"{r['new_epochs']} | {r['test_f1_configured_epochs']:.3f} | {r['test_f1_chosen_epochs']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "selection", "4 configurations on EURUSD only (a smoke run)")


if __name__ == "__main__":
    main()
