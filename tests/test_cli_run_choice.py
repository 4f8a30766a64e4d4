"""Which run a command uses when none is named: the newest by creation time, said on stderr and in --json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hyperopt_cli.cli import app
from hyperopt_cli.cli.run_selection import job_ids, resolve_run, runs_oldest_first
from hyperopt_cli.run import rundir

runner = CliRunner()


def fake_run(runs: Path, job_id: str, created_at: str | None = None, mtime: float | None = None) -> Path:
    run = runs / job_id
    run.mkdir(parents=True)
    (run / rundir.CONFIG_FILE).write_text("seed: 1\n")
    state = {"job_id": job_id, "status": "paused", "mode": "quick"}
    if created_at is not None:
        state["created_at"] = created_at
    rundir.write_json(run / rundir.STATE_FILE, state)
    if mtime is not None:
        os.utime(run / rundir.CONFIG_FILE, (mtime, mtime))
    return run


def test_the_newest_run_is_the_last_created_not_the_last_name(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    fake_run(runs, "goog_sr", created_at="2026-12-01T10:00:00+00:00")
    newest = fake_run(runs, "from_best", created_at="2026-12-02T02:53:57+00:00")
    fake_run(runs, "20261130_120000", created_at="2026-11-30T12:00:00+00:00")
    assert resolve_run(None, runs) == newest
    assert job_ids(runs) == ["from_best", "goog_sr", "20261130_120000"]  # completion: newest first


def test_runs_without_created_at_fall_back_to_when_their_config_was_written(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    fake_run(runs, "b_old", mtime=1_000_000.0)
    newer = fake_run(runs, "a_new", mtime=2_000_000.0)
    fake_run(runs, "c_broken", created_at="not a date", mtime=1_500_000.0)
    assert [p.name for p in runs_oldest_first(runs)] == ["b_old", "c_broken", "a_new"]
    assert resolve_run(None, runs) == newer


def test_a_run_folder_symlinked_outside_the_runs_folder_is_never_the_newest(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    mine = fake_run(runs, "mine", created_at="2026-12-01T00:00:00+00:00")
    outside = fake_run(tmp_path / "elsewhere", "theirs", created_at="2026-12-09T00:00:00+00:00")
    (runs / "zz_link").symlink_to(outside, target_is_directory=True)
    assert resolve_run(None, runs) == mine
    listed = runner.invoke(app, ["status", "--runs-dir", str(runs), "--json"])
    assert [row["job_id"] for row in json.loads(listed.stdout)] == ["mine"]


@pytest.mark.parametrize("args", [["results"], ["results", "--json"], ["results", "-q"]])
def test_a_command_says_which_run_it_picked(tmp_path: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fake_run(tmp_path / "runs", "zzz_old", created_at="2026-12-01T00:00:00+00:00")
    newest = fake_run(tmp_path / "runs", "aaa_new", created_at="2026-12-02T00:00:00+00:00")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stderr == "Using run runs/aaa_new (newest)\n"
    if "--json" in args:
        assert json.loads(result.stdout)["run"] == str(newest)


def test_a_named_run_is_not_announced_but_is_in_the_json(tmp_path: Path) -> None:
    old = fake_run(tmp_path / "runs", "zzz_old", created_at="2026-12-01T00:00:00+00:00")
    result = runner.invoke(app, ["--runs-dir", str(tmp_path / "runs"), "status", "zzz_old", "--json"])
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["run"] == str(old)


def test_every_reader_of_the_newest_run_orders_by_creation_time(tmp_path: Path) -> None:
    """The server's status and control's latest use the same order as the CLI (rundir.list_runs)."""
    from hyperopt_cli.control import latest_run
    from hyperopt_cli.server.configs import ConfigShelf
    from hyperopt_cli.server.runs import Runs

    runs = tmp_path / "runs"
    fake_run(runs, "goog_sr", created_at="2026-12-01T10:00:00+00:00")
    newest = fake_run(runs, "from_best", created_at="2026-12-02T02:53:57+00:00")
    assert [p.name for p in rundir.list_runs(runs)] == ["goog_sr", "from_best"]
    assert latest_run(runs) == newest
    assert Runs(runs, None, ConfigShelf(tmp_path / "configs"), 1.0, 1.0).latest() == newest
