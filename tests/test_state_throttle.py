"""state.json written when a reader needs it (trial start, each epoch, trial end; idle polls every few
seconds), and still consistent with the studies after kill -9 mid-run (real subprocess)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import hyperopt, interrupt, load_run_study, read_state, spawn, wait_for, write_config
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.run import state as state_mod
from hyperopt_cli.run.state import STATE_INTERVAL_S, GroupsProgress, StateWriter
from hyperopt_cli.search.summary import StudySummary


class FakeSearch:
    """What StateWriter reads of the group in flight; counts the storage reads."""

    group = "learning_rate"

    def __init__(self) -> None:
        self.current_trial: int | None = None
        self.current_epoch: int | None = None
        self.reads = 0

    def summary(self) -> StudySummary:
        self.reads += 1
        return StudySummary(group=self.group, metric="val_f1", direction="maximize")


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


def _writer(tmp_path: Path) -> tuple[StateWriter, FakeSearch, Clock]:
    cfg = config_from_dict({"mode": "quick", "workers": 1})
    progress = GroupsProgress()
    search = FakeSearch()
    progress.current = search  # type: ignore[assignment]
    writer = StateWriter(cfg, tmp_path, progress)
    writer.frozen_hash = "h"
    writer.clock = clock = Clock()
    return writer, search, clock


def test_written_when_the_moment_changes_and_idle_polls_throttled(tmp_path: Path) -> None:
    writer, search, clock = _writer(tmp_path)
    search.current_trial = 0
    assert writer.write_progress()  # trial start
    assert read_state(tmp_path)["progress"]["current_trial"] == 0
    for epoch in (0, 1, 2):
        search.current_epoch = epoch
        assert writer.write_progress()  # each epoch: status shows it
        assert read_state(tmp_path)["progress"]["current_epoch"] == epoch
    search.current_trial, search.current_epoch = None, None
    assert writer.write_progress()  # trial end
    for _ in range(3):
        clock.t += 1.0
        assert not writer.write_progress()  # idle polls with nothing new: throttled
    clock.t += STATE_INTERVAL_S
    assert writer.write_progress()  # but never older than STATE_INTERVAL_S
    search.current_trial = 1
    assert writer.write_progress()  # next trial
    assert read_state(tmp_path)["progress"]["current_trial"] == 1


def test_mid_trial_writes_do_not_read_the_study_again(tmp_path: Path) -> None:
    writer, search, clock = _writer(tmp_path)
    search.current_trial = 0
    writer.write_progress()
    search.current_epoch = 0
    writer.write_progress()
    clock.t += STATE_INTERVAL_S - 0.5
    search.current_epoch = 1
    writer.write("paused")  # a status change is never throttled...
    assert read_state(tmp_path)["status"] == "paused"
    assert search.reads == 1  # ...and with one writer the trial's own epochs change no summary


def test_status_changes_are_never_throttled(tmp_path: Path) -> None:
    writer, search, _ = _writer(tmp_path)
    search.current_trial = 0
    writer.write_progress()
    writer.write("failed", message="boom")
    state = read_state(tmp_path)
    assert (state["status"], state["message"]) == ("failed", "boom")


def _finished(run: Path) -> tuple[int, int]:
    """(finished trials by state.json, finished trials by the study on disk)."""
    study = load_run_study(run, "ml_hyperopt_learning_rate")
    stored = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
    row: dict[str, Any] = read_state(run)["groups"]["learning_rate"]
    return int(row["n_trials"]["finished"]), stored


@pytest.mark.slow
def test_after_kill_9_state_json_agrees_with_the_studies_and_resume_finishes(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        mode="quick",
        max_trials_per_group=8,
        epochs_per_trial=3,
        convergence_patience=50,
        walk_forward_blocks=1,
    )
    run = tmp_path / "run"
    proc = spawn("start", "--config", config, "--run-dir", run, cwd=tmp_path)

    def two_trials_done() -> bool:
        assert proc.poll() is None, proc.communicate()
        return (read_state(run).get("groups", {}).get("learning_rate", {}).get("n_trials", {}).get("finished", 0)) >= 2

    wait_for(two_trials_done, what="two finished trials")
    assert interrupt(proc, signal.SIGKILL) == -9
    shown, stored = _finished(run)
    assert stored - 1 <= shown <= stored  # at most the trial whose end was being written is missing
    status = hyperopt("status", run, cwd=tmp_path)
    assert status.returncode == 0 and "interrupted" in status.stdout.lower(), status.stdout
    resumed = hyperopt("resume", run, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    shown, stored = _finished(run)
    assert shown == stored == 8
    assert read_state(run)["status"] == "completed"


def test_interval_is_a_few_seconds() -> None:
    assert 1.0 <= state_mod.STATE_INTERVAL_S <= 10.0
