"""Where the model group goes in the order (issue 31): how far its trials spread, next to the learning_rate group's.

Each group is searched alone (`start --target GROUP`, every other value at its default) on the
test data files, with pruning off so every trial is a complete 3-fold mean; the spread of the
trials' objective (validation cross-entropy) says how much the group's choice moves the score.
Run: python bench/experiments/measure_model_order.py OUT_DIR [TRIALS] [SEEDS]
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

out = Path(sys.argv[1]); trials = int(sys.argv[2]) if len(sys.argv) > 2 else 10
seeds = range(1, 1 + (int(sys.argv[3]) if len(sys.argv) > 3 else 2))
rows = []
for data in ("EURUSD_H1", "NASDAQ_D1"):
    for seed in seeds:
        for group in ("model", "learning_rate"):
            run = out / f"{data}_{group}_{seed}"
            if not run.exists():
                subprocess.run([sys.executable, "-m", "hyperopt_cli", "start", "--target", group, "--exact",
                                "--data", f"tests/data/{data}.csv", "--run-dir", str(run),
                                "--set", "workers=1", "--set", "trainer.num_threads=1",
                                "--set", f"max_trials_per_group={trials}", "--set", "convergence_patience=1000",
                                "--set", "n_warmup_steps=1000", "--set", "ensemble_seeds=1",
                                "--set", "walk_forward_blocks=1", "--set", f"seed={seed}"],
                               check=True, capture_output=True)
            listed = json.loads(subprocess.run([sys.executable, "-m", "hyperopt_cli", "trials", str(run), "--json"],
                                               check=True, capture_output=True, text=True).stdout)
            values = [t["value"] for t in listed if t["state"] == "COMPLETE"]
            incumbent = next(t["value"] for t in listed if t["number"] == 0)
            rows.append({"data": data, "seed": seed, "group": group, "n": len(values),
                         "range": max(values) - min(values), "sd": statistics.stdev(values),
                         "best_gain": incumbent - min(values)})
            print(json.dumps(rows[-1]), flush=True)
for data in ("EURUSD_H1", "NASDAQ_D1"):
    for group in ("model", "learning_rate"):
        mine = [r for r in rows if r["data"] == data and r["group"] == group]
        print(f"{data} {group}: median range {statistics.median(r['range'] for r in mine):.4f}, "
              f"median sd {statistics.median(r['sd'] for r in mine):.4f}, "
              f"median gain of the best over the incumbent {statistics.median(r['best_gain'] for r in mine):.4f}")
