"""A leak check for several symbols: a panel of three pure random walks on EURUSD_H1's calendar.

Nothing in a random walk predicts its future beyond the triple-barrier mechanics, and the symbols are
independent, so a pooled LSTM clearly above its baselines here would mean a leak across time or
symbols. Prints the pooled macro-F1 of every predictor, the verdict, and each symbol's LSTM and best
baseline (the untuned default config, seed 0).

    python bench/experiments/measure_random_walk_panel.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: its shared modules

import bench_validity
import common
import synthetic_markets


def main() -> None:
    from hyperopt_cli.data.load import load_ohlcv

    eurusd = load_ohlcv(common.REPO / "tests" / "data" / "EURUSD_H1.csv")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(3):
            frame = synthetic_markets.random_walk(len(eurusd), seed=21 + i)
            frame.index = eurusd.index.rename("timestamp")
            path = Path(folder) / f"RW_{i}.csv"
            frame.to_csv(path, index_label="timestamp")
            paths.append(str(path))
        run = bench_validity.run_untuned(paths, 0)
    by_symbol = {name: {"lstm": v["macro_f1"]["model"],
                        "best_baseline": max(x for k, x in v["macro_f1"].items() if k != "model")}
                 for name, v in (run.get("by_symbol") or {}).items()}
    print(json.dumps({"pooled": run["macro_f1"], "verdict": run["verdict"]["wording"], "by_symbol": by_symbol},
                     indent=1, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
