"""Start, stop, resume, status and results with real processes and real signals."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml

from cli_helpers import hyperopt, interrupt, read_state, spawn, trial_table, wait_running_epoch, write_config
from hyperopt_cli.run import rundir

pytestmark = pytest.mark.slow

# Slow enough per epoch that a signal lands mid-training: more bars, a few epochs.
LONGER = {
    "data__synthetic__n_bars": 20000,
    "epochs_per_trial": 3,
    "model__hidden_size": 16,
    "max_trials_per_group": 6,
    "convergence_patience": 10,
}


def start_background(tmp_path: Path, run: Path, mode: str = "quick", **overrides):
    cfg = write_config(tmp_path, **{**LONGER, **overrides})
    proc = spawn("start", "--config", cfg, "--mode", mode, "--run-dir", run, cwd=tmp_path)
    wait_running_epoch(run, proc)
    return proc


def test_stop_status_resume_results_roundtrip(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # Six epochs a trial: the stop lands in the trial whose first epoch was seen, never after it.
    proc = start_background(tmp_path, run, epochs_per_trial=6, max_trials_per_group=2)
    stopped = hyperopt("stop", run, cwd=tmp_path, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert "status: paused" in stopped.stdout
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    status = json.loads(hyperopt("status", run, "--json", cwd=tmp_path).stdout)
    assert status["status"] == "paused" and status["owner_alive"] is False
    assert not (run / rundir.PID_FILE).exists()
    (running,) = [row for row in trial_table(run) if row[2] == "RUNNING"]  # the stopped trial, kept
    assert (run / "checkpoints" / f"learning_rate_trial{running[1]:05d}.pt").exists()
    assert 1 <= len(running[5]) < 6  # stopped after its first reported epoch, before its last

    resumed = hyperopt("resume", run, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(hyperopt("status", run, "--json", cwd=tmp_path).stdout)["status"] == "completed"
    res = hyperopt("results", run, "--json", cwd=tmp_path)
    assert res.returncode == 0
    parsed = json.loads(res.stdout)
    on_disk = json.loads((run / rundir.RESULTS_FILE).read_text())
    assert {k: parsed[k] for k in on_disk} == on_disk
    assert parsed["complete"] is True and parsed["test_metrics"]["macro_f1"] >= 0
    assert not list((run / "checkpoints").glob("*.pt")), "finished trials leave no checkpoints"
    assert all(row[2] != "RUNNING" for row in trial_table(run))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_pauses_the_run(tmp_path: Path, sig: int) -> None:
    run = tmp_path / "run"
    proc = start_background(tmp_path, run)
    assert interrupt(proc, sig) == 130
    state = read_state(run)
    assert state["status"] == "paused"
    assert "hyperopt resume" in state["message"]


def test_second_owner_refused_while_running(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start_background(tmp_path, run, max_trials_per_group=100, convergence_patience=100)
    try:
        again = hyperopt("resume", run, cwd=tmp_path, timeout=60)
        assert again.returncode == 5
        assert again.stderr.strip().startswith(f"Error: {run} is owned by another live process (pid {proc.pid}")
        assert json.loads(hyperopt("status", run, "--json", cwd=tmp_path).stdout)["owner_alive"] is True
    finally:
        interrupt(proc)


def test_kill_9_then_resume_completes_with_nothing_left_running(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start_background(tmp_path, run)
    assert interrupt(proc, signal.SIGKILL) == -9
    status = json.loads(hyperopt("status", run, "--json", cwd=tmp_path).stdout)
    assert status["status"] == "interrupted"
    resumed = hyperopt("resume", run, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert read_state(run)["status"] == "completed"
    assert all(row[2] != "RUNNING" for row in trial_table(run))


def test_deleted_state_is_rebuilt_on_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start_background(tmp_path, run)
    interrupt(proc)
    (run / rundir.STATE_FILE).unlink()
    status = json.loads(hyperopt("status", run, "--json", cwd=tmp_path).stdout)
    assert status["status"] == "paused" and "rebuilt" in status["note"]
    resumed = hyperopt("resume", run, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "state.json was missing or corrupt; rebuilt from config.yaml and the studies" in resumed.stderr
    assert read_state(run)["status"] == "completed"


def test_edited_config_is_refused_on_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = start_background(tmp_path, run)
    interrupt(proc)
    config = yaml.safe_load((run / rundir.CONFIG_FILE).read_text())
    config["labels"]["horizon"] = 30
    (run / rundir.CONFIG_FILE).write_text(yaml.safe_dump(config))
    resumed = hyperopt("resume", run, cwd=tmp_path, timeout=120)
    assert resumed.returncode == 6
    assert "labels.horizon: 12 -> 30" in resumed.stderr
    assert resumed.stderr.strip().count("\n") == 0
    assert read_state(run)["status"] == "paused", "a refused resume must leave the run as it was"
