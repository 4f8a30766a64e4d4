from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from hyperopt_cli.core.atomic import atomic_write_json
from hyperopt_cli.core.errors import RunLockedError
from hyperopt_cli.run import rundir


def test_job_ids_unique_within_one_second(tmp_path: Path) -> None:
    when = dt.datetime(2026, 11, 27, 21, 58, 32)
    dirs = [rundir.create_run_dir(tmp_path, when) for _ in range(3)]
    assert [d.name for d in dirs] == ["20261127_215832", "20261127_215832_2", "20261127_215832_3"]


def test_atomic_json_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_read_json_tolerates_corrupt_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{half")
    assert rundir.read_json(tmp_path / "x.json") is None
    assert rundir.read_json(tmp_path / "missing.json") is None


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from hyperopt_cli.run.rundir import RunLock
    lock = RunLock(Path(sys.argv[1]))
    lock.acquire()
    print("locked", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def lock_holder(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


def test_second_owner_is_refused_and_owner_is_verified(tmp_path: Path, lock_holder: subprocess.Popen) -> None:
    with pytest.raises(RunLockedError, match=f"owned by another live process \\(pid {lock_holder.pid} "):
        rundir.RunLock(tmp_path).acquire()
    owner = rundir.live_owner(tmp_path)
    assert owner is not None and owner.pid == lock_holder.pid


def test_kill_9_releases_the_lock(tmp_path: Path, lock_holder: subprocess.Popen) -> None:
    lock_holder.kill()
    lock_holder.wait()
    assert rundir.live_owner(tmp_path) is None
    with rundir.RunLock(tmp_path):
        assert rundir.live_owner(tmp_path).pid == psutil.Process().pid  # type: ignore[union-attr]


def test_stale_pidfile_of_unrelated_live_process_is_not_an_owner(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        # A pidfile naming a live process, but no lock held: a stale file.
        proc = psutil.Process(sleeper.pid)
        atomic_write_json(
            tmp_path / rundir.PID_FILE,
            {
                "pid": sleeper.pid,
                "create_time": proc.create_time(),
                "host": __import__("socket").gethostname(),
                "started_at": "x",
            },
        )
        (tmp_path / rundir.LOCK_FILE).touch()
        assert rundir.live_owner(tmp_path) is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_reused_pid_with_other_start_time_is_not_an_owner(tmp_path: Path, lock_holder: subprocess.Popen) -> None:
    # The lock is held, but the owner record's start time does not match the process with that pid.
    data = json.loads((tmp_path / rundir.PID_FILE).read_text())
    data["create_time"] -= 1000
    atomic_write_json(tmp_path / rundir.PID_FILE, data)
    with open(tmp_path / rundir.LOCK_FILE, "r+") as locked:  # in place: the held lock stays on this file
        locked.truncate(0)
        locked.write(json.dumps(data))
    assert rundir.live_owner(tmp_path) is None
