"""Messages that send a new user the right way (issue 33, item 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli_helpers import hyperopt, write_config
from hyperopt_cli.cli import app
from hyperopt_cli.run.estimate import describe_remaining
from hyperopt_cli.run.events import plain_line
from hyperopt_cli.search.events import GroupStart, RunStart

runner = CliRunner()


@pytest.fixture(scope="module")
def run(quick_csv_run: tuple[Path, Path, dict[str, Any]]) -> tuple[Path, Path, dict[str, Any]]:
    return quick_csv_run  # shared: start and resume into it are refused, so it stays as it was


@pytest.mark.parametrize("args, missing", [([], "got 0 arguments"), (["learning_rate"], "got 1 argument")])
def test_show_names_group_and_trial_as_what_is_missing(args: list[str], missing: str) -> None:
    shown = runner.invoke(app, ["show", *args])
    assert shown.exit_code == 2
    assert "show needs GROUP and TRIAL: hyperopt show [RUN] GROUP TRIAL" in shown.stderr and missing in shown.stderr
    assert "Missing argument 'RUN'" not in shown.stderr


def test_show_without_a_run_uses_the_newest(run: Any) -> None:
    run_dir, _, _ = run
    shown = runner.invoke(app, ["show", "--runs-dir", str(run_dir.parent), "learning_rate", "0", "--json"])
    assert shown.exit_code == 0, shown.output
    assert f"Using run {run_dir} (newest)" in shown.stderr


def test_mode_group_without_target_names_the_flag(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    shown = runner.invoke(app, ["start", "--config", str(cfg), "--mode", "group", "--runs-dir", str(tmp_path / "runs")])
    assert shown.exit_code == 2
    assert "--mode group needs --target GROUP (one of " in shown.stderr and str(cfg) not in shown.stderr


def test_start_into_a_completed_run_does_not_suggest_a_resume_that_refuses(run: Any, tmp_path: Path) -> None:
    run_dir, data, _ = run
    cfg = write_config(tmp_path)
    shown = hyperopt(
        "start", "--config", cfg, "--mode", "quick", "--data", data, "--run-dir", run_dir, cwd=tmp_path, timeout=120
    )
    assert shown.returncode == 6, shown.stderr
    assert "already holds a completed run" in shown.stderr and "--more-trials N" in shown.stderr
    assert "continue it with" not in shown.stderr


def test_resume_of_a_completed_run_prints_only_its_error(run: Any, tmp_path: Path) -> None:
    run_dir, _, _ = run
    shown = hyperopt("resume", run_dir, cwd=tmp_path, timeout=120)
    assert shown.returncode == 6, shown.stderr
    assert "Resuming" not in shown.stdout + shown.stderr
    assert shown.stderr.strip().splitlines()[-1].startswith(f"Error: {run_dir} is already completed")


def test_one_trial_is_one_trial() -> None:
    assert "(1 trial to go)" in describe_remaining({"remaining_trials": 1})
    line = plain_line(
        RunStart(
            job_id="j",
            run_dir="r",
            mode="quick",
            groups=("learning_rate",),
            time_estimate={"total_trials": 1, "remaining_trials": 1},
        )
    )
    assert line is not None and "1 trial," in line and "1 trials" not in line
    assert "1 trial already finished" in (plain_line(GroupStart(group="g", finished=1)) or "")
