"""The run directory: its layout, JSON summaries, and who owns it.

Ownership is an OS file lock (``fcntl.flock`` on ``.lock``) held for the owner's whole
life; the kernel drops it when the process dies, even by kill -9. The owner writes its
pid and process start time into the locked file itself (and, for readers, into the
pidfile). A process counts as the owner only when the kernel names it as the lock's
holder (/proc/locks) and its start time matches, so ``stop`` never signals a process that
merely reuses a dead owner's pid, or one a forged pidfile names.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from hyperopt_cli.core import filelocks
from hyperopt_cli.core.atomic import UnsafeFileError, atomic_write_json, open_guarded, read_bounded
from hyperopt_cli.core.clock import now_iso  # rundir.now_iso(): the run files' timestamp
from hyperopt_cli.core.errors import RunLockedError, RunStateError

CONFIG_FILE = "config.yaml"
STATE_FILE = "state.json"
RESULTS_FILE = "results.json"
BEST_PARAMS_FILE = "best_params.json"
PID_FILE = "hyperopt.pid"
LOCK_FILE = ".lock"
LOG_FILE = "run.log"
CHECKPOINT_DIR = "checkpoints"
RUN_ID_FILE = ".run_id"

STATUSES = ("starting", "running", "paused", "completed", "failed")
MAX_JSON_BYTES = 16 << 20  # state.json/results.json of a 10,000-trial run are ~2 MB; a read is capped here
MAX_SMALL_BYTES = 64 << 10  # the pidfile, the lock record, .run_id
READER_WAIT_S = 2.0  # how long `acquire` waits out a shared lock (a reader's probe), never an owner's


def is_run_dir(path: Path) -> bool:
    try:
        return (path / CONFIG_FILE).is_file()
    except OSError:  # a folder this user may not enter (another user's 0700 run in a shared runs folder)
        return False


def is_unreadable(path: Path) -> bool:
    """A folder this user may not look into: listed (as `unreadable`), never read."""
    try:
        (path / CONFIG_FILE).stat()
    except PermissionError:
        return True
    except OSError:
        return False
    return not os.access(path, os.R_OK | os.X_OK)


def check_readable(run_dir: Path) -> None:
    """RunStateError (exit 6) for a run folder this user may not read: one line, not a PermissionError."""
    if is_unreadable(run_dir):
        raise RunStateError(
            f"cannot read run directory {run_dir}: permission denied (it belongs to another "
            "user; run the command as that user)"
        )


def create_run_dir(runs_root: Path, when: dt.datetime | None = None) -> Path:
    """Create ``runs_root/<YYYYmmdd_HHMMSS>``, suffixed ``_2``, ``_3``... if that second is taken.

    ``os.mkdir`` fails on an existing name, so two processes starting in the same second
    still get different directories.
    """
    runs_root.mkdir(parents=True, exist_ok=True)
    stamp = (when or dt.datetime.now()).strftime("%Y%m%d_%H%M%S")
    for n in range(1, 1000):
        candidate = runs_root / (stamp if n == 1 else f"{stamp}_{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunStateError(f"cannot create a run directory under {runs_root}: too many runs named {stamp}_*")


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when the file is missing or not a valid JSON object.

    Nested too deeply to parse counts as not valid. RunStateError (exit 6, one line naming the
    file) when it is a symlink, a FIFO, a device or anything but a regular file, is larger than
    `max_bytes`, or cannot be read for lack of permission: none of these is a file the run wrote,
    and guessing past them would hang (a FIFO), exhaust memory (a huge file) or follow a link out.
    """
    try:
        data = json.loads(read_bounded(path, max_bytes).decode("utf-8"))
    except UnsafeFileError as exc:
        raise RunStateError(str(exc)) from None
    except PermissionError:
        raise RunStateError(f"cannot read {path}: permission denied (the run belongs to another user?)") from None
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def peek_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any] | None:
    """read_json for a caller that only peeks (sorting, waiting for a key): None also where read_json refuses."""
    try:
        return read_json(path, max_bytes)
    except RunStateError:
        return None


def write_json(path: Path, obj: dict[str, Any]) -> None:
    atomic_write_json(path, obj)


def run_id(run_dir: Path) -> str:
    """The run's random id, created once (by whichever process asks first) and kept in the run directory.

    It tells runs apart where their names do not: two runs both called ``run`` in different
    folders share a `checkpoint_dir` safely. Every worker reads the same run directory, so
    all of them get the same id.
    """
    path = run_dir / RUN_ID_FILE
    try:
        return _read_small(path)
    except FileNotFoundError:
        pass
    tmp = run_dir / f".run_id.{os.getpid()}.tmp"
    tmp.write_text(uuid.uuid4().hex, encoding="utf-8")
    try:
        os.link(tmp, path)  # atomic and exclusive: a concurrent creator's id wins if it was first
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_small(path)


def _read_small(path: Path) -> str:
    try:
        return read_bounded(path, MAX_SMALL_BYTES).decode("utf-8", errors="replace").strip()
    except UnsafeFileError as exc:
        raise RunStateError(str(exc)) from None


