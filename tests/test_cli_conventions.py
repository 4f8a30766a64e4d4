"""The conventions of Typer/Click CLIs: completion, choices, RUN as a directory, job id or nothing, --json, -q."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_helpers import (
    assert_paused,
    hyperopt,
    into_closed_pipe,
    reaped,
    spawn,
    wait_for,
    wait_running_epoch,
    write_config,
)
from cli_helpers import env as cli_env
from hyperopt_cli.cli import app
from hyperopt_cli.cli.run_commands import final_summary_line
from hyperopt_cli.cli.run_selection import resolve_run
from hyperopt_cli.config import GROUPS, MODES
from hyperopt_cli.core.errors import NothingRunningError, RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.results import RunResults

runner = CliRunner()
RUN_COMMANDS = ["resume", "report", "worker", "stop", "results", "status"]


def fake_run(runs: Path, job_id: str, status: str = "paused") -> Path:
    run = runs / job_id
    run.mkdir(parents=True)
    (run / rundir.CONFIG_FILE).write_text("seed: 1\n")
    rundir.write_json(run / rundir.STATE_FILE, {"job_id": job_id, "status": status, "mode": "quick"})
    return run


def complete(words: str, cwd: Path) -> list[str]:
    """What bash completion offers for `words` (the last word being completed)."""
    env = {
        **cli_env(),
        "_HYPEROPT_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-m", "hyperopt_cli"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


# --------------------------------------------------------------------------- completion, choices, metavars


def test_completion_is_on_and_offers_commands_choices_and_job_ids(tmp_path: Path) -> None:
    assert "--install-completion" in runner.invoke(app, ["--help"]).output
    assert complete("hyperopt st", tmp_path) == ["start", "stop", "status"]
    assert complete("hyperopt start --mode ", tmp_path) == list(MODES)
    assert complete("hyperopt start --target ", tmp_path) == list(GROUPS)
    fake_run(tmp_path / "runs", "20260101_000000")
    fake_run(tmp_path / "runs", "20260102_000000")
    assert complete("hyperopt results 2026", tmp_path) == ["20260102_000000", "20260101_000000"]


def test_help_lists_the_choices_and_the_set_placeholder() -> None:
    text = " ".join(runner.invoke(app, ["start", "--help"]).output.split())
    assert "<" + "|".join(MODES) + ">" in text
    assert "<" + "|".join(GROUPS) + ">" in text
    assert "--set KEY=VALUE" in text and "list[str]" not in text


@pytest.mark.parametrize(("args", "option"), [(["--mode", "sideways"], "--mode"), (["--target", "nope"], "--target")])
def test_a_value_outside_a_closed_set_is_a_usage_error(tmp_path: Path, args: list[str], option: str) -> None:
    result = hyperopt("start", *args, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: Invalid value for '{option}'") and "is not one of" in last
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "given"), [(["--mode", "quick"], "--mode quick"), (["--set", "mode=full"], "--set mode=full")]
)
def test_target_with_another_mode_is_a_usage_error(tmp_path: Path, args: list[str], given: str) -> None:
    result = runner.invoke(
        app,
        [
            "start",
            *args,
            "--target",
            "regularization",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--data",
            str(tmp_path / "missing.csv"),
        ],
    )  # without the check: exit 4, not a search
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: Invalid value for '--target': only --mode group takes --target (--target alone implies it), "
        f"got {given}"
    )
    assert not (tmp_path / "runs").exists()


def test_an_out_of_range_option_is_a_usage_error_not_a_bug(tmp_path: Path) -> None:
    result = hyperopt("start", "--workers", "0", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("Error: Invalid value for '--workers'")


# --------------------------------------------------------------------------- naming a run


def test_resolve_run_takes_a_directory_a_job_id_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    old, new = fake_run(runs, "20260101_000000"), fake_run(runs, "20260102_000000")
    monkeypatch.chdir(tmp_path)
    assert resolve_run(None, Path("runs")) == new  # the latest, absolute
    assert resolve_run("20260101_000000", Path("runs")) == old
    assert resolve_run("runs/20260101_000000", Path("elsewhere")) == old  # a path wins, whatever --runs-dir says
    assert resolve_run(str(old), Path("elsewhere")) == old
    with pytest.raises(RunStateError, match=f"'nope' is neither a directory nor a job id under {re.escape(str(runs))}"):
        resolve_run("nope", Path("runs"))
    with pytest.raises(RunStateError, match=f"^no runs under {re.escape(str(tmp_path / 'empty'))}$"):
        resolve_run(None, Path("empty"))
    with pytest.raises(NothingRunningError, match=f"^no running run under {re.escape(str(runs))}$"):
        resolve_run(None, Path("runs"), running=True)  # nothing owns either run


@pytest.mark.parametrize("command", RUN_COMMANDS)
def test_every_command_naming_a_run_says_the_same_for_an_unknown_one(tmp_path: Path, command: str) -> None:
    fake_run(tmp_path / "runs", "20260101_000000")
    result = runner.invoke(app, ["--runs-dir", str(tmp_path / "runs"), command, "no_such_run"])
    assert result.exit_code == 6, result.output
    assert result.stderr.strip() == (
        f"Error: run not found: 'no_such_run' is neither a directory nor a job id under "
        f"{tmp_path / 'runs'}; `hyperopt status` lists the runs"
    )


@pytest.mark.parametrize("command", ["results", "status"])
def test_a_job_id_names_a_run_from_any_directory(tmp_path: Path, command: str) -> None:
    fake_run(tmp_path / "runs", "20260101_000000")
    fake_run(tmp_path / "runs", "20260102_000000")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = hyperopt("--runs-dir", tmp_path / "runs", command, "20260101_000000", "--json", cwd=elsewhere, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["job_id"] == "20260101_000000"


def test_messages_name_the_runs_dir_absolutely(tmp_path: Path) -> None:
    result = hyperopt("status", cwd=tmp_path, timeout=60)
    assert result.stdout.strip() == f"No runs under {tmp_path / 'runs'}."
    stop = hyperopt("stop", cwd=tmp_path, timeout=60)
    assert stop.returncode == 7 and stop.stderr.strip() == f"Error: no running run under {tmp_path / 'runs'}"


# --------------------------------------------------------------------------- --json and -q everywhere


@pytest.mark.parametrize("command", ["start", "resume", "worker", "stop", "status", "results", "report", "data"])
def test_every_command_that_reports_has_json_and_quiet(command: str) -> None:
    text = runner.invoke(app, [command, "--help"]).output
    assert "--json" in text and "-q, --quiet" in text


@pytest.mark.parametrize(
    "args", [["-q", "status"], ["status", "-q"], ["-q", "results"], ["status", "20260101_000000", "-q"]]
)
def test_quiet_prints_nothing_and_json_still_answers(tmp_path: Path, args: list[str]) -> None:
    fake_run(tmp_path / "runs", "20260101_000000")
    quiet = runner.invoke(app, ["--runs-dir", str(tmp_path / "runs"), *args])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == ""
    answer = runner.invoke(app, ["--runs-dir", str(tmp_path / "runs"), *args, "--json"])
    assert answer.exit_code == 0 and json.loads(answer.stdout)


@pytest.mark.parametrize(
    "args", [["status", "--json"], ["status"], ["results", "--json"], ["results"], ["status", "20260101_000000"]]
)
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path, args: list[str]) -> None:
    fake_run(tmp_path / "runs", "20260101_000000")
    code, stderr = into_closed_pipe(*args, cwd=tmp_path, timeout=60)
    assert code == 141, stderr  # 128 + SIGPIPE, what a shell reports for `cat big | head`
    assert "Error" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr


# --------------------------------------------------------------------------- NO_COLOR and non-TTY output


def test_no_color_and_non_tty_output_have_no_colour_codes(tmp_path: Path) -> None:
    fake_run(tmp_path / "runs", "20260101_000000")
    piped = hyperopt("status", cwd=tmp_path, timeout=60)
    assert "20260101_000000" in piped.stdout and "\x1b[" not in piped.stdout  # a pipe: plain text
    primary, secondary = pty.openpty()  # a terminal, but NO_COLOR=1
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperopt_cli", "status"],
        cwd=tmp_path,
        stdout=secondary,
        stderr=subprocess.PIPE,
        env={**cli_env(), "NO_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(primary)
    text = b"".join(chunks).decode()
    assert "20260101_000000" in text
    assert not re.search(r"\x1b\[[0-9;]*(3[0-9]|9[0-7]|38;)[0-9;]*m", text), repr(text)  # no foreground colours


# --------------------------------------------------------------------------- --json, -q and the verdict line


JsonRun = tuple[Path, subprocess.CompletedProcess[str]]  # the folder and `start --json -q`'s outcome


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> JsonRun:
    folder = tmp_path_factory.mktemp("json_run")
    cfg = write_config(folder, n_warmup_steps=10)  # never pruned: the report has two complete trials to draw
    result = hyperopt("start", "-c", cfg, "--mode", "quick", "--json", "-q", cwd=folder, timeout=600)
    return folder, result


@pytest.mark.slow  # a full run
def test_start_json_prints_only_the_outcome_with_the_verdict(json_run: JsonRun) -> None:
    folder, result = json_run
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)  # stdout is the JSON alone
    run = Path(outcome["run_dir"])
    assert run.is_absolute() and run.parent == folder / "runs" and outcome["job_id"] == run.name
    assert outcome["status"] == "completed" and outcome["exit_code"] == 0
    verdict = json.loads((run / "results.json").read_text())["verdict"]
    assert outcome["verdict"] == verdict["wording"] and outcome["beats_best_baseline"] == verdict["beats_best_baseline"]
    assert result.stderr == ""  # -q: no live display either


@pytest.mark.slow  # a full run
def test_report_json_and_quiet(json_run: JsonRun) -> None:
    folder, _ = json_run
    (run,) = rundir.list_runs(folder / "runs")
    quiet = hyperopt("report", "-q", cwd=folder, timeout=300)  # no RUN: the latest
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == ""
    assert f"Using run runs/{run.name} (newest)" in quiet.stderr.splitlines()
    made = hyperopt("report", run.name, "--json", "--out", "elsewhere", cwd=folder, timeout=300)
    assert made.returncode == 0, made.stderr
    answer = json.loads(made.stdout)
    assert answer["html"] == str(folder / "elsewhere" / "report.html") and Path(answer["html"]).is_file()
    assert answer["figures"] and all(Path(f).is_file() for f in answer["figures"])
    assert answer["missing"] == {}


@pytest.mark.slow  # a full run
def test_resume_by_job_id_of_a_completed_run_is_refused(json_run: JsonRun) -> None:
    folder, _ = json_run
    (run,) = rundir.list_runs(folder / "runs")
    result = hyperopt("resume", run.name, "--json", cwd=folder, timeout=120)
    assert result.returncode == 6 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and "completed" in result.stderr


def test_final_summary_line_states_the_verdict_in_words(tmp_path: Path) -> None:
    wording = "no evidence the LSTM beats logistic regression: Δ −0.03 [−0.07, +0.01]"
    assert final_summary_line(RunResults(verdict={"wording": wording}), tmp_path) == (
        f"Run completed: {tmp_path}. Verdict: {wording}"
    )
    assert "Verdict: none" in final_summary_line(RunResults(), tmp_path)


@pytest.mark.slow
def test_start_ends_with_the_verdict_line(tmp_path: Path) -> None:
    result = hyperopt("start", "-c", write_config(tmp_path), "--mode", "quick", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    (run,) = rundir.list_runs(tmp_path / "runs")
    wording = json.loads((run / "results.json").read_text())["verdict"]["wording"]
    assert result.stdout.splitlines()[0] == f"Run directory: {run}"
    assert result.stdout.strip().splitlines()[-1] == f"Run completed: {run}. Verdict: {wording}"


@pytest.mark.slow
def test_stop_json_by_job_id(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, max_trials_per_group=1000, epochs_per_trial=50)
    with reaped(spawn("start", "-c", cfg, "--mode", "quick", cwd=tmp_path)) as proc:
        runs = tmp_path / "runs"
        wait_for(lambda: len(rundir.list_runs(runs)) == 1, what="the run directory")
        (run,) = rundir.list_runs(runs)
        wait_running_epoch(run, proc)
        result = hyperopt("stop", "--json", cwd=tmp_path, timeout=120)  # no RUN: the latest running one
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["run_dir"] == str(run) and answer["stopped"] is True and answer["status"] == "paused"
        assert answer["pids"] == [proc.pid]
        assert_paused(proc, run)
