"""kill -9 at every fault point, then resume: the run ends bit-identical to a straight run (issue 14, item 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import env, read_state, trial_table, write_config
from hyperopt_cli.core import faults
from hyperopt_cli.run import rundir

# 3 trials in one group: trial 0 random, trials 1 and 2 from TPE, so a kill after asking trial 1
# shows whether its proposal survives (the bug gave it trial 0's sampler).
SETUP = {
    "epochs_per_trial": 2,
    "max_trials_per_group": 3,
    "walk_forward_blocks": 2,
    "search_space__learning_rate__batch_size__choices": [32, 64, 128],
}


def run_cli(*args: str | Path, cwd: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = env()
    environment.pop(faults.FAULT_ENV, None)
    if fault is not None:
        environment[faults.FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def outcome(run: Path) -> dict[str, Any]:
    """Everything a run decided: every trial (params, values, intermediate values) and results.json."""
    results = json.loads((run / rundir.RESULTS_FILE).read_text())
    keep = (
        "best_params",
        "best_value",
        "fixed_params",
        "test_metrics",
        "validation_metrics",
        "baselines",
        "walk_forward",
        "verdict",
    )
    decided = {key: results.get(key) for key in keep}
    decided["validation_metrics"] = {
        k: v for k, v in (decided["validation_metrics"] or {}).items() if k != "seconds"
    }  # wall-clock time, the one thing allowed to differ
    return {"trials": trial_table(run), **decided}


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("straight")
    cfg = write_config(folder, **SETUP)
    done = run_cli("start", "--config", cfg, "--mode", "quick", "--run-dir", folder / "run", cwd=folder)
    assert done.returncode == 0, done.stderr
    return cfg, outcome(folder / "run")


def test_fault_points_are_the_documented_ones() -> None:
    assert faults._parse("after_ask:2") == ("after_ask", 2)
    assert faults._parse(None) == (None, 0)
    with pytest.raises(ValueError, match="unknown point"):
        faults._parse("after_lunch")


def test_fault_point_kills_the_process_with_sigkill(tmp_path: Path) -> None:
    code = "from hyperopt_cli.core.faults import fault_point; fault_point('after_tell'); fault_point('after_ask'); print('alive')"
    environment = {**os.environ, faults.FAULT_ENV: "after_ask:1"}
    died = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60)
    assert died.returncode == -9 and "alive" not in died.stdout


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["after_ask:2", "after_params:2", "after_epoch:3", "after_tell:2", "during_final:1"])
def test_killed_run_resumes_bit_identical(fault: str, straight: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    cfg, expected = straight
    run = tmp_path / "run"
    killed = run_cli("start", "--config", cfg, "--mode", "quick", "--run-dir", run, cwd=tmp_path, fault=fault)
    assert killed.returncode == -9, killed.stderr
    assert read_state(run).get("status") != "completed"
    resumed = run_cli("resume", run, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(run) == expected
    assert not list((run / rundir.CHECKPOINT_DIR).glob("*.pt")), "a finished trial left its checkpoint behind"


@pytest.mark.slow
def test_a_study_file_without_its_study_resumes_as_not_started(
    straight: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """What a kill between creating a group's SQLite file and its study leaves: resume starts the group afresh."""
    import optuna

    cfg, expected = straight
    run = tmp_path / "run"
    killed = run_cli(
        "start",
        "--config",
        cfg,
        "--mode",
        "quick",
        "--set",
        "storage_url=sqlite",
        "--run-dir",
        run,
        cwd=tmp_path,
        fault="after_ask:1",
    )
    assert killed.returncode == -9, killed.stderr
    (db,) = run.glob("*_learning_rate.db")
    optuna.delete_study(study_name=db.stem, storage=f"sqlite:///{db}")  # the schema stays, the study is gone
    resumed = run_cli("resume", run, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(run) == expected
