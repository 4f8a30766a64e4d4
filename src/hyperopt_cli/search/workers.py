"""Several processes on one run: who they are, whether they are alive, who runs which trial.

The storage is the only coordinator. Each worker writes a heartbeat into the run's
control study (`<study_name>_control`) and reads the run's stop flag from it; a RUNNING
trial names its worker in the user attr ``worker``. A trial whose worker is dead is
taken over by the first live worker that claims it.

Liveness: a worker on this host is alive exactly when a process with its pid and start
time exists (no waiting after kill -9); a worker on another host is alive while its last
heartbeat is younger than `worker_timeout_s`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import psutil
from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.core import storage_kind
from hyperopt_cli.core.atomic import atomic_write_json
from hyperopt_cli.search.liveness import (
    ALIVE,
    HEARTBEAT_PREFIX,
    WorkerId,
    is_alive,
    latest_session,
    local_process_alive,
    this_worker,
    worker_state,
)
from hyperopt_cli.search.storage import control_study, trial_handle

__all__ = ["HEARTBEAT_PREFIX", "WorkerId", "is_alive", "local_process_alive", "this_worker"]

log = logging.getLogger("hyperopt_cli")

WORKER_ATTR = "worker"
OWNER_ENV = "HYPEROPT_OWNER"  # set by the owner on the workers it starts: its host:pid:start-time key
OWNER_POLL_S = 0.5  # how often a started worker checks that its owner still lives
STOP_ATTR = "stop_requested"
WORKERS_DIR = "workers"


def heartbeats_of(cfg: OptimizationConfig, run_dir: Path) -> dict[str, Any]:
    return dict(control_study(cfg, run_dir).user_attrs)


def describe_workers(cfg: OptimizationConfig, run_dir: Path) -> dict[str, dict[str, Any]]:
    """Every worker that ever sent a heartbeat, with `alive` as of now (for state.json and status)."""
    attrs = heartbeats_of(cfg, run_dir)
    now = time.time()
    out = {}
    for name, beat in attrs.items():
        if not name.startswith(HEARTBEAT_PREFIX) or not isinstance(beat, dict):
            continue
        key = name[len(HEARTBEAT_PREFIX) :]
        state = worker_state(key, beat, attrs, cfg.worker_timeout_s, now)
        out[key] = {
            **beat,
            "alive": state == ALIVE,
            "state": state,
            "heartbeat_age_s": round(now - float(beat.get("heartbeat", 0.0)), 1),
        }
    return latest_session(out)


# --------------------------------------------------------------------------- stop flag


def request_stop(cfg: OptimizationConfig, run_dir: Path) -> None:
    control_study(cfg, run_dir).set_user_attr(STOP_ATTR, time.time())


def clear_stop(cfg: OptimizationConfig, run_dir: Path) -> None:
    control_study(cfg, run_dir).set_user_attr(STOP_ATTR, None)


class Heartbeat:
    """A daemon thread: writes this worker's heartbeat and turns the run's stop flag into `stop_event`."""

    def __init__(
        self, cfg: OptimizationConfig, run_dir: Path, stop_event: threading.Event, where: Callable[[], dict[str, Any]]
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.stop_event = stop_event
        self.where = where
        self.worker = this_worker()
        self.started = time.time()
        self.exited: float | None = None  # set before the last beat: this worker leaves cleanly
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hyperopt-heartbeat", daemon=True)

    def beat(self) -> None:
        study = control_study(self.cfg, self.run_dir)
        study.set_user_attr(
            HEARTBEAT_PREFIX + self.worker.key,
            {
                "host": self.worker.host,
                "pid": self.worker.pid,
                "started": self.started,
                "heartbeat": time.time(),
                **self.where(),
                **({"exited": self.exited} if self.exited else {}),
            },
        )
        flag = study.user_attrs.get(STOP_ATTR)
        if isinstance(flag, (int, float)) and flag >= self.started:
            self.stop_event.set()

    def _loop(self) -> None:
        while not self._quit.wait(self.cfg.heartbeat_interval_s):
            try:
                self.beat()
            except Exception as exc:  # a storage hiccup must not kill the worker; the next beat retries
                log.warning("heartbeat failed: %s", exc)

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._quit.set()
        self._thread.join(timeout=5)
        self.exited = time.time()
        try:
            self.beat()  # the last word: where it stopped, and that it left (status shows "exited", not DEAD)
        except Exception:
            pass


# --------------------------------------------------------------------------- dying with the owner


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def owner_from_env() -> WorkerId | None:
    """The owner that started this worker (`HYPEROPT_OWNER`), or None for a worker started by hand."""
    raw = os.environ.get(OWNER_ENV)
    return WorkerId.parse(raw) if raw else None


def ask_kernel_for_sigterm_on_parent_death() -> bool:
    """Linux only: have the kernel send SIGTERM to this process when its parent dies (prctl PR_SET_PDEATHSIG).

    SIGTERM is the graceful stop: the worker checkpoints its trial and exits. False where the
    call is unavailable (another OS, a libc without prctl); the owner watch covers that case.
    """
    if not os.uname().sysname == "Linux":
        return False
    try:
        import ctypes
        import signal as _signal

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(_signal.SIGTERM), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class OwnerWatch:
    """A daemon thread in a worker the owner started: sets `stop_event` within `OWNER_POLL_S` of the owner's death.

    The portable half of "a worker dies with its run" (the Linux half is PR_SET_PDEATHSIG):
    the owner's pid and start time identify it exactly, so a pid reused by another process
    does not keep the worker alive. A worker started by hand (`hyperopt worker`, no
    `HYPEROPT_OWNER`) has no owner to watch and runs until the run's stop flag or its groups end.
    """

    def __init__(
        self,
        owner: WorkerId | None,
        stop_event: threading.Event,
        on_gone: Callable[[str], None] | None = None,
        poll_s: float = OWNER_POLL_S,
    ) -> None:
        self.owner = owner
        self.stop_event = stop_event
        self.on_gone = on_gone
        self.poll_s = poll_s
        self.gone = False
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hyperopt-owner-watch", daemon=True)

    def owner_alive(self) -> bool:
        return self.owner is None or local_process_alive(self.owner)

    def _loop(self) -> None:
        while not self._quit.is_set():
            if not self.owner_alive():
                self.gone = True
                assert self.owner is not None
                message = (
                    f"the run's owner (pid {self.owner.pid}) is gone; "
                    "this worker checkpoints its trial and stops (resume the run to go on)"
                )
                log.warning(message)
                if self.on_gone is not None:
                    self.on_gone(message)
                self.stop_event.set()
                return
            self._quit.wait(self.poll_s)

    def __enter__(self) -> OwnerWatch:
        if self.owner is not None:
            if self.owner.pid == os.getppid():
                ask_kernel_for_sigterm_on_parent_death()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._quit.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)


# --------------------------------------------------------------------------- claiming trials


SETTLE_DATABASE_S = 1.0
CLAIMS_LOCK = "claims.lock"


def may_share_trials(cfg: OptimizationConfig) -> bool:
    """Whether another process may run this run's trials: one local process on SQLite files has no competitor."""
    return not (cfg.workers == 1 and not storage_kind.several_writers(cfg.storage_url))


