"""Warm-started folds (issue 31's cost target): does scoring fold k+1 by fine-tuning fold k's model on the
bars fold k+1 adds rank configurations as the cold 3-fold objective does, at about one split's cost?

Cold: each of the 3 purged expanding folds trains from scratch for `epochs_per_trial` epochs (today's
objective). Warm: fold 1 as cold; fold k+1 starts from fold k's weights and trains the same epochs on
only the samples its training part adds (the block fold k validated on, past the purge). Each fold
keeps a full curve, so the objective is chosen the same way (search/selection.py) from both.
Per configuration (the default and random points of the learning_rate and regularization ranges):
both objectives and seconds, and the walk-forward test macro-F1 at the configured epochs (1 seed).
Run: python bench/experiments/measure_warm_folds.py OUT.json [CONFIGS]   (BENCH_SELECTION_DATASETS narrows)
"""

import concurrent.futures as cf
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_selection  # noqa: E402
import common  # noqa: E402

SAMPLE_FIELDS = ("end_rows", "labels", "forward_returns", "timestamps", "label_ends", "symbols")


def _added_part(data: Any, before: Any) -> Any:
    """`data` whose training part keeps only the samples after `before`'s training part."""
    train = data.train
    keep = np.flatnonzero(train.timestamps > before.train.timestamps[-1])
    fields = {f: getattr(train, f)[keep] for f in SAMPLE_FIELDS if getattr(train, f) is not None}
    return dataclasses.replace(data, train=dataclasses.replace(train, **fields))


def evaluate(data_path: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import hyperopt_cli.training.trainer as trainer
    from hyperopt_cli.config import with_params
    from hyperopt_cli.data.load import load_ohlcv
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.evaluation.lstm import lstm_fit_predict
    from hyperopt_cli.evaluation.walkforward import WalkForwardSource, walk_forward
    from hyperopt_cli.search.outcome import fold_curve
    from hyperopt_cli.search.selection import select
    from hyperopt_cli.training.seeding import derive_seed

    init: dict[str, Any] = {"state": None}
    build = trainer._build

    def warm_build(data: Any, cfg: Any, model_cfg: Any, seed: int, device: Any) -> Any:
        model, optimizer, scheduler = build(data, cfg, model_cfg, seed, device)
        if init["state"] is not None:
            model.load_state_dict(init["state"])
        return model, optimizer, scheduler

    trainer._build = warm_build
    raw = common.read_yaml("configs/default.yaml")
    raw.update(seed=seed)
    raw["data"]["path"] = data_path
    raw["trainer"].update(num_threads=1, device="cpu", precision="fp32")
    cfg = common.make_cfg(raw)
    trainer_cfg, labels_cfg = with_params(cfg, params)
    preparer = DataPreparer.for_run(load_ohlcv(data_path), cfg)
    folds = preparer.prepare_folds(labels_cfg, cfg.selection_folds)
    seeds = [derive_seed(seed, "bench", 0, "fold", k) for k in range(len(folds) - 1)] + [derive_seed(seed, "bench", 0)]
    out: dict[str, Any] = {"params": params, "folds": len(folds)}
    for arm in ("cold", "warm"):
        t0 = time.perf_counter()
        results = []
        for k, data in enumerate(folds):
            warm = arm == "warm" and k > 0
            init["state"] = {n: t.detach().clone() for n, t in results[-1].model.state_dict().items()} if warm else None
            part = _added_part(data, folds[k - 1]) if warm else data
            results.append(trainer.train_model(part, trainer_cfg, cfg.model, epochs=cfg.epochs_per_trial, seed=seeds[k]))
            if k == 1 and arm == "warm":
                out["warm_train_share"] = len(part.train) / len(data.train)
        init["state"] = None
        chosen = select([fold_curve(r, d) for r, d in zip(results, folds)], "val_loss", "minimize")
        out[arm] = {"objective": chosen.value, "epochs": chosen.epochs, "seconds": time.perf_counter() - t0}
    data = preparer.prepare(labels_cfg)
    fit = lstm_fit_predict(
        trainer_cfg,
        cfg.model,
        epochs=cfg.epochs_per_trial,
        seed=derive_seed(seed, "final"),
        purge_bars=data.purge_bars,
        feature_names=data.feature_names,
        ensemble_seeds=1,
    )
    source = WalkForwardSource.from_prepared(preparer, data)
    wf = walk_forward(source, fit, n_blocks=cfg.walk_forward_blocks, seed=seed)
    out["test_f1"] = float(wf.pooled["model"]["macro_f1"])
    return out


def _job(args: tuple[str, str, dict[str, Any], int]) -> tuple[str, dict[str, Any]]:
    name, path, params, seed = args
    return name, evaluate(path, params, seed)


def main() -> None:
    out_path = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    names = tuple(os.environ.get("BENCH_SELECTION_DATASETS", "EURUSD_H1,NASDAQ_D1,planted_pattern").split(","))
    with tempfile.TemporaryDirectory() as tmp:
        paths = bench_selection.write_datasets(Path(tmp))
        jobs = [(name, str(paths[name]), p, 0) for name in names for p in bench_selection.configurations(n, 0)]
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        with cf.ProcessPoolExecutor(2) as pool:
            for name, row in pool.map(_job, jobs):
                rows[name].append(row)
                print(name, json.dumps({k: row[k] for k in ("cold", "warm", "test_f1")}), flush=True)
    summary = {}
    for name, mine in rows.items():
        cold = [-r["cold"]["objective"] for r in mine]  # higher is better, like test F1
        warm = [-r["warm"]["objective"] for r in mine]
        test = [r["test_f1"] for r in mine]
        summary[name] = {
            "seconds_warm_over_cold": float(np.median([r["warm"]["seconds"] / r["cold"]["seconds"] for r in mine])),
            "warm_train_share_fold2": float(np.median([r["warm_train_share"] for r in mine])),
            "spearman_warm_cold": bench_selection.spearman(warm, cold),
            "spearman_cold_test": bench_selection.spearman(cold, test),
            "spearman_warm_test": bench_selection.spearman(warm, test),
            "test_f1_of_pick": {"cold": test[int(np.argmax(cold))], "warm": test[int(np.argmax(warm))],
                                "default": test[0], "best": max(test)},
        }
        print(name, json.dumps(summary[name]), flush=True)
    out_path.write_text(json.dumps({"rows": rows, "summary": summary, "commit": common.git_commit()}, indent=1))


if __name__ == "__main__":
    main()
