"""A run on a non-default family set, stopped mid-trial in the features group and resumed, ends bit-identical (issue 26)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from cli_helpers import hyperopt, read_state, spawn, trial_table, wait_for, write_config
from hyperopt_cli.run import rundir

pytestmark = pytest.mark.slow


def test_features_group_stopped_and_resumed_matches_a_straight_run(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        epochs_per_trial=3,
        max_trials_per_group=3,
        n_warmup_steps=10,
        mode="group",
        target_group="features",
        features={"families": ["returns", "candle"]},
        data__synthetic__n_bars=4000,
        model__hidden_size=8,
        trainer__checkpoint_interval_s=0.2,
    )
    straight, bumpy = tmp_path / "straight", tmp_path / "bumpy"
    done = hyperopt("start", "--config", cfg, "--run-dir", straight, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr

    proc = spawn("start", "--config", cfg, "--run-dir", bumpy, cwd=tmp_path)

    def mid_second_trial(run: Path) -> bool:
        p = read_state(run).get("progress") or {}
        return (p.get("current_trial") or 0) >= 1 and p.get("current_epoch") is not None

    wait_for(lambda: proc.poll() is None and mid_second_trial(bumpy), timeout=240, what="the second trial's epoch")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    resumed = hyperopt("resume", bumpy, cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr

    table = trial_table(straight)
    assert table == trial_table(bumpy)
    first = table[0]  # the incumbent: the configured families
    assert dict(first[3]) == {
        "use_returns": True,
        "use_volatility": False,
        "use_candle": True,
        "use_volume": False,
        "use_oscillators": False,
        "use_calendar": False,
    }
    results = [json.loads((run / rundir.RESULTS_FILE).read_text()) for run in (straight, bumpy)]
    for key in ("fixed_params", "test_metrics", "feature_importance"):
        assert results[0][key] == results[1][key], key
    manifests = [json.loads((run / "model" / "model.json").read_text()) for run in (straight, bumpy)]
    assert manifests[0]["features"] == manifests[1]["features"]
