"""A worker the owner started dies with its run: kill -9 of `hyperopt start --workers 2` leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from cli_helpers import hyperopt, read_state, spawn, wait_for, write_config
from hyperopt_cli.search.liveness import WorkerId
from hyperopt_cli.search.workers import OWNER_ENV, OwnerWatch, owner_from_env

OWNER_GONE_WITHIN_S = 6.0  # "within a few seconds", on a loaded 2-core machine


def key_of(proc: psutil.Process) -> WorkerId:
    return WorkerId("host-is-ignored", proc.pid, round(proc.create_time(), 2))


def test_owner_watch_stops_the_worker_once_its_owner_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    owner = key_of(psutil.Process(child.pid))
    stop = threading.Event()
    with OwnerWatch(owner, stop, poll_s=0.05) as watch:
        assert not stop.is_set()  # the owner still lives
        child.wait()
        assert stop.wait(2.0), "the worker did not notice its owner's death"
    assert watch.gone


def test_owner_watch_leaves_a_live_owner_and_a_hand_started_worker_alone() -> None:
    me = key_of(psutil.Process())
    for owner in (me, None):
        stop = threading.Event()
        with OwnerWatch(owner, stop, poll_s=0.02):
            time.sleep(0.2)
        assert not stop.is_set()


def test_a_reused_pid_is_not_the_owner() -> None:
    me = psutil.Process()
    impostor = WorkerId("h", me.pid, round(me.create_time(), 2) - 100.0)  # same pid, another start time
    stop = threading.Event()
    with OwnerWatch(impostor, stop, poll_s=0.02):
        assert stop.wait(1.0)


def test_owner_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OWNER_ENV, raising=False)
    assert owner_from_env() is None
    monkeypatch.setenv(OWNER_ENV, "box:123:456.78")
    assert owner_from_env() == WorkerId("box", 123, 456.78)


def run_processes(owner: psutil.Process) -> list[psutil.Process]:
    return [owner, *owner.children(recursive=True)]


@pytest.mark.slow
def test_kill_9_of_the_owner_leaves_no_process_of_the_run(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        max_trials_per_group=40,
        convergence_patience=40,
        epochs_per_trial=3,
        data__synthetic__n_bars=4000,
        heartbeat_interval_s=0.5,
        worker_timeout_s=5.0,
    )
    run = tmp_path / "run"
    owner = spawn("start", "--config", cfg, "--mode", "quick", "--run-dir", run, "--workers", "2", cwd=tmp_path)
    try:
        wait_for(
            lambda: (
                len(list((run / "workers").glob("*.json"))) == 1
                and (read_state(run).get("progress") or {}).get("current_epoch") is not None
            ),
            timeout=240,
            what="the owner and its worker both training",
        )
        procs = run_processes(psutil.Process(owner.pid))
        assert len(procs) >= 2, procs
        killed = time.monotonic()
        os.kill(owner.pid, signal.SIGKILL)
        owner.communicate(timeout=30)
        _, alive = psutil.wait_procs(procs, timeout=OWNER_GONE_WITHIN_S)
        took = time.monotonic() - killed
        assert not alive, f"still alive {OWNER_GONE_WITHIN_S} s after kill -9 of the owner: {alive}"
    finally:
        for p in psutil.Process().children(recursive=True):
            if p.pid != os.getpid():
                p.kill()
    print(f"last process of the run exited {took:.2f} s after kill -9 of the owner")
    worker_log = next((run / "workers").glob("worker-*.log")).read_text()
    # Linux: the kernel's SIGTERM (PR_SET_PDEATHSIG) comes first; elsewhere the owner watch says so.
    assert "SIGTERM received" in worker_log or "is gone" in worker_log, worker_log[-2000:]
    assert "Worker stopped" in worker_log, worker_log[-2000:]
    # The run is resumable: its trials were checkpointed, nothing is left running as far as status can tell.
    status = hyperopt("status", run, "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