def claim(
    study: optuna.Study,
    frozen: FrozenTrial,
    me: WorkerId,
    cfg: OptimizationConfig,
    heartbeats: dict[str, Any],
    run_dir: Path,
) -> bool:
    """Take over a RUNNING trial whose worker is gone; True when this worker now owns it.

    Re-read, check, write. The re-read matters: `frozen` comes from a snapshot that may be
    seconds old, and a worker that claimed the trial since then must not be overwritten.
    With study files (SQLite or journal) every worker is on this host, so the three steps
    run under one OS lock in the run directory and no two workers both see a trial free.
    With a database server workers may sit on other hosts: each writes, waits for a
    competing write to land, and re-reads, so two that both saw the trial free read the
    same last writer. A claim that loses anyway is caught at the next epoch (`still_owns`).
    """
    settle_s = 0.0 if storage_kind.file_per_group(cfg.storage_url) else SETTLE_DATABASE_S
    with study_files_lock(cfg, run_dir):
        return _claim(study, frozen, me, cfg, heartbeats, settle_s=settle_s)


@contextlib.contextmanager
def study_files_lock(cfg: OptimizationConfig, run_dir: Path) -> Iterator[None]:
    """An OS lock every local worker of the run takes for a read-then-write on its studies (claims, the incumbent).

    Only with study files, whose workers are all on this host; with a database server workers
    may sit on other hosts, which an OS lock cannot reach, so nothing is locked.
    """
    if not storage_kind.file_per_group(cfg.storage_url):
        yield
        return
    folder = run_dir / WORKERS_DIR
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / CLAIMS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _claim(
    study: optuna.Study,
    frozen: FrozenTrial,
    me: WorkerId,
    cfg: OptimizationConfig,
    heartbeats: dict[str, Any],
    settle_s: float,
) -> bool:
    frozen = reread(study, frozen)
    if frozen.state != TrialState.RUNNING:
        return False
    owner = frozen.user_attrs.get(WORKER_ATTR)
    if owner == me.key:
        return True
    if owner is not None and is_alive(owner, heartbeats, cfg.worker_timeout_s):
        return False
    if owner is None and uses_shared_coordination(cfg):  # one configured worker: nobody else asked it
        started = frozen.datetime_start or dt.datetime.now()
        if (dt.datetime.now() - started).total_seconds() < 2 * cfg.heartbeat_interval_s:
            return False  # just asked by a live worker that has not named itself yet
    trial_handle(study, frozen).set_user_attr(WORKER_ATTR, me.key)
    if settle_s:
        time.sleep(settle_s)
    return still_owns(study, frozen, me)


