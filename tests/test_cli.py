"""The CLI through its real entry point: help, errors and exit codes, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_helpers import env as cli_env
from cli_helpers import hyperopt, write_config
from hyperopt_cli.cli import app
from hyperopt_cli.run import rundir

runner = CliRunner()
COMMANDS = ["start", "stop", "resume", "status", "results", "data", "report", "serve", "worker"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example: hyperopt " + command in " ".join(result.output.split())


def test_top_level_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_help_does_not_import_torch_or_optuna() -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom hyperopt_cli.cli import app\n"
        "CliRunner().invoke(app, ['status', '--help'])\n"
        "print(sorted(m for m in ('torch', 'optuna', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["start", "--set", "labels.horizonn=3"],
            3,
            "Error: unknown config key 'labels.horizonn'; did you mean 'labels.horizon'?",
        ),
        (["start", "--set", "trainer.dropout=2"], 3, "Error: trainer.dropout must be in [0.0, 1.0), got 2"),
        (
            ["start", "--set", "mode=sideways"],
            3,
            "Error: mode must be one of 'full', 'quick', 'group', 'fine_tune', got 'sideways'",
        ),
        (["start", "--set", "target_group=nope"], 3, "Error: target_group must be a parameter group, got 'nope'"),
        (["start", "--config", "missing.yaml"], 3, "Error: config file not found: missing.yaml"),
        (["start", "--data", "missing.csv"], 4, "Error: "),
        (["resume", "no_such_run"], 6, "Error: run not found: 'no_such_run' is neither a directory nor a job id"),
        (["status", "no_such_run"], 6, "Error: run not found: 'no_such_run' is neither a directory nor a job id"),
        (["stop"], 7, "Error: no running run under /"),  # the runs folder, named absolutely
        (["results"], 6, "Error: no runs under /"),
    ],
)
def test_bad_input_is_one_error_line_with_its_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    result = hyperopt(*args, cwd=tmp_path, timeout=120)
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a failed start must not leave a run directory"


@pytest.mark.parametrize("command", ["start", "data"])
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs_per_trial=abc", "epochs_per_trial must be an integer, got 'abc'"),
        ("labels.horizonn=3", "unknown config key 'labels.horizonn'; did you mean 'labels.horizon'?"),
    ],
)
def test_a_bad_set_is_blamed_on_set_not_on_the_config_file(
    tmp_path: Path, command: str, override: str, message: str
) -> None:
    cfg = write_config(tmp_path)
    result = runner.invoke(app, [command, "--config", str(cfg), "--set", override])
    assert result.exit_code == 3, result.output
    assert result.stderr.strip() == f"Error: {message} (--set {override})"


def test_bad_data_file_leaves_no_run_dir(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2020-01-01 00:00,1,2,0.5,abc,1\n")
    result = hyperopt("start", "--data", bad, cwd=tmp_path, timeout=120)
    assert result.returncode == 4
    assert result.stderr.startswith("Error: ") and str(bad.name) in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_start_refuses_an_existing_run_dir(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / rundir.CONFIG_FILE).write_text("seed: 1\n")
    cfg = write_config(tmp_path)
    result = hyperopt("start", "--config", cfg, "--run-dir", run, cwd=tmp_path, timeout=120)
    assert result.returncode == 6
    assert f"already holds a run; continue it with: hyperopt resume {run}" in result.stderr


def test_stop_does_not_signal_a_stale_pidfile_process(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20260101_000000"
    run.mkdir(parents=True)
    (run / rundir.CONFIG_FILE).write_text("seed: 1\n")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        import socket

        import psutil

        rundir.write_json(
            run / rundir.PID_FILE,
            {
                "pid": sleeper.pid,
                "create_time": psutil.Process(sleeper.pid).create_time(),
                "host": socket.gethostname(),
                "started_at": "x",
            },
        )
        (run / rundir.LOCK_FILE).touch()
        result = hyperopt("stop", run, cwd=tmp_path, timeout=60)
        assert result.returncode == 7
        assert result.stderr.strip() == f"Error: no live process owns {run}; nothing to stop"
        time.sleep(0.2)
        assert sleeper.poll() is None, "the unrelated process was signalled"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_status_of_empty_runs_dir(tmp_path: Path) -> None:
    result = hyperopt("status", "--json", cwd=tmp_path, timeout=60)
    assert result.returncode == 0
    assert json.loads(result.stdout) == []


def fake_run(runs: Path, job_id: str) -> Path:
    run = runs / job_id
    run.mkdir(parents=True)
    (run / rundir.CONFIG_FILE).write_text("seed: 1\n")
    rundir.write_json(run / rundir.STATE_FILE, {"job_id": job_id, "status": "paused", "mode": "quick"})
    return run


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_runs_dir_is_accepted_before_or_after_the_command_or_from_the_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    runs = tmp_path / "elsewhere"
    fake_run(runs, "20260101_000000")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYPEROPT_RUNS_DIR", raising=False)
    args = {
        "before": ["--runs-dir", str(runs), "status", "--json"],
        "after": ["status", "--json", "--runs-dir", str(runs)],
        "env": ["status", "--json"],
    }[where]
    env = {"HYPEROPT_RUNS_DIR": str(runs)} if where == "env" else {}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert [row["job_id"] for row in json.loads(result.stdout)] == ["20260101_000000"]


def test_runs_dir_after_the_command_overrides_the_one_before(tmp_path: Path) -> None:
    fake_run(tmp_path / "b", "20260102_000000")
    result = runner.invoke(
        app, ["--runs-dir", str(tmp_path / "a"), "status", "--json", "--runs-dir", str(tmp_path / "b")]
    )
    assert result.exit_code == 0
    assert [row["job_id"] for row in json.loads(result.stdout)] == ["20260102_000000"]


@pytest.mark.parametrize("args", [["--debug", "status", "no_such_run"], ["status", "no_such_run", "--debug"]])
def test_debug_before_or_after_the_command_shows_the_traceback(tmp_path: Path, args: list[str]) -> None:
    result = hyperopt(*args, cwd=tmp_path, timeout=60)
    assert result.returncode == 6
    assert "Traceback" in result.stderr and "RunStateError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: run not found: 'no_such_run'")


def test_a_failing_command_leaves_its_error_in_the_file_hyperopt_error_file_names(tmp_path: Path) -> None:
    error_file = tmp_path / "error.json"
    result = subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", "start", "--set", "labels.horizonn=3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**cli_env(), "HYPEROPT_ERROR_FILE": str(error_file)},
    )
    assert result.returncode == 3
    assert json.loads(error_file.read_text()) == {
        "error": "unknown config key 'labels.horizonn'; did you mean 'labels.horizon'? (--set labels.horizonn=3)",
        "exit_code": 3,
    }
    ok = subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", "status", "--json"],
        cwd=tmp_path,
        env={**cli_env(), "HYPEROPT_ERROR_FILE": str(tmp_path / "none.json")},
        timeout=60,
    )
    assert ok.returncode == 0 and not (tmp_path / "none.json").exists()
