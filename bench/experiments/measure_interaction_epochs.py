"""Does the LSTM learn the interaction market with fewer inputs and a longer training? (issue 26)

The untuned walk-forward (bench_validity.run_untuned: the default config's final evaluation) on
the interaction market (bench/synthetic_markets.py, seed 7) at 30 epochs, once with returns+candle
and once with every family but the oscillators. Writes JSON to the path given.

    python bench/experiments/measure_interaction_epochs.py bench/results/interaction-epochs30-DATE.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: its shared modules

import bench_validity
import synthetic_markets

EPOCHS = 30
VARIANTS = (["returns", "candle"], ["returns", "volatility", "candle", "volume", "calendar"])


def main(out: str) -> None:
    result = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "interaction.csv"
        synthetic_markets.interaction_market(synthetic_markets.INTERACTION_BARS, seed=7).to_csv(path, index_label="timestamp")
        for families in VARIANTS:
            run = bench_validity.run_untuned(str(path), 0, families=families, overrides={"epochs_per_trial": EPOCHS})
            key = f"{'+'.join(families)} epochs {EPOCHS}"
            result[key] = {"lstm": run["macro_f1"]["model"],
                           "best_baseline": max(v for k, v in run["macro_f1"].items() if k != "model"),
                           "verdict": run["verdict"]["wording"], "seconds": run["seconds"]}
            print(key, result[key], file=sys.stderr, flush=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
