"""Atomic file writes, and guarded opens of the files a run reads and appends to.

Writes: a reader never sees half a file, a crash never corrupts the old one.
Opens (`read_bounded`, `open_append`): only a regular file, never through a symlink in the
last path component (O_NOFOLLOW), opened non-blocking so that a FIFO put in a file's place
cannot hang the process, and a read is capped, so a 100 MB state.json is refused, not parsed.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call `write(fileobj)` on a temp file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable (best effort: some file systems refuse)."""
    _fsync_dir(Path(folder))


class UnsafeFileError(OSError):
    """A file a run reads or appends to is a symlink, not a regular file, or larger than its cap."""

    def __str__(self) -> str:
        return str(self.strerror)


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_GUARDED = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def kind_of(mode: int) -> str:
    """What a file of `mode` is, in words ("a FIFO"); "a regular file" for one."""
    return next(
        (name for test, name in _KINDS if test(mode)), "a regular file" if stat.S_ISREG(mode) else "a special file"
    )


def open_guarded(path: Path, flags: int, mode: int = 0o644) -> int:
    """An fd of `path` opened with `flags`, refused unless it is a regular file reached without a final symlink."""
    try:
        fd = os.open(path, flags | _GUARDED, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(
                errno.ELOOP,
                f"{path} is a symbolic link; a run's files are never followed "
                "through one (replace it with the file itself)",
                str(path),
            ) from None
        if exc.errno == errno.EISDIR:
            raise UnsafeFileError(errno.EISDIR, f"{path} is a directory, not a file", str(path)) from None
        if exc.errno == errno.ENXIO:  # a FIFO opened for writing with no reader
            raise UnsafeFileError(errno.ENXIO, f"{path} is a FIFO, not a regular file", str(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(
                errno.EINVAL, f"{path} is {kind_of(info.st_mode)}, not a regular file; remove it", str(path)
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` (UnsafeFileError beyond, or for a non-file).

    FileNotFoundError and other OSErrors (permission) pass through as they are.
    """
    fd = open_guarded(Path(path), os.O_RDONLY)
    try:
        if os.fstat(fd).st_size > max_bytes:
            raise UnsafeFileError(
                errno.EMSGSIZE,
                f"{path} is larger than {max_bytes:,} bytes, more than this file ever holds; restore it, or remove it",
                str(path),
            )
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # grew while read
                raise UnsafeFileError(errno.EMSGSIZE, f"{path} is larger than {max_bytes:,} bytes", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def open_append(path: Path, mode: int = 0o644) -> int:
    """An fd appending to the regular file `path` (created if absent), never through a symlink or into a FIFO."""
    return open_guarded(Path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)


def check_regular(path: Path, what: str = "file") -> None:
    """UnsafeFileError unless `path` is absent or a regular file that is not a symlink (lstat: nothing opened)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFileError(
            errno.ELOOP,
            f"{what} {path} is a symbolic link; a run's files are never followed "
            "through one (replace it with the file itself)",
            str(path),
        )
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(errno.EINVAL, f"{what} {path} is {kind_of(info.st_mode)}, not a regular file", str(path))
