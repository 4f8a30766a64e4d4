"""The files and folders a command writes to (--out, --config, --export): checked before anything is written.

An atomic write renames its temp file over the target, so a target that is a device node,
a FIFO or a directory would be replaced by a YAML or CSV file (as root, `export --config
/dev/full --force` replaced /dev/full). An existing target must be a regular file, or a
directory where a folder is expected; anything else, and a write the OS refuses (a folder
in /proc, no permission), is one `Error:` line with exit 2 (the command line named it).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from hyperopt_cli.cli.app import CommandFailed
from hyperopt_cli.core.atomic import kind_of
from hyperopt_cli.core.errors import EXIT_USAGE, storage_full


def check_target(path: Path, option: str, folder: bool = False) -> None:
    """Refuse an existing `path` that is not a regular file (a directory where `folder`), or an unusable parent."""
    want = "a directory" if folder else "a regular file"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise CommandFailed(f"{option} {path}: {exc.strerror or exc}", EXIT_USAGE) from None
    if info is not None:
        ok = stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)
        if not ok:
            hint = (
                "; give a folder"
                if folder
                else (
                    "; give a file name inside it"
                    if stat.S_ISDIR(info.st_mode)
                    else "; give the path of a regular file"
                )
            )
            raise CommandFailed(f"{option} {path} is {kind_of(info.st_mode)}, not {want}{hint}", EXIT_USAGE)
        return
    parent = Path(os.path.abspath(path)).parent
    if parent.exists() and not parent.is_dir():
        raise CommandFailed(f"{option} {path}: {parent} is not a directory", EXIT_USAGE)


@contextlib.contextmanager
def writing_to(path: Path, option: str) -> Iterator[None]:
    """An OSError while writing `path` (or inside it, for a folder) becomes one Error line naming the option."""
    try:
        yield
    except OSError as exc:
        if storage_full(exc) is not None:
            raise
        target = os.path.abspath(path)
        name = os.path.abspath(str(exc.filename)) if exc.filename else ""
        if exc.filename and not (
            name == target
            or name.startswith(target.rstrip("/") + "/")
            or os.path.dirname(name) == os.path.dirname(target)
        ):
            raise  # not about the target: not this helper's to explain
        raise CommandFailed(f"cannot write {option} {path}: {exc.strerror or exc}", EXIT_USAGE) from None
