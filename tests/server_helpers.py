"""Helpers for the HTTP API tests: a real `hyperopt serve` on a free loopback port, and cleanup."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cli_helpers import env, write_config
from hyperopt_cli import control
from hyperopt_cli.run import rundir

API = "/api/hyperopt"
# A run that goes on until stopped: many trials, no early convergence.
LONG_RUN = {"max_trials_per_group": 200, "convergence_patience": 200}


def long_config(folder: Path, **overrides: Any) -> Path:
    return write_config(folder, **{**LONG_RUN, **overrides})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_server(cwd: Path, port: int, *args: str | Path) -> subprocess.Popen[str]:
    """`hyperopt serve` on 127.0.0.1:port; returns once it answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperopt_cli", "serve", "--port", str(port), *map(str, args)],
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"hyperopt serve exited: {proc.communicate()[0]}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("hyperopt serve did not start listening")


def read_until_serving(proc: subprocess.Popen[str]) -> list[str]:
    """What `serve` printed up to its "Serving http://..." line, which comes last (call after `spawn_server`).

    Read here, these lines are gone from what `stop_server` returns.
    """
    assert proc.stdout is not None
    lines = []
    while line := proc.stdout.readline():
        lines.append(line.rstrip("\n"))
        if line.startswith("Serving "):
            return lines
    raise AssertionError(f"hyperopt serve printed no Serving line: {lines}")


def stop_server(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.communicate()[0]


def stop_all_runs(runs_dir: Path) -> None:
    """Stop every live run under `runs_dir` (test cleanup: nothing may keep training)."""
    for run in rundir.list_runs(runs_dir):
        if rundir.live_owner(run) is not None:
            with contextlib.suppress(Exception):
                control.stop_run(run, timeout_s=30)
