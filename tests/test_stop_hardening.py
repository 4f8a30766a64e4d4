"""`stop` and run ownership under unusual conditions (issue 14, items 7 and 8)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cli_helpers import assert_paused, env, hyperopt, reaped, spawn, wait_running_epoch, write_config
from hyperopt_cli import control
from hyperopt_cli.core import filelocks
from hyperopt_cli.core.errors import RunLockedError
from hyperopt_cli.run import rundir

LONG = {"epochs_per_trial": 50, "data__synthetic__n_bars": 3000, "trainer__checkpoint_interval_s": 0.2}

HOLD = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
    """
)


def hold_lock(path: Path, kind: str, seconds: float) -> subprocess.Popen[str]:
    """A plain process (not a hyperopt owner) holding a flock on `path`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), kind, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def owner_record(pid: int) -> dict[str, object]:
    return {
        "pid": pid,
        "create_time": psutil.Process(pid).create_time(),
        "host": socket.gethostname(),
        "started_at": "x",
    }


# --------------------------------------------------------------------------- item 8: the lock proves the owner


def test_forged_owner_record_is_never_signalled(tmp_path: Path, victim: subprocess.Popen[bytes]) -> None:
    """Someone holds the lock, and the pidfile and lock file name another live process: not an owner."""
    (tmp_path / rundir.CONFIG_FILE).write_text("seed: 1\n")
    holder = hold_lock(tmp_path / rundir.LOCK_FILE, "exclusive", 60)
    try:
        record = json.dumps(owner_record(victim.pid))
        (tmp_path / rundir.PID_FILE).write_text(record)
        with open(tmp_path / rundir.LOCK_FILE, "r+") as locked:
            locked.write(record)
        assert rundir.live_owner(tmp_path) is None
        result = hyperopt("stop", tmp_path, cwd=tmp_path, timeout=60)
        assert result.returncode == 7, result.stderr
        time.sleep(0.2)
        assert victim.poll() is None, "a process named by a forged owner record was signalled"
    finally:
        holder.kill()
        holder.wait()


def test_owner_record_lives_in_the_locked_file(tmp_path: Path) -> None:
    with rundir.RunLock(tmp_path):
        record = json.loads((tmp_path / rundir.LOCK_FILE).read_text())
        assert record["pid"] == os.getpid()
        assert filelocks.exclusive_holder(tmp_path / rundir.LOCK_FILE) == os.getpid()
        assert rundir.live_owner(tmp_path).pid == os.getpid()  # type: ignore[union-attr]
    assert (tmp_path / rundir.LOCK_FILE).read_text() == ""  # released: no stale record left


def test_a_shared_lock_never_reads_as_an_owner(tmp_path: Path) -> None:
    """A reader's shared lock (an old `status` probing) must not make `resume` refuse the run."""
    reader = hold_lock(tmp_path / rundir.LOCK_FILE, "shared", 0.5)
    try:
        assert not rundir.is_locked(tmp_path)
        with rundir.RunLock(tmp_path):  # waits the reader out instead of "owned by another live process"
            assert rundir.live_owner(tmp_path).pid == os.getpid()  # type: ignore[union-attr]
    finally:
        reader.kill()
        reader.wait()


def test_an_exclusive_holder_is_refused_at_once(tmp_path: Path) -> None:
    holder = hold_lock(tmp_path / rundir.LOCK_FILE, "exclusive", 60)
    try:
        started = time.monotonic()
        with pytest.raises(RunLockedError):
            rundir.RunLock(tmp_path).acquire()
        assert time.monotonic() - started < 1.0
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------- item 7: stop


@pytest.mark.slow
def test_stop_works_when_this_shell_cannot_reach_the_storage(tmp_path: Path) -> None:
    """The run's database URL needs ${HYPEROPT_TEST_STORE}; the stopping shell lacks it. It still stops."""
    cfg = write_config(tmp_path, **LONG, storage_url="sqlite:///${HYPEROPT_TEST_STORE}/studies.db")
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperopt_cli", "start", "--config", str(cfg), "--mode", "quick", "--run-dir", str(run)],
        cwd=tmp_path,
        env={**env(), "HYPEROPT_TEST_STORE": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with reaped(proc):
        wait_running_epoch(run, proc)
        stopped = hyperopt("stop", run, cwd=tmp_path, timeout=120)  # env() has no HYPEROPT_TEST_STORE
        assert stopped.returncode == 0, stopped.stderr
        assert "stop flag could not be set" in stopped.stdout
        assert_paused(proc, run)


@pytest.mark.slow
@pytest.mark.parametrize(
    "storage",
    [{"storage_url": "journal", "workers": 2}, {"storage_url": "sqlite:///{tmp}/s.db"}],
    ids=["journal-2-workers", "database"],
)
def test_stopping_a_paused_shared_run_exits_7(tmp_path: Path, storage: dict[str, object]) -> None:
    storage = {**storage, "storage_url": str(storage["storage_url"]).format(tmp=tmp_path)}
    cfg = write_config(tmp_path, **LONG, **storage)
    run = tmp_path / "run"
    with reaped(spawn("start", "--config", cfg, "--mode", "quick", "--run-dir", run, cwd=tmp_path)) as proc:
        wait_running_epoch(run, proc)
        first = hyperopt("stop", run, cwd=tmp_path, timeout=120)
        assert first.returncode == 0, first.stderr
        proc.wait(timeout=60)
        again = hyperopt("stop", run, cwd=tmp_path, timeout=60)
        assert again.returncode == 7, again.stdout
        assert again.stderr.strip() == f"Error: no live process owns {run}; nothing to stop"


def test_signalling_another_users_owner_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root may signal anyone, so the kernel's refusal is simulated; the owner is a real process."""
    hold = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from hyperopt_cli.run.rundir import RunLock
        RunLock(Path(sys.argv[1])).acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "locked"

        def refuse(pid: int, sig: int) -> None:
            raise PermissionError(1, "Operation not permitted")

        with (
            monkeypatch.context() as patched,
            pytest.raises(RunLockedError, match=f"not permitted to signal pid {owner.pid} \\(user "),
        ):
            patched.setattr(control.os, "kill", refuse)
            control.stop_run(tmp_path, timeout_s=1)
    finally:
        owner.kill()
        owner.wait()
    assert owner.returncode == -signal.SIGKILL  # only the test's own kill reached it
