"""The fault corpus (issue 34): hostile run folders against every command and endpoint that reads a run.

Each case is one finished tiny run with one of its files replaced by something hostile:
empty, torn (cut in half), random bytes, deeply nested JSON, huge (past its read cap), a
FIFO, a character device, a symlink out of the run, or a directory where a file belongs.
Every command that reads a run (status, results, show, trials, report, stop, resume,
predict, export) and every HTTP endpoint (GET runs/status/results/groups/report, POST
stop/resume) must answer it with

- a documented exit code, and, when it fails, exactly one `Error:` line (never
  `unexpected`, never a traceback); or a documented HTTP status (never 500);
- within a time limit (a FIFO must not hang anything);
- without writing outside the run folder (the symlinks' targets, and everything beside
  the run, are compared before and after).

`unexpected` is a bug report by construction: the corpus fails on any input that reaches it.
The CLI runs in-process (CliRunner) and the server through TestClient; one pass over the real
entry point in subprocesses is marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli_helpers import env, tiny
from hyperopt_cli.cli import app
from hyperopt_cli.run import rundir
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.server.app import create_app

runner = CliRunner()
JOB = "20990101_000000"
STUDY = "ml_hyperopt_learning_rate.journal"
EXIT_CODES = {0, 2, 3, 4, 5, 6, 7, 9}  # docs/commands.md "Exit codes", less 1 (a bug) and 8/130 (training, stop)
HTTP_CODES = {200, 404, 409, 422, 507}  # docs/http-api.md
OUTSIDE = "elsewhere"  # beside the runs folder: the targets of the symlinks


def _text(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def _empty(path: Path) -> None:
    _text(path, b"")


def _torn(path: Path) -> None:
    data = path.read_bytes()
    _text(path, data[: len(data) // 2])


def _random(path: Path) -> None:
    _text(path, os.urandom(3000))


def _nested(path: Path) -> None:
    _text(path, b"[" * 200_000)


def _huge(path: Path) -> None:
    path.unlink(missing_ok=True)
    with open(path, "wb") as handle:  # sparse: past every read cap (state.json 16 MiB, journal 512 MiB)
        handle.truncate(600 << 20)


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def _device(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: endless bytes


def _symlink(path: Path) -> None:
    outside = path.parents[2] / OUTSIDE / f"{path.parent.name}-{path.name}"
    outside.parent.mkdir(exist_ok=True)
    if path.exists():
        shutil.copy2(path, outside)  # a plausible file, out of the run: it must be neither read nor written
    else:
        outside.write_text("{}")
    path.unlink(missing_ok=True)
    path.symlink_to(outside)


def _directory(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "empty": _empty,
    "torn": _torn,
    "random": _random,
    "nested": _nested,
    "huge": _huge,
    "fifo": _fifo,
    "device": _device,
    "symlink": _symlink,
    "directory": _directory,
}
FILES = (
    rundir.STATE_FILE,
    rundir.RESULTS_FILE,
    rundir.CONFIG_FILE,
    STUDY,
    "model/model.json",
    rundir.LOCK_FILE,
    rundir.PID_FILE,
    rundir.BEST_PARAMS_FILE,
)
CASES = [(f, d) for f in FILES for d in DAMAGES]


def case_id(case: tuple[str, str]) -> str:
    return f"{case[0]}:{case[1]}"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("corpus-base") / JOB
    HyperparameterOptimizer(tiny("mode=quick", "storage_url=journal", "walk_forward_blocks=1"), run).optimize()
    (run / rundir.PID_FILE).write_text(json.dumps({"pid": 1, "create_time": 0.0, "host": "x", "started_at": "x"}))
    return run


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory, synthetic_ohlcv: Any) -> Path:
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    synthetic_ohlcv.head(300).to_csv(path)
    return path


def hostile(finished: Path, tmp_path: Path, name: str, damage: str) -> Path:
    root = tmp_path / "case"
    run = root / "runs" / JOB
    shutil.copytree(finished, run)
    (root / OUTSIDE).mkdir()
    DAMAGES[damage](run / name)
    return run


def snapshot(root: Path, run: Path) -> dict[str, tuple[int, int, float]]:
    """Every file under `root` but the run folder's (and the server's own RUNS/.server): (mode, size, mtime).

    Equal before and after a command: nothing outside the run was written, the symlinks' targets included.
    """
    seen = {}
    for folder, dirs, files in os.walk(root):
        if Path(folder) == run or run in Path(folder).parents or Path(folder).name == ".server":
            dirs[:] = []
            continue
        for name in files:
            path = Path(folder) / name
            if path == run:
                continue
            info = os.lstat(path)
            seen[str(path)] = (info.st_mode, info.st_size, info.st_mtime)
    return seen


def commands(run: Path, bars: Path, out: Path) -> dict[str, list[str]]:
    return {
        "status": ["status", str(run), "--json"],
        "status-all": ["--runs-dir", str(run.parent), "status", "--json"],
        "results": ["results", str(run), "--json"],
        "trials": ["trials", str(run), "--json"],
        "show": ["show", str(run), "learning_rate", "0", "--json"],
        "stop": ["stop", str(run)],
        "export": ["export", str(run), "--config", str(out / "best.yaml")],
        "predict": ["predict", str(run), "--data", str(bars), "--json"],
    }


def check_cli(result: Any, what: str) -> None:
    assert "Traceback" not in result.output + result.stderr, (what, result.output)
    assert result.exit_code in EXIT_CODES, (what, result.exit_code, result.stderr or result.output)
    assert "unexpected" not in result.stderr, (what, result.stderr)
    if result.exit_code != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        if result.exit_code == 2 and lines and lines[0].startswith("Usage:"):
            return  # click's own usage error
        assert len(lines) == 1 and lines[0].startswith("Error: "), (what, result.stderr)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_reading_command_answers_a_hostile_run_in_one_line(
    finished: Path, bars: Path, tmp_path: Path, case: tuple[str, str]
) -> None:
    name, damage = case
    run = hostile(finished, tmp_path, name, damage)
    out = tmp_path / "out"
    out.mkdir()
    root = tmp_path / "case"
    before = snapshot(root, run)
    for what, args in commands(run, bars, out).items():
        started = time.monotonic()
        result = runner.invoke(app, args)
        check_cli(result, what)
        assert time.monotonic() - started < 60, what
    assert snapshot(root, run) == before  # nothing beside the run was written (symlink targets included)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "case",
    [
        (f, d)
        for f in (rundir.STATE_FILE, rundir.RESULTS_FILE, STUDY, "model/model.json")
        for d in ("torn", "fifo", "symlink", "huge")
    ],
    ids=case_id,
)
def test_report_and_resume_answer_a_hostile_run_in_one_line(
    finished: Path, tmp_path: Path, case: tuple[str, str]
) -> None:
    run = hostile(finished, tmp_path, *case)
    root = tmp_path / "case"
    before = snapshot(root, run)
    for what, args in {
        "report": ["report", str(run), "--json"],
        "resume": ["resume", str(run), "--more-trials", "1", "-q", "--json"],
    }.items():
        check_cli(runner.invoke(app, args), what)
    assert snapshot(root, run) == before


@pytest.fixture(scope="module")
def client_for() -> Iterator[Callable[[Path], TestClient]]:
    made: list[TestClient] = []

    def make(runs: Path) -> TestClient:
        client = TestClient(create_app(runs, None, start_wait_s=5, stop_timeout_s=5), raise_server_exceptions=False)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


ENDPOINTS: list[tuple[str, str]] = [
    ("GET", "/api/hyperopt/runs"),
    ("GET", f"/api/hyperopt/status?job_id={JOB}"),
    ("GET", "/api/hyperopt/status"),
    ("GET", f"/api/hyperopt/results?job_id={JOB}"),
    ("GET", "/api/hyperopt/groups"),
    ("GET", f"/api/hyperopt/report?job_id={JOB}"),
    ("POST", f"/api/hyperopt/stop?job_id={JOB}"),
    ("POST", f"/api/hyperopt/resume?job_id={JOB}"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_endpoint_answers_a_hostile_run_with_a_documented_status(
    finished: Path, tmp_path: Path, client_for: Any, case: tuple[str, str]
) -> None:
    run = hostile(finished, tmp_path, *case)
    root = tmp_path / "case"
    before = snapshot(root, run)
    client = client_for(run.parent)
    for method, path in ENDPOINTS:
        answer = client.request(method, path)
        assert answer.status_code in HTTP_CODES, (method, path, answer.status_code, answer.text[:300])
        if answer.status_code >= 400 and "json" in answer.headers.get("content-type", ""):
            detail = answer.json()["detail"]
            assert "Traceback" not in str(detail) and "unexpected" not in str(detail)
    _stop_children(run)
    assert snapshot(root, run) == before


def _stop_children(run: Path) -> None:
    """A POST /resume the server accepted started a run process: stop it (the corpus is about reading)."""
    from hyperopt_cli import control

    if rundir.live_owner(run) is not None:
        control.stop_run(run, timeout_s=30)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_real_entry_point_answers_the_corpus_in_one_line(finished: Path, bars: Path, tmp_path: Path) -> None:
    """The same corpus through `python -m hyperopt_cli` in subprocesses (status, results, trials), with timeouts."""
    for name, damage in CASES:
        case_dir = tmp_path / f"{name.replace('/', '_')}-{damage}"
        case_dir.mkdir()
        run = hostile(finished, case_dir, name, damage)
        for args in (["status", run], ["results", run], ["trials", run]):
            done = subprocess.run(
                [sys.executable, "-m", "hyperopt_cli", *map(str, args)],
                env=env(),
                cwd=case_dir,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode in EXIT_CODES and "unexpected" not in done.stderr, (name, damage, args, done.stderr)
            if done.returncode:
                lines = [line for line in done.stderr.splitlines() if line.strip()]
                assert len(lines) == 1 and lines[0].startswith("Error: "), (name, damage, args, done.stderr)