def checkpoints_of(run_dir: Path, shared_dir: str | None) -> Path:
    """Where a run's checkpoints go: ``<run_dir>/checkpoints``, or its own folder inside a shared `checkpoint_dir`."""
    if not shared_dir:
        return run_dir / CHECKPOINT_DIR
    return Path(shared_dir) / f"{run_dir.name}-{run_id(run_dir)[:12]}"


# --------------------------------------------------------------------------- ownership


@dataclass(frozen=True)
class OwnerInfo:
    pid: int
    create_time: float
    host: str
    started_at: str


class RunLock:
    """The exclusive OS lock that makes this process the run's owner, plus its pidfile."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = open_lock_file(self.run_dir / LOCK_FILE)
        if not _lock_exclusive(fd, self.run_dir / LOCK_FILE):
            os.close(fd)
            owner = read_owner(self.run_dir)
            who = f" (pid {owner.pid} on {owner.host})" if owner else ""
            raise RunLockedError(f"{self.run_dir} is owned by another live process{who}; stop it first") from None
        self._fd = fd
        me = psutil.Process()
        record = {"pid": me.pid, "create_time": me.create_time(), "host": socket.gethostname(), "started_at": now_iso()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)  # in the locked file: the record the lock vouches for
        write_json(self.run_dir / PID_FILE, record)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            (self.run_dir / PID_FILE).unlink(missing_ok=True)
            os.ftruncate(self._fd, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def open_lock_file(path: Path) -> int:
    """The run's lock file opened read-write (created if absent); RunStateError for a symlink, FIFO or device.

    A `.lock` symlinked elsewhere would otherwise have its target truncated by the owner's record.
    """
    try:
        return open_guarded(path, os.O_RDWR | os.O_CREAT)
    except UnsafeFileError as exc:
        raise RunStateError(str(exc)) from None
    except OSError as exc:
        raise RunStateError(f"cannot open the run's lock file {path}: {exc.strerror or exc}") from None


def _lock_exclusive(fd: int, path: Path) -> bool:
    """Take the exclusive lock; wait out shared locks (a reader probing), give up at once on an owner."""
    deadline = time.monotonic() + READER_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            found = filelocks.holders(path)
            if (found is not None and any(h.exclusive for h in found)) or time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def is_locked(run_dir: Path) -> bool:
    """True when some live process holds the run's lock (read from the kernel; never takes a lock on Linux)."""
    return filelocks.is_locked(run_dir / LOCK_FILE)


def _owner_from(data: dict[str, Any] | None) -> OwnerInfo | None:
    if data is None:
        return None
    try:
        return OwnerInfo(int(data["pid"]), float(data["create_time"]), str(data["host"]), str(data["started_at"]))
    except (KeyError, TypeError, ValueError):
        return None


def read_owner(run_dir: Path) -> OwnerInfo | None:
    """The owner record: from the locked file (what the lock vouches for), else from the pidfile."""
    return _owner_from(read_json(run_dir / LOCK_FILE, MAX_SMALL_BYTES)) or _owner_from(
        read_json(run_dir / PID_FILE, MAX_SMALL_BYTES)
    )


def live_owner(run_dir: Path) -> psutil.Process | None:
    """The process that owns the run right now, verified; None if nobody does.

    Verified means: the lock is held, by the very pid the owner record names (where the
    kernel says who holds it), the record is from this host, and the process with that pid
    started at the recorded time (so a reused pid is never mistaken for the owner).
    """
    lock = run_dir / LOCK_FILE
    found = filelocks.holders(lock)
    holder = next((h.pid for h in found if h.exclusive), None) if found is not None else None
    if (found is not None and holder is None) or (found is None and not filelocks.probe_locked(lock)):
        return None
    owner = read_owner(run_dir)
    if owner is None or owner.host != socket.gethostname() or (holder is not None and holder != owner.pid):
        return None
    try:
        proc = psutil.Process(owner.pid)
        if abs(proc.create_time() - owner.create_time) > 0.01 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return proc


def list_runs(runs_root: Path) -> list[Path]:
    """Run directories under `runs_root`, oldest first by creation time (never by name: see created_key)."""
    if not runs_root.is_dir():
        return []
    try:
        entries = list(runs_root.iterdir())
    except PermissionError:
        raise RunStateError(f"cannot list the runs folder {runs_root}: permission denied") from None
    return sorted((p for p in entries if _is_dir(p) and (is_run_dir(p) or is_unreadable(p))), key=created_key)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def created_key(run_dir: Path) -> tuple[float, float, str]:
    """(created, config.yaml's mtime, name): state.json's `created_at` where it has one, else the mtime.

    config.yaml is written once when the run starts, so its mtime stands in for a missing or
    unreadable `created_at`; it also orders two runs created in the same second.
    """
    try:
        frozen = (run_dir / CONFIG_FILE).stat().st_mtime
    except OSError:
        frozen = 0.0
    if is_unreadable(run_dir):
        return (frozen, frozen, run_dir.name)
    state = peek_json(run_dir / STATE_FILE) or {}
    created = state.get("created_at")
    try:
        when = dt.datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        when = None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return (when.timestamp() if when is not None else frozen, frozen, run_dir.name)
