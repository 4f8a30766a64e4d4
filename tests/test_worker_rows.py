"""`status`'s worker rows: a worker that left cleanly is "exited", not DEAD, and earlier sessions' rows go away."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from cli_helpers import env
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.search.liveness import DEAD, EXITED, latest_session
from hyperopt_cli.search.workers import describe_workers

SESSION = """
import os, sys, threading, time
from pathlib import Path
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.search.workers import Heartbeat
cfg = config_from_dict({"storage_url": "journal", "heartbeat_interval_s": 20})
with Heartbeat(cfg, Path(sys.argv[1]), threading.Event(), lambda: {"role": sys.argv[2], "group": None, "trial": None}):
    print("up", flush=True)
    if sys.argv[3] == "hang":
        time.sleep(600)
"""


def _session(run: Path, role: str, how: str = "leave") -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SESSION, str(run), role, how], env=env(), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    if how == "hang":
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _states(run: Path) -> list[tuple[str, str]]:
    rows = describe_workers(config_from_dict({"storage_url": "journal"}), run)
    return sorted((r["role"], r["state"]) for r in rows.values())


def test_a_worker_that_left_is_exited_and_a_killed_one_dead(tmp_path: Path) -> None:
    _session(tmp_path, "owner")
    _session(tmp_path, "worker", "hang")
    assert _states(tmp_path) == [("owner", EXITED), ("worker", DEAD)]


def test_only_the_latest_sessions_rows_are_shown(tmp_path: Path) -> None:
    _session(tmp_path, "owner")
    _session(tmp_path, "worker")
    _session(tmp_path, "owner")  # a resume: a new owner row
    _session(tmp_path, "worker")
    assert _states(tmp_path) == [("owner", EXITED), ("worker", EXITED)]


def test_latest_session_keeps_live_rows_of_any_age() -> None:
    rows = {
        "a": {"role": "owner", "started": 10.0, "state": EXITED},
        "b": {"role": "worker", "started": 5.0, "state": "alive", "alive": True},
        "c": {"role": "owner", "started": 1.0, "state": DEAD},
    }
    assert sorted(latest_session(rows)) == ["a", "b"]
