"""Walk-forward (K=3) of the default-config LSTM against every baseline, with the verdict.

Not part of run_all.py: a one-off measurement of the evaluation library on the real files.
    PYTHONPATH=src python bench/experiments/measure_walk_forward.py EPOCHS   # ~1-2 min on 2 busy cores
"""
import sys
import time
import warnings

warnings.filterwarnings("ignore")
from hyperopt_cli.config import DataConfig, LabelsConfig, ModelConfig, TrainerConfig
from hyperopt_cli.data.load import load_ohlcv
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.evaluation.lstm import lstm_fit_predict
from hyperopt_cli.evaluation.verdict import verdict
from hyperopt_cli.evaluation.walkforward import WalkForwardSource, walk_forward

epochs = int(sys.argv[1])
for name in ("EURUSD_H1", "NASDAQ_D1"):
    p = DataPreparer(load_ohlcv(f"tests/data/{name}.csv"), DataConfig()); d = p.prepare(LabelsConfig())
    src = WalkForwardSource.from_prepared(p, d)
    for restore in (False, True):
        cfg = TrainerConfig(device="cpu", num_threads=1, restore_best_epoch=restore)
        t = time.time()
        fp = lstm_fit_predict(cfg, ModelConfig(), epochs=epochs, seed=0, purge_bars=src.purge_bars, feature_names=src.feature_names)
        res = walk_forward(src, fp, n_blocks=3, seed=0)
        v = verdict(res, seed=0)
        print(name, "epochs", epochs, "restore", restore, "%.0fs" % (time.time() - t),
              {k: round(m["macro_f1"], 3) for k, m in res.pooled.items()},
              "model shares", [round(x, 2) for x in res.pooled["model"]["pred_distribution"]],
              "| per-block model", [round(b.metrics["model"]["macro_f1"], 3) for b in res.blocks], "|", v.wording(),
              "| trading Δ %.3f [%.3f, %.3f]" % (v.delta_trading_score, *v.interval_trading_score), flush=True)
