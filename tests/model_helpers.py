"""A finished tiny run whose data is a CSV file, for the saved-model, predict, export and trials tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli_helpers import tiny
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.run.optimizer import HyperparameterOptimizer

N_BARS = 1500


def write_bars(path: Path, n_bars: int = N_BARS, seed: int = 7) -> Path:
    """Synthetic hourly bars as a CSV file with a `timestamp` column (float repr: exact round trip)."""
    frame = synthetic_ohlcv(n_bars, seed=seed)
    frame.index.name = "timestamp"
    frame.to_csv(path)
    return path


def finished_run(root: Path, *overrides: str) -> tuple[Path, Path, dict[str, Any]]:
    """(run_dir, data file, results) of a quick tiny run on a CSV file, on CPU."""
    root.mkdir(parents=True, exist_ok=True)
    data = write_bars(root / "bars.csv")
    cfg = tiny("mode=quick", f"data.path={data}", "trainer.device=cpu", *overrides)
    run = root / "runs" / "job"
    results = HyperparameterOptimizer(cfg, run).optimize()
    return run, data, results
