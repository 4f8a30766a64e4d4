"""A several-symbol run killed mid-trial resumes bit-identically (issue 24, item 6 with issue 23's folds)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from cli_helpers import hyperopt, load_run_study, spawn, trial_table, write_config
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.run import rundir
from test_resume_determinism import SETUP, interrupt_when

pytestmark = pytest.mark.slow


def write_panel(folder: Path) -> Path:
    """Three hourly symbols on overlapping ranges of different lengths."""
    folder.mkdir()
    for seed, (name, bars, start) in enumerate(
        (("AAA", 2200, "2021-01-01"), ("BBB", 1800, "2021-01-10"), ("CCC", 2000, "2021-01-04"))
    ):
        synthetic_ohlcv(bars, seed=seed, start=start, freq="1h").to_csv(folder / f"{name}.csv", index_label="timestamp")
    return folder


def test_a_panel_run_killed_in_a_later_fold_resumes_bit_identically(tmp_path: Path) -> None:
    panel = write_panel(tmp_path / "panel")
    cfg = write_config(
        tmp_path,
        **{
            **SETUP,
            "selection_folds": 2,
            "epochs_per_trial": 3,
            "n_warmup_steps": 10,
            "max_trials_per_group": 2,
            "data__path": str(panel),
        },
    )
    straight, bumpy = tmp_path / "straight", tmp_path / "bumpy"
    done = hyperopt("start", "--config", cfg, "--mode", "quick", "--run-dir", straight, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr

    proc = spawn("start", "--config", cfg, "--mode", "quick", "--run-dir", bumpy, cwd=tmp_path)
    second_fold = bumpy / "checkpoints" / "learning_rate_trial00001.pt"
    interrupt_when(proc, bumpy, lambda run: second_fold.exists(), signal.SIGKILL)
    last = hyperopt("resume", bumpy, cwd=tmp_path, timeout=600)
    assert last.returncode == 0, last.stderr

    assert trial_table(bumpy) == trial_table(straight)
    trials = [load_run_study(run, "ml_hyperopt_learning_rate").trials for run in (straight, bumpy)]
    for a, b in zip(*trials):
        assert a.intermediate_values == b.intermediate_values
    results = [json.loads((run / rundir.RESULTS_FILE).read_text()) for run in (straight, bumpy)]
    assert results[0]["test_metrics"] == results[1]["test_metrics"]
    frozen = (bumpy / "config.yaml").read_text()
    assert all(f"{name}.csv" in frozen for name in ("AAA", "BBB", "CCC"))  # the folder froze to its files
