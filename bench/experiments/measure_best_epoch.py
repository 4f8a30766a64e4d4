"""Test macro-F1 of the last epoch vs the best validation epoch (restore_best_epoch), default config.

Not part of run_all.py: a one-off measurement behind the restore_best_epoch default.
    PYTHONPATH=src python bench/experiments/measure_best_epoch.py EPOCHS SEEDS   # e.g. 12 8: ~4 min on 2 busy cores

Measured 2026-11-30 (tests/data files, default config, 8 seeds, mean test macro-F1):
    4 epochs:  EURUSD last 0.409  best 0.411 | NASDAQ last 0.386  best 0.382
    12 epochs: EURUSD last 0.354  best 0.383 | NASDAQ last 0.338  best 0.330
"""
import json
import sys
import time

import numpy as np

from hyperopt_cli.config import DataConfig, LabelsConfig, ModelConfig, TrainerConfig
from hyperopt_cli.data.load import load_ohlcv
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.training.metrics import classification_metrics
from hyperopt_cli.training.trainer import predict, train_model

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
out = []
for name in ("EURUSD_H1", "NASDAQ_D1"):
    data = DataPreparer(load_ohlcv(f"tests/data/{name}.csv"), DataConfig()).prepare(LabelsConfig())
    for seed in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
        row = {"file": name, "seed": seed}
        for restore in (False, True):
            t = time.time()
            cfg = TrainerConfig(device="cpu", num_threads=1, restore_best_epoch=restore)
            r = train_model(data, cfg, ModelConfig(), epochs=EPOCHS, seed=seed)
            pred, _ = predict(r.model, data.test, 1024, "cpu")
            key = "best" if restore else "last"
            row[key] = classification_metrics(data.test.labels, pred)["macro_f1"]
            row[key + "_val"] = classification_metrics(data.val.labels, r.val_pred)["macro_f1"]
            row["best_epoch"] = r.best_epoch if restore else row.get("best_epoch")
            row["s"] = round(time.time() - t, 1)
        print(json.dumps(row), flush=True)
        out.append(row)
for name in ("EURUSD_H1", "NASDAQ_D1"):
    rows = [r for r in out if r["file"] == name]
    print(name, "last test %.3f  best test %.3f  last val %.3f  best val %.3f" % tuple(
        np.mean([r[k] for r in rows]) for k in ("last", "best", "last_val", "best_val")))
