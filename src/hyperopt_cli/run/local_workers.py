"""Worker processes the run's owner starts on this machine (`workers: N`), and stopping them."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.core.atomic import UnsafeFileError, open_append
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run.events import EventSink
from hyperopt_cli.search import workers
from hyperopt_cli.search.events import Note

log = logging.getLogger("hyperopt_cli")

STOP_WAIT_S = 30  # how long a stopped worker may take to checkpoint before it is killed


class LocalWorkers:
    """`hyperopt worker RUN_DIR` children of the owner, each logging to `workers/worker-<i>.log`."""

    def __init__(self, cfg: OptimizationConfig, run_dir: Path, events: EventSink) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.events = events
        self.children: list[subprocess.Popen[bytes]] = []

    def spawn(self, n: int) -> None:
        log_dir = self.run_dir / workers.WORKERS_DIR
        if log_dir.is_symlink():  # the run's own files are never followed through a link (docs/storage.md)
            raise RunStateError(
                f"{log_dir} is a symbolic link; a run's files are never followed through one (replace it with a folder)"
            )
        log_dir.mkdir(exist_ok=True)
        # Each child watches this process (workers.OwnerWatch) and stops within a second of its death,
        # kill -9 included: a worker never goes on with a run nobody owns.
        env = {**os.environ, workers.OWNER_ENV: workers.this_worker().key}
        for i in range(n):
            try:
                fd = open_append(log_dir / f"worker-{i + 1}.log", 0o600)
            except UnsafeFileError as exc:
                raise RunStateError(str(exc)) from None
            with os.fdopen(fd, "ab") as out:
                self.children.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "hyperopt_cli", "worker", str(self.run_dir)],
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=out,
                        env=env,
                    )
                )
        if n:  # the same count as the header's `parallel N workers`: this process is one of them
            self.events.emit(
                Note(
                    message=f"started {n} local worker {'process' if n == 1 else 'processes'} "
                    f"beside this one ({n + 1} workers in all): pid " + ", ".join(str(c.pid) for c in self.children)
                )
            )

    def wait(self) -> None:
        for child in self.children:
            child.wait()
        self.children.clear()

    def stop(self) -> None:
        """On the owner's stop or failure: tell every worker (local and remote) through the storage."""
        if not workers.uses_shared_coordination(self.cfg):
            return
        try:
            workers.request_stop(self.cfg, self.run_dir)
        except Exception as exc:  # the owner's own stop must still complete
            log.warning("could not set the stop flag in the storage: %s", exc)
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=STOP_WAIT_S)
            except Exception:
                child.kill()
        self.children.clear()
