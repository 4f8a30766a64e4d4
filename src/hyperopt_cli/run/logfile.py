"""The run's plain-text log (run.log), attached to the package logger while a process works on the run."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from hyperopt_cli.run import rundir

log = logging.getLogger("hyperopt_cli")


@contextlib.contextmanager
def attached_log(run_dir: Path) -> Iterator[logging.Handler]:
    """Append the package's log lines to `<run_dir>/run.log` until the block ends."""
    handler = logging.FileHandler(Path(run_dir) / rundir.LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        handler.close()
