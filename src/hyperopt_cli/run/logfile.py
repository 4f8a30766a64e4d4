"""The run's plain-text log (run.log), attached to the package logger while a process works on the run."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from hyperopt_cli.core.atomic import UnsafeFileError, open_append
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir

log = logging.getLogger("hyperopt_cli")


@contextlib.contextmanager
def attached_log(run_dir: Path) -> Iterator[logging.Handler]:
    """Append the package's log lines to `<run_dir>/run.log` until the block ends.

    Opened without following a symlink and only as a regular file: a `run.log` linked elsewhere
    is refused (RunStateError), never appended to.
    """
    path = Path(run_dir) / rundir.LOG_FILE
    try:
        fd = open_append(path)
    except UnsafeFileError as exc:
        raise RunStateError(str(exc)) from None
    stream = open(fd, "a", encoding="utf-8")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        handler.close()
        stream.close()
