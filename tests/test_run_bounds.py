"""Bounds and targets (issue 34): write targets, worker and count bounds, --more-trials, the report's CSP.

Real device nodes and FIFOs as targets (the tests run as root in CI and here), a real
`hyperopt serve` for the HTTP items.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli_helpers import tiny
from hyperopt_cli.cli import app
from hyperopt_cli.config import ConfigError, load_config
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.run.parallel import choose_parallel
from hyperopt_cli.search import storage
from hyperopt_cli.search.study_records import EXTRA_TRIALS_ATTR
from hyperopt_cli.server.report_route import REPORT_CSP
from server_helpers import API, free_port, spawn_server, stop_server

runner = CliRunner()
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("quick") / "runs" / "20990101_000000"
    HyperparameterOptimizer(tiny("mode=quick", "storage_url=journal"), run).optimize()
    return run


@pytest.fixture
def run(quick_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / quick_run.name
    shutil.copytree(quick_run, copy)
    return copy


def one_error(result: Any, code: int) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "unexpected" not in lines[0], result.stderr
    return lines[0]


# --------------------------------------------------------------------------- finding 3: writes that follow any target


def _node(path: Path) -> Path:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is
    return path


@needs_root
@pytest.mark.parametrize("make", ["device", "fifo", "directory"])
def test_export_config_never_replaces_a_device_fifo_or_directory(run: Path, tmp_path: Path, make: str) -> None:
    target = tmp_path / "x"
    if make == "device":
        _node(target)
    elif make == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    mode = os.lstat(target).st_mode
    line = one_error(runner.invoke(app, ["export", str(run), "--config", str(target), "--force"]), 2)
    assert f"--config {target} is a" in line
    assert os.lstat(target).st_mode == mode  # still the node, FIFO or folder it was


@needs_root
def test_every_write_target_is_checked_before_the_command_works(run: Path, tmp_path: Path) -> None:
    node = _node(tmp_path / "node")
    folder = tmp_path / "DIR.csv"
    folder.mkdir()
    cases = [
        (["predict", str(run), "--data", str(tmp_path / "bars.csv"), "--out", str(folder)], "is a directory"),
        (["predict", str(run), "--data", str(tmp_path / "bars.csv"), "--out", str(node)], "character device"),
        (["report", str(run), "--out", str(node)], "not a directory"),
        (["report", str(run), "--out", "/proc/m"], "cannot write --out /proc/m"),
        (["export", str(run), "--config", str(folder), "--force"], "is a directory"),
        (["export", str(run), "--refit", "--out", str(node)], "not a directory"),
        (["data", "--export", str(node)], "character device"),
    ]
    for args, words in cases:
        line = one_error(runner.invoke(app, args), 2)
        assert words in line, (args, line)
    assert stat.S_ISCHR(os.lstat(node).st_mode)


def test_export_config_still_writes_a_regular_file_and_overwrites_with_force(run: Path, tmp_path: Path) -> None:
    target = tmp_path / "best.yaml"
    target.write_text("old: 1\n")
    assert runner.invoke(app, ["export", str(run), "--config", str(target), "--force"]).exit_code == 0
    assert "mode: quick" in target.read_text()


# --------------------------------------------------------------------------- finding 4: workers and other counts


def test_workers_beyond_the_static_bound_are_a_config_error(tmp_path: Path) -> None:
    line = one_error(runner.invoke(app, ["start", "--workers", "100000", "--set", "data.synthetic.n_bars=200"]), 3)
    assert "workers" in line and "1024" in line


def test_workers_beyond_four_per_core_are_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="workers=9 is more than 4 per usable core .2 here, so at most 8"):
        choose_parallel({"workers": 9}, cores=2)
    assert choose_parallel({"workers": 8}, cores=2).workers == 8


@pytest.mark.parametrize(
    "key, value",
    [
        ("ensemble_seeds", 10_000),
        ("selection_folds", 1000),
        ("walk_forward_blocks", 10**6),
        ("max_trials_per_group", 10**9),
        ("epochs_per_trial", 10**7),
        ("trainer.num_threads", 5000),
        ("model.hidden_size", 10**6),
        ("data.synthetic.n_bars", 10**10),
    ],
)
def test_counts_a_config_sets_are_bounded(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=rf"{key.split('.')[-1]}.*must be in \["):
        load_config(None, [f"{key}={value}"])


# --------------------------------------------------------------------------- finding 10: --more-trials bound


@pytest.mark.parametrize("n", ["9223372036854775808", "100000000000000"])
def test_an_absurd_more_trials_is_refused_before_anything_is_recorded(run: Path, n: str) -> None:
    cfg = HyperparameterOptimizer.from_run_dir(run).cfg
    before = (run / "ml_hyperopt_learning_rate.journal").read_bytes()
    result = runner.invoke(app, ["resume", str(run), "--more-trials", n])
    assert result.exit_code == 2 and "less than or equal to 1000000" in result.output
    assert (run / "ml_hyperopt_learning_rate.journal").read_bytes() == before
    assert EXTRA_TRIALS_ATTR not in storage.load_study(cfg, run, "learning_rate").user_attrs


def test_a_run_stuck_on_an_absurd_extension_resumes(run: Path) -> None:
    cfg = HyperparameterOptimizer.from_run_dir(run).cfg
    study = storage.load_study(cfg, run, "learning_rate")
    study.set_user_attr(EXTRA_TRIALS_ATTR, [{"n": 10**14, "at_finished": 2, "limit": 10**14 + 2}])
    with pytest.raises(RunStateError, match="already completed"):  # not OverflowError: the record is skipped
        HyperparameterOptimizer.from_run_dir(run).optimize()
    HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    finished = [t for t in storage.load_study(cfg, run, "learning_rate").get_trials() if t.state.is_finished()]
    assert len(finished) == 3


# --------------------------------------------------------------------------- findings 6, 7, 9 over HTTP


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.mark.timeout(240)
def test_a_real_server_sandboxes_the_report_and_survives_a_fifo_and_a_huge_state(run: Path, tmp_path: Path) -> None:
    (run / "report").mkdir()
    (run / "report" / "report.html").write_text(
        "<html><script>fetch('/api/hyperopt/stop',{method:'POST'})</script><p>report</p></html>"
    )
    fifo_run = run.parent / "20990102_000000"
    shutil.copytree(run, fifo_run)
    (fifo_run / rundir.STATE_FILE).unlink()
    os.mkfifo(fifo_run / rundir.STATE_FILE)
    huge_run = run.parent / "20990103_000000"
    shutil.copytree(run, huge_run)
    with open(huge_run / rundir.STATE_FILE, "wb") as handle:
        handle.truncate(120 << 20)
    port = free_port()
    server = spawn_server(tmp_path, port, "--runs-dir", run.parent, "--no-token")
    try:
        status, headers, body = _get(port, f"{API}/report?job_id={run.name}")
        assert status == 200 and b"<script>" in body
        assert headers["content-security-policy"] == REPORT_CSP
        assert headers["x-frame-options"] == "DENY"
        with ThreadPoolExecutor(max_workers=48) as pool:  # more than the server's threads
            answers = list(pool.map(lambda _: _get(port, f"{API}/runs"), range(48)))
        assert {a[0] for a in answers} == {200}
        rows = {row["job_id"]: row for row in json.loads(answers[0][2])["runs"]}
        assert rows[fifo_run.name]["status"] == "unreadable" and "FIFO" in rows[fifo_run.name]["message"]
        assert rows[huge_run.name]["status"] == "unreadable" and "larger than" in rows[huge_run.name]["message"]
        assert rows[run.name]["status"] == "completed"
        for path in (f"/status?job_id={fifo_run.name}", f"/results?job_id={huge_run.name}"):
            status, _, body = _get(port, API + path)
            assert status == 409, (path, body)
    finally:
        stop_server(server)


# --------------------------------------------------------------------------- low: serve's arguments, temps, report mode


def test_serve_refuses_a_bad_port_a_taken_port_and_a_file_as_runs_dir(tmp_path: Path) -> None:
    import socket

    (tmp_path / "file").write_text("x")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for args, words in (
            (["--port", "70000"], "--port must be in 0..65535"),
            (["--runs-dir", str(tmp_path / "file")], "is not a directory"),
            (["--port", str(port)], "Address already in use; pick another --port"),
        ):
            result = runner.invoke(app, ["serve", "--no-token", "--runs-dir", str(tmp_path / "runs"), *args])
            assert words in one_error(result, 2)


def test_resume_removes_the_temp_files_killed_writes_left(run: Path) -> None:
    stale = [run / ".state.json.abc123.tmp", run / ".results.json.x.tmp"]
    for path in stale:
        path.write_text("{")
    (run / ".model.keep.tmp").write_text("not a summary's temp")
    HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    assert not any(path.exists() for path in stale)
    assert (run / ".model.keep.tmp").exists()


def test_the_report_folder_is_private(run: Path) -> None:
    result = runner.invoke(app, ["report", str(run), "--json"])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((run / "report").stat().st_mode) == 0o700


def test_post_resume_reports_a_child_that_fails_at_once(run: Path, tmp_path: Path) -> None:
    """An interrupted run's state.json still says "running": that is not the child's word that it runs."""
    from fastapi.testclient import TestClient

    from hyperopt_cli.server.app import create_app

    state = rundir.read_json(run / rundir.STATE_FILE)
    rundir.write_json(run / rundir.STATE_FILE, {**state, "status": "running", "pid": 1})  # a dead session's record
    config = (run / rundir.CONFIG_FILE).read_text()
    (run / rundir.CONFIG_FILE).write_text(config.replace("seed: 7", "seed: 8"))  # the child refuses it at once
    with TestClient(create_app(run.parent, None, start_wait_s=60)) as client:
        answer = client.post(f"{API}/resume?job_id={run.name}")
    assert answer.status_code == 409, answer.text
    assert "was edited since the run started" in answer.json()["detail"]
