"""Who holds an OS file lock (``flock``) on a file, as the kernel says, without taking one.

On Linux ``/proc/locks`` lists every lock with the pid that took it and the file's device
and inode. Reading it proves who owns a run: a pidfile can name any process, but only the
process that really holds the lock appears there. Probing with a shared ``flock`` instead
would itself be a lock, one that makes a concurrent ``resume`` see the run as taken.
Where the kernel does not say (not Linux), `holders` returns None and callers fall back
to a probe.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

PROC_LOCKS = Path("/proc/locks")


@dataclass(frozen=True)
class Holder:
    pid: int
    exclusive: bool  # WRITE (LOCK_EX) rather than READ (LOCK_SH)


def _file_id(path: Path) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"


def holders(path: Path) -> list[Holder] | None:
    """The processes holding a flock on `path` now; [] if none or the file is absent; None if unknown."""
    try:
        table = PROC_LOCKS.read_text()
    except OSError:
        return None
    wanted = _file_id(path)
    if wanted is None:
        return []
    found = []
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5466111 0 EOF"; waiters have "->" after the number
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[5] != wanted:
            continue
        try:
            found.append(Holder(int(fields[4]), fields[3] == "WRITE"))
        except ValueError:
            continue
    return found


def exclusive_holder(path: Path) -> int | None:
    """The pid holding an exclusive flock on `path`, or None (also where the kernel does not say)."""
    found = holders(path)
    return next((h.pid for h in found if h.exclusive), None) if found else None


def probe_locked(path: Path) -> bool:
    """Fallback where /proc/locks is missing: a non-blocking shared flock, released at once."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not hang it
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """Whether some process holds an exclusive flock on `path`."""
    found = holders(path)
    if found is None:
        return probe_locked(path)
    return any(h.exclusive for h in found)
