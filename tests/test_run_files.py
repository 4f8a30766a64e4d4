"""Run files that cannot be turned against their run (issue 34): study files, special files, size caps, symlinks.

Every test builds its hostile file for real (an emptied journal, a FIFO, a device node, a
symlink, a 100 MB file) in a copy of one finished tiny run, and checks the one-line refusal
(or the repair) the docs promise. Tests that could hang on a regression run the real CLI in a
subprocess with a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli_helpers import hyperopt, tiny
from hyperopt_cli.cli import app
from hyperopt_cli.core.atomic import UnsafeFileError, open_append, read_bounded
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.logfile import attached_log
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.search.storage import drop_torn_tail, scan_journal

runner = CliRunner()
LR = "ml_hyperopt_learning_rate.journal"
LAST = "ml_hyperopt_triple_barrier.journal"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("base") / "run"
    HyperparameterOptimizer(tiny("mode=full", "storage_url=journal"), run).optimize()
    return run


@pytest.fixture
def run(finished_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / "20990101_000000"
    shutil.copytree(finished_run, copy)
    return copy


def cli(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "unexpected" not in lines[0] and "Traceback" not in stderr
    return lines[0]


# --------------------------------------------------------------------------- finding 1: emptied or deleted study file


@pytest.mark.parametrize("damage", ["emptied", "deleted"])
def test_an_emptied_or_deleted_study_file_is_refused_not_restarted(run: Path, damage: str) -> None:
    path = run / LR
    if damage == "emptied":
        path.write_bytes(b"")
    else:
        path.unlink()
    log_before = (run / rundir.LOG_FILE).read_text()
    with pytest.raises(
        RunStateError,
        match=rf"{LR} is (empty|missing), but state.json recorded 2 finished trial.*"
        "restore the file",
    ):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    assert not path.exists() or path.stat().st_size == 0  # nothing was started in its place
    assert "learning_rate] started" not in (run / rundir.LOG_FILE).read_text()[len(log_before) :]


def test_a_missing_earlier_study_is_refused_even_without_state_json(run: Path) -> None:
    (run / LR).unlink()
    (run / rundir.STATE_FILE).unlink()
    with pytest.raises(RunStateError, match="a later group .* has begun"):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)


def test_a_study_holding_fewer_trials_than_recorded_is_refused(run: Path) -> None:
    lines = (run / LR).read_bytes().splitlines(keepends=True)
    first_trial = next(i for i, line in enumerate(lines) if json.loads(line)["op_code"] == 4)
    (run / LR).write_bytes(b"".join(lines[:first_trial]))  # the study, no trials
    with pytest.raises(RunStateError, match="holds 0 finished trial.*recorded 2"):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)


def test_cli_resume_on_an_emptied_study_file_is_one_error_line_exit_6(run: Path, tmp_path: Path) -> None:
    (run / LR).write_bytes(b"")
    done = hyperopt("resume", run, "--more-trials", "1", "-q", cwd=tmp_path, timeout=120)
    assert done.returncode == 6
    assert LR in one_error_line(done.stderr)


# --------------------------------------------------------------------------- finding 2: damaged journal


def _cut(data: bytes) -> bytes:
    return data[:-30]


def _with_line(line: bytes) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        return b"".join(lines[:3] + [line] + lines[3:])

    return damage


DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "garbage line": (_with_line(b"garbage\n"), "line 4 .not a JSON record"),
    "NUL bytes": (_with_line(b"\0\0\0\0\n"), "line 4 .not a JSON record"),
    "bad op code": (_with_line(b'{"op_code": 99, "worker_id": "x"}\n'), "line 4 .no known op_code"),
    "a list": (_with_line(b"[1, 2]\n"), "line 4 .not a JSON object"),
    "nested": (_with_line(b"[" * 100_000 + b"\n"), "line 4 .not a JSON record"),
    "random bytes": (lambda data: os.urandom(4000).replace(b"\n", b"x") + b"\n", "line 1 .*restore it from a backup"),
    "mid-file cut": (lambda data: data[: len(data) // 3] + data[-len(data) // 3 :], r"damaged at line \d+"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_journal_is_one_line_naming_the_file_and_line(run: Path, name: str) -> None:
    damage, pattern = DAMAGE[name]
    (run / LAST).write_bytes(damage((run / LAST).read_bytes()))
    before = (run / LAST).read_bytes()
    result = cli("trials", run)
    assert result.exit_code == 6, result.output
    line = one_error_line(result.stderr)
    assert LAST in line and "docs/storage.md" in line
    assert __import__("re").search(pattern, line), line
    with pytest.raises(RunStateError, match="damaged at line"):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    assert (run / LAST).read_bytes() == before  # refused, untouched


def test_the_recovery_the_message_gives_keeps_the_records_before_the_damage(run: Path) -> None:
    good = (run / LAST).read_bytes()
    (run / LAST).write_bytes(good + b"garbage\n" + b'{"op_code": 0}\n')
    result = cli("trials", run)
    keep = int(__import__("re").search(r"head -n (\d+)", result.stderr).group(1))
    lines = (run / LAST).read_bytes().splitlines(keepends=True)
    (run / LAST).write_bytes(b"".join(lines[:keep]))
    assert (run / LAST).read_bytes() == good
    assert cli("trials", run).exit_code == 0


def test_a_torn_last_line_is_dropped_said_and_the_run_resumes(run: Path) -> None:
    whole = (run / LAST).read_bytes()
    lines = whole.splitlines(keepends=True)
    (run / LAST).write_bytes(whole + lines[-2][:25])  # a record cut off mid-append, no line end
    assert cli("trials", run).exit_code == 0  # readers skip it
    scan = scan_journal(run / LAST)
    assert scan.torn_bytes == 25 and scan.good_bytes == len(whole)
    HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    log = (run / rundir.LOG_FILE).read_text()
    assert f"{LAST}: dropped a torn last line (25 bytes" in log
    assert (run / LAST).read_bytes().startswith(whole)  # the good records kept, the new trial appended
    assert all(json.loads(line) for line in (run / LAST).read_bytes().splitlines())
    assert rundir.read_json(run / rundir.STATE_FILE)["status"] == "completed"


def test_drop_torn_tail_leaves_a_whole_journal_alone(run: Path) -> None:
    before = (run / LAST).read_bytes()
    assert drop_torn_tail(run / LAST) == 0
    assert (run / LAST).read_bytes() == before


# --------------------------------------------------------------------------- findings 5-7: state.json as anything


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def _device(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero


def _huge(path: Path) -> None:
    with open(path, "wb") as handle:
        handle.write(b'{"status": "paused", "pad": "')
        handle.truncate(100 << 20)


def test_read_bounded_refuses_what_is_not_a_small_regular_file(tmp_path: Path) -> None:
    fifo, device, huge, link = (tmp_path / n for n in ("fifo", "dev", "huge", "link"))
    _fifo(fifo)
    _device(device)
    huge.write_bytes(b"x" * 2000)
    link.symlink_to(huge)
    with pytest.raises(UnsafeFileError, match="is a FIFO"):
        read_bounded(fifo, 100)  # returns at once: opened non-blocking
    with pytest.raises(UnsafeFileError, match="is a character device"):
        read_bounded(device, 100)
    with pytest.raises(UnsafeFileError, match="larger than 1,000 bytes"):
        read_bounded(huge, 1000)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        read_bounded(link, 10_000)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        open_append(link)
    assert read_bounded(huge, 2000) == b"x" * 2000


@pytest.mark.timeout(60)
@pytest.mark.parametrize("make", [_fifo, _device, _huge], ids=["fifo", "device", "100MB"])
def test_status_on_a_special_or_huge_state_json_is_one_line_at_once(
    run: Path, tmp_path: Path, make: Callable[[Path], None]
) -> None:
    make(run / rundir.STATE_FILE)
    done = hyperopt("status", run, cwd=tmp_path, timeout=30)
    assert done.returncode == 6
    assert "state.json" in one_error_line(done.stderr)
    listing = hyperopt("--runs-dir", run.parent, "status", "--json", cwd=tmp_path, timeout=30)
    assert listing.returncode == 0 and json.loads(listing.stdout)[0]["status"] == "unreadable"


def test_deeply_nested_state_json_reads_as_corrupt_and_is_rebuilt(run: Path) -> None:
    (run / rundir.STATE_FILE).write_text("[" * 200_000)
    result = cli("status", run, "--json")
    assert result.exit_code == 0, result.output
    assert "rebuilt from config.yaml and the studies" in json.loads(result.stdout)["note"]
    assert cli("results", run).exit_code == 0


# --------------------------------------------------------------------------- finding 8: symlinks


def test_a_lock_symlink_is_refused_and_its_target_kept(run: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (run / rundir.LOCK_FILE).unlink()
    (run / rundir.LOCK_FILE).symlink_to(precious)
    with pytest.raises(RunStateError, match="symbolic link"):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    assert precious.read_text() == "keep me"


def test_a_run_log_symlink_is_refused_and_never_appended_to(run: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.log"
    outside.write_text("mine\n")
    (run / rundir.LOG_FILE).unlink()
    (run / rundir.LOG_FILE).symlink_to(outside)
    with pytest.raises(RunStateError, match="symbolic link"):
        with attached_log(run):
            pass
    with pytest.raises(RunStateError, match="symbolic link"):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    assert outside.read_text() == "mine\n"


def test_a_study_file_symlinked_out_of_the_run_is_neither_read_nor_written(run: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.journal"
    shutil.move(run / LAST, outside)
    (run / LAST).symlink_to(outside)
    before = outside.read_bytes()
    result = cli("trials", run)
    assert result.exit_code == 6 and "symbolic link" in one_error_line(result.stderr)
    with pytest.raises(RunStateError, match="symbolic link"):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    assert outside.read_bytes() == before


def test_a_fifo_lock_file_does_not_hang_status_or_resume(run: Path, tmp_path: Path) -> None:
    _fifo(run / rundir.LOCK_FILE)
    done = hyperopt("status", run, "--json", cwd=tmp_path, timeout=30)  # never opens it: the kernel says who locks
    assert done.returncode == 0 and json.loads(done.stdout)["owner_alive"] is False
    with pytest.raises(RunStateError, match=".lock is a FIFO"):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)


# --------------------------------------------------------------------------- finding 11: another user's run


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_users_0700_run_in_a_shared_folder_is_listed_unreadable(finished_run: Path) -> None:
    import hyperopt_cli.control  # noqa: F401  (imported while root: python's files are not readable to nobody)
    import hyperopt_cli.run.state  # noqa: F401
    import hyperopt_cli.search.workers  # noqa: F401

    shared = Path(tempfile.mkdtemp(prefix="shared-runs-", dir="/tmp"))
    try:
        shared.chmod(0o1777)
        theirs = shared / "20990101_000000"
        shutil.copytree(finished_run, theirs)
        theirs.chmod(0o700)
        results = {}
        os.seteuid(65534)  # another user: the run folder is root's 0700
        try:
            results["list"] = runner.invoke(app, ["--runs-dir", str(shared), "status", "--json"])
            for command in ("status", "stop", "results"):
                results[command] = runner.invoke(app, ["--runs-dir", str(shared), command, str(theirs)])
            from fastapi.testclient import TestClient

            from hyperopt_cli.server.app import create_app

            with TestClient(create_app(shared, None)) as client:  # `serve` starts over such a folder
                results["http"] = client.get("/api/hyperopt/runs")
        finally:
            os.seteuid(0)
        assert results["list"].exit_code == 0, results["list"].output
        row = json.loads(results["list"].stdout)[0]
        assert row["status"] == "unreadable" and "permission denied" in row["message"]
        assert results["http"].status_code == 200
        assert results["http"].json()["runs"][0]["status"] == "unreadable"
        for command in ("status", "stop", "results"):
            assert results[command].exit_code == 6, (command, results[command].output)
            assert "permission denied" in one_error_line(results[command].stderr)
    finally:
        shutil.rmtree(shared)


# --------------------------------------------------------------------------- low: model.json


@pytest.mark.parametrize("members", [[f"member_{i}.pt" for i in range(65)], "[" * 200_000])
def test_a_hostile_model_json_is_one_short_line(run: Path, tmp_path: Path, members: Any) -> None:
    manifest_path = run / "model" / "model.json"
    if isinstance(members, list):
        manifest = json.loads(manifest_path.read_text())
        manifest["members"] = members
        manifest_path.write_text(json.dumps(manifest))
    else:
        manifest_path.write_text(members)
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n")
    result = cli("predict", run, "--data", bars)
    assert result.exit_code == 6, result.output
    line = one_error_line(result.stderr)
    assert "member_64" not in line and len(line) < 400, line
