"""Throughput of `hyperopt predict`: bars per second on synthetic files, in process and through the CLI.

A model folder with the default architecture (hidden 64, 2 layers, window 32; random
weights: throughput does not depend on them) predicts every bar of a synthetic Parquet file.

    python bench/bench_predict.py [--bars 100000 1000000] [--threads N] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _model_dir(folder: Path, window: int, hidden: int, layers: int) -> Path:
    from hyperopt_cli.data.features import feature_names
    from hyperopt_cli.model.artifact import save_model
    from hyperopt_cli.training.model import LSTMClassifier

    names = list(feature_names())
    model = LSTMClassifier(len(names), hidden, layers, 0.2)
    manifest = {
        "architecture": {"n_features": len(names), "hidden_size": hidden, "num_layers": layers, "dropout": 0.2},
        "features": {"names": names, "window": window, "warmup_bars": 96},
        "scaler": {"mean": [0.0] * len(names), "std": [1.0] * len(names)},
        "training": {},
        "data": {"timezone": "UTC"},
    }
    save_model(folder / "model", [model.state_dict()], manifest)
    return folder / "model"


def measure(n_bars: int, folder: Path, model_dir: Path) -> dict[str, Any]:
    from hyperopt_cli.data.synthetic import synthetic_ohlcv
    from hyperopt_cli.model.predict import predict_file

    data = folder / f"bars_{n_bars}.parquet"
    synthetic_ohlcv(n_bars, seed=1).to_parquet(data)
    start = time.perf_counter()
    prediction = predict_file(model_dir, data)
    in_process = time.perf_counter() - start
    out = folder / f"signals_{n_bars}.parquet"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", "predict", str(model_dir), "--data", str(data), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    cli = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return {
        "bars": n_bars,
        "predicted": len(prediction.frame),
        "in_process_s": round(in_process, 2),
        "in_process_bars_per_s": round(n_bars / in_process),
        "cli_s": round(cli, 2),
        "cli_bars_per_s": round(n_bars / cli),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, nargs="+", default=None, help="bar counts (default 100000 1000000)")
    parser.add_argument("--quick", action="store_true", help="CI-sized: 20,000 bars (default bar counts only)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.bars = args.bars or ([20_000] if args.quick else [100_000, 1_000_000])
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_dir = _model_dir(folder, window=32, hidden=64, layers=2)
        rows = [measure(n, folder, model_dir) for n in args.bars]
    result = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "rows": rows}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
