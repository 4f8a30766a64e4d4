"""A run stopped and resumed many times ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_helpers import hyperopt, load_run_study, read_state, spawn, trial_table, wait_for, write_config
from hyperopt_cli.run import rundir

pytestmark = pytest.mark.slow

SETUP = {
    "epochs_per_trial": 2,
    "data__synthetic__n_bars": 3000,
    "model__hidden_size": 8,
    "trainer__checkpoint_interval_s": 0.2,
}


def progress(run: Path) -> dict:
    state = read_state(run)
    return {**(state.get("progress") or {}), "status": state.get("status")}


def in_group(n_done: int, *, mid_epoch: bool) -> Callable[[Path], bool]:
    """Once `n_done` groups are finished and a trial is training (or between trials)."""

    def ready(run: Path) -> bool:
        p = progress(run)
        if p.get("status") != "running" or len(p.get("groups_completed") or []) < n_done:
            return False
        return (p.get("current_epoch") is not None) if mid_epoch else (p.get("current_trial") is None)

    return ready


def interrupt_when(proc: subprocess.Popen[str], run: Path, ready: Callable[[Path], bool], sig: int) -> None:
    wait_for(lambda: proc.poll() is None and ready(run), timeout=240, what="the interruption point")
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode in (130, -9), proc.returncode
    assert read_state(run).get("status") != "completed"


def test_interrupted_run_matches_straight_run(tmp_path: Path) -> None:
    # Epochs long enough (~0.15 s, 3 per trial, never pruned, 3 trials a group) that the 50 ms poll sees
    # every interruption point: on journal files a tiny group can otherwise finish between two polls.
    cfg = write_config(
        tmp_path,
        **{
            **SETUP,
            "epochs_per_trial": 3,
            "data__synthetic__n_bars": 6000,
            "n_warmup_steps": 10,
            "max_trials_per_group": 3,
        },
    )
    straight, bumpy = tmp_path / "straight", tmp_path / "bumpy"
    done = hyperopt("start", "--config", cfg, "--run-dir", straight, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr

    proc = spawn("start", "--config", cfg, "--run-dir", bumpy, cwd=tmp_path)
    interrupt_when(proc, bumpy, in_group(0, mid_epoch=True), signal.SIGINT)  # SIGINT mid-epoch
    proc = spawn("resume", bumpy, cwd=tmp_path)
    interrupt_when(proc, bumpy, in_group(2, mid_epoch=True), signal.SIGKILL)  # kill -9 mid-epoch
    proc = spawn("resume", bumpy, cwd=tmp_path)
    # SIGINT mid-epoch again: on journal files the gap between two trials is a few ms, too short for a
    # poll to land in (a poll that misses it fires at the final evaluation instead); test_faults'
    # after_tell kill covers the between-trials moment.
    interrupt_when(proc, bumpy, in_group(3, mid_epoch=True), signal.SIGINT)
    proc = spawn("resume", bumpy, cwd=tmp_path)
    interrupt_when(proc, bumpy, in_group(5, mid_epoch=True), signal.SIGTERM)  # SIGTERM in the last group
    last = hyperopt("resume", bumpy, cwd=tmp_path, timeout=600)
    assert last.returncode == 0, last.stderr

    assert trial_table(bumpy) == trial_table(straight)
    best = [json.loads((run / rundir.BEST_PARAMS_FILE).read_text()) for run in (straight, bumpy)]
    assert best[0] == best[1]
    results = [json.loads((run / rundir.RESULTS_FILE).read_text()) for run in (straight, bumpy)]
    assert results[0]["test_metrics"] == results[1]["test_metrics"]
    assert read_state(bumpy)["sessions"] == 5
    assert not list((bumpy / "checkpoints").glob("*.pt"))


def test_killed_trial_continues_from_its_checkpoint(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, **{**SETUP, "epochs_per_trial": 4, "data__synthetic__n_bars": 5000, "n_warmup_steps": 10}
    )
    run = tmp_path / "run"
    proc = spawn("start", "--config", cfg, "--mode", "quick", "--run-dir", run, cwd=tmp_path)

    def two_epochs_in(run: Path) -> bool:
        p = progress(run)
        return p.get("current_epoch") is not None and p["current_epoch"] >= 1

    interrupt_when(proc, run, two_epochs_in, signal.SIGKILL)
    killed_trial = progress(run)["current_trial"]
    assert (run / "checkpoints" / f"learning_rate_trial{killed_trial:05d}.pt").exists()

    resumed = hyperopt("resume", run, cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    study = load_run_study(run, "ml_hyperopt_learning_rate")
    trial = study.trials[killed_trial]
    assert trial.state.name in ("COMPLETE", "PRUNED")
    # Epochs 1 and 2 were finished before the kill: the resumed trial starts at epoch >= 2.
    assert trial.user_attrs["resumed_from"]["epoch"] >= 2
    assert "done before the restart" in (run / rundir.LOG_FILE).read_text()
    assert all(row[2] != "RUNNING" for row in trial_table(run))


def test_a_trial_killed_in_a_later_fold_resumes_bit_identically(tmp_path: Path) -> None:
    """Selection folds: the finished fold replays from its checkpoint, the killed one continues."""
    cfg = write_config(
        tmp_path,
        **{
            **SETUP,
            "selection_folds": 2,
            "epochs_per_trial": 3,
            "n_warmup_steps": 10,
            "data__synthetic__n_bars": 5000,
            "max_trials_per_group": 2,
            "race_margin_se": None,
        },
    )  # no race: trial 1 must reach its second fold
    straight, bumpy = tmp_path / "straight", tmp_path / "bumpy"
    done = hyperopt("start", "--config", cfg, "--mode", "quick", "--run-dir", straight, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr

    proc = spawn("start", "--config", cfg, "--mode", "quick", "--run-dir", bumpy, cwd=tmp_path)
    second_fold = bumpy / "checkpoints" / "learning_rate_trial00001.pt"  # the last fold keeps the plain name
    interrupt_when(proc, bumpy, lambda run: second_fold.exists(), signal.SIGKILL)
    assert (bumpy / "checkpoints" / "learning_rate_trial00001_fold0.pt").exists()
    last = hyperopt("resume", bumpy, cwd=tmp_path, timeout=600)
    assert last.returncode == 0, last.stderr

    assert trial_table(bumpy) == trial_table(straight)
    trials = [load_run_study(run, "ml_hyperopt_learning_rate").trials for run in (straight, bumpy)]
    for a, b in zip(*trials):
        assert a.intermediate_values == b.intermediate_values and len(a.intermediate_values) == 6
        assert a.user_attrs["units"] == b.user_attrs["units"]
    assert trials[1][1].user_attrs.get("resumed_from") is not None
    assert not list((bumpy / "checkpoints").glob("*.pt"))
