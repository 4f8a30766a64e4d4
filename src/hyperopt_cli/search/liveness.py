"""Whether a worker is alive, without importing optuna (so `hyperopt status` stays fast)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import psutil

HEARTBEAT_PREFIX = "worker:"


@dataclass(frozen=True)
class WorkerId:
    host: str
    pid: int
    create_time: float

    @property
    def key(self) -> str:
        return f"{self.host}:{self.pid}:{self.create_time:.2f}"

    @classmethod
    def parse(cls, key: str) -> WorkerId | None:
        try:
            host, pid, created = key.rsplit(":", 2)
            return cls(host, int(pid), float(created))
        except ValueError:
            return None


def this_worker() -> WorkerId:
    me = psutil.Process()
    return WorkerId(socket.gethostname(), me.pid, round(me.create_time(), 2))


def local_process_alive(worker: WorkerId) -> bool:
    try:
        proc = psutil.Process(worker.pid)
        return abs(proc.create_time() - worker.create_time) < 0.02 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def is_alive(key: str, heartbeats: dict[str, Any], timeout_s: float, now: float | None = None) -> bool:
    worker = WorkerId.parse(key)
    if worker is None:
        return False
    if worker.host == socket.gethostname():
        return local_process_alive(worker)
    beat = heartbeats.get(HEARTBEAT_PREFIX + key) or {}
    return (now or time.time()) - float(beat.get("heartbeat", 0.0)) < timeout_s


ALIVE, EXITED, DEAD = "alive", "exited", "DEAD"  # a worker row's `state`: running, left cleanly, vanished


def worker_state(
    key: str, beat: dict[str, Any], heartbeats: dict[str, Any], timeout_s: float, now: float | None = None
) -> str:
    """ALIVE, EXITED (its last heartbeat says it left: paused, stopped or done) or DEAD (killed, crashed, lost)."""
    if is_alive(key, heartbeats, timeout_s, now):
        return ALIVE
    return EXITED if beat.get("exited") else DEAD


def latest_session(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The rows of the latest owner's session, and any live worker: earlier sessions' rows are history.

    Every start or resume makes a new owner row (a new pid), so without this the rows of every
    earlier session pile up in `status`. Workers join a running owner, so they start after it.
    """
    owners = [float(r.get("started", 0.0)) for r in rows.values() if r.get("role") == "owner"]
    if not owners:
        return rows
    since = max(owners)
    return {
        k: r
        for k, r in rows.items()
        if r.get("state") == ALIVE or r.get("alive") or float(r.get("started", 0.0)) >= since
    }
