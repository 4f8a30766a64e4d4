"""Seed ensemble vs single seed for the walk-forward LSTM (untuned default config, K=3).

For each block, N seeds are trained; the pooled macro-F1 of every single seed and of the
ensemble (mean of the softmax probabilities) is reported. A one-off measurement behind the
`evaluation.ensemble_seeds` default (docs/decisions.md).
    PYTHONPATH=src python bench/experiments/measure_ensemble.py [EPOCHS] [N_SEEDS]
"""
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import numpy as np

from hyperopt_cli.config import DataConfig, LabelsConfig, ModelConfig, TrainerConfig
from hyperopt_cli.data.load import load_ohlcv
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.evaluation.verdict import verdict
from hyperopt_cli.evaluation.walkforward import WalkForwardSource, as_prepared_data, score_predictions, walk_forward
from hyperopt_cli.training.trainer import predict, train_model

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 4
n_seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
cfg = TrainerConfig(device="cpu", num_threads=1)
for name in ("EURUSD_H1", "NASDAQ_D1"):
    p = DataPreparer(load_ohlcv(f"tests/data/{name}.csv"), DataConfig()); d = p.prepare(LabelsConfig())
    src = WalkForwardSource.from_prepared(p, d)
    per_seed = {s: [] for s in range(n_seeds)}
    t = time.time()

    def fit_predict(train, block):
        data = as_prepared_data(train, block, src.purge_bars, src.feature_names, 0.15)
        probs = []
        for s in range(n_seeds):
            r = train_model(data, cfg, ModelConfig(), epochs=epochs, seed=1000 + s + int(block.end_rows[0]))
            pred, prob = predict(r.model, block, 1024, "cpu")
            per_seed[s].append(pred); probs.append(prob)
        return np.mean(probs, axis=0).argmax(axis=1)

    res = walk_forward(src, fit_predict, n_blocks=3, seed=0)
    singles = [score_predictions(res.labels, res.forward_returns, np.concatenate(per_seed[s]))["macro_f1"] for s in range(n_seeds)]
    v = verdict(res, seed=0)
    print(name, f"epochs {epochs} seeds {n_seeds} {time.time() - t:.0f}s",
          "single seeds", [round(x, 3) for x in singles], "mean %.3f" % np.mean(singles),
          "ensemble %.3f" % res.pooled["model"]["macro_f1"],
          "baselines", {k: round(m["macro_f1"], 3) for k, m in res.pooled.items() if k != "model"},
          "|", v.wording(), flush=True)
