"""The exception hierarchy and the exit code each error maps to.

Every expected failure is a ``HyperoptError``; the CLI prints ``Error: <message>`` and
exits with ``exit_code``. Anything else is a bug and shows a traceback with ``--debug``.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2  # Typer/Click's own code for bad command-line usage
EXIT_CONFIG = 3
EXIT_DATA = 4
EXIT_LOCKED = 5
EXIT_RUN_STATE = 6
EXIT_NOTHING_RUNNING = 7
EXIT_TRAINING = 8
EXIT_STORAGE_FULL = 9  # the disk (or quota, or file size limit) is full; free space, then resume
EXIT_STOPPED = 130  # stopped by SIGINT/SIGTERM/`hyperopt stop`; the run is paused and resumable


class HyperoptError(Exception):
    """Base class of every expected error; ``exit_code`` is what the CLI exits with."""

    exit_code = EXIT_UNEXPECTED


class ConfigError(HyperoptError):
    """The YAML config or a ``--set`` override is invalid (unknown key, wrong type, out of range)."""

    exit_code = EXIT_CONFIG


class DataError(HyperoptError):
    """The OHLCV file cannot be read or breaks a validation rule."""

    exit_code = EXIT_DATA


class NoFeaturesError(DataError):
    """The chosen feature families leave the model no input column (all switched off, or all constant on the data)."""


class RunLockedError(HyperoptError):
    """Another live process owns the run directory (its OS file lock is held)."""

    exit_code = EXIT_LOCKED


class RunStateError(HyperoptError):
    """The run directory is missing, not a run, finished already, or its config changed."""

    exit_code = EXIT_RUN_STATE


class NothingRunningError(HyperoptError):
    """``hyperopt stop`` found no live process owning the run(s) it was pointed at."""

    exit_code = EXIT_NOTHING_RUNNING


class TrainingError(HyperoptError):
    """Training failed in a way that ends the trial, e.g. a NaN/inf loss."""

    exit_code = EXIT_TRAINING


class DivergedError(TrainingError):
    """The training loss became NaN or infinite; the trial is recorded as FAIL."""


class StopRequested(HyperoptError):
    """A graceful stop was requested; the run was checkpointed and paused."""

    exit_code = EXIT_STOPPED


class StorageFullError(HyperoptError):
    """A write failed for lack of space (disk, quota, file size limit); files written so far stay consistent."""

    exit_code = EXIT_STORAGE_FULL


_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_FULL_TEXT = "database or disk is full"  # SQLite's SQLITE_FULL, wrapped by sqlalchemy and optuna


RESUME_AFTER_FULL = "then resume the run"  # what a run's own commands say after "free some space"
RETRY_AFTER_FULL = "then run the command again"  # what every other command says (predict, status, ...)


def storage_full(exc: BaseException, then: str = RESUME_AFTER_FULL) -> StorageFullError | None:
    """The StorageFullError `exc` (or an exception it was raised from) amounts to, or None.

    `then`: what to do once space is freed; a command that runs no search says to run it again.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            what = f"cannot write {current.filename}" if current.filename else "a write failed"
            return StorageFullError(
                f"{what}: {current.strerror}; free some space (or raise the quota or file size limit), {then}"
            )
        if _FULL_TEXT in str(current):
            return StorageFullError(f"a study database could not be written: {_FULL_TEXT}; free some space, {then}")
        current = current.__cause__ or current.__context__
    return None