def reread(study: optuna.Study, frozen: FrozenTrial) -> FrozenTrial:
    """The trial as storage has it now (one trial read, not the whole study)."""
    return study._storage.get_trial(frozen._trial_id)


def still_owns(study: optuna.Study, trial: FrozenTrial | optuna.Trial, me: WorkerId) -> bool:
    """Whether `me` is still the RUNNING trial's worker (another may have taken it over, presuming us dead)."""
    fresh = study._storage.get_trial(trial._trial_id)
    return fresh.state == TrialState.RUNNING and fresh.user_attrs.get(WORKER_ATTR) == me.key


class TrialAbandoned(Exception):
    """Raised from the epoch hook when another worker now owns the trial: this worker drops it untold."""


# --------------------------------------------------------------------------- local registry


class WorkerRegistration:
    """`<run_dir>/workers/<host>_<pid>.json` plus an OS lock on it, so `hyperopt stop` finds local workers."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = run_dir / WORKERS_DIR
        self.worker = this_worker()
        self.path = self.folder / f"{self.worker.host}_{self.worker.pid}.json"
        self._fd: int | None = None

    def __enter__(self) -> WorkerRegistration:
        self.folder.mkdir(exist_ok=True)
        atomic_write_json(
            self.path,
            {
                "pid": self.worker.pid,
                "create_time": self.worker.create_time,
                "host": self.worker.host,
                "key": self.worker.key,
            },
        )
        self._fd = os.open(self.path, os.O_RDONLY)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def local_workers(run_dir: Path) -> list[psutil.Process]:
    """Live, verified local worker processes of a run (lock held, pid and start time match)."""
    import json

    found: list[psutil.Process] = []
    folder = run_dir / WORKERS_DIR
    if not folder.is_dir():
        return found
    for path in folder.glob("*.json"):
        try:
            data = json.loads(path.read_text())
            fd = os.open(path, os.O_RDONLY)
        except (OSError, ValueError):
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            continue  # nobody holds it: a stale file
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
        worker = WorkerId(str(data.get("host")), int(data.get("pid", -1)), float(data.get("create_time", 0)))
        if worker.host == socket.gethostname() and local_process_alive(worker):
            found.append(psutil.Process(worker.pid))
    return found


def uses_shared_coordination(cfg: OptimizationConfig) -> bool:
    return cfg.workers > 1 or storage_kind.is_shared_database(cfg.storage_url)
