"""The structured error a `hyperopt` process leaves for the process that started it.

The server starts runs as `hyperopt start`/`resume` child processes. Instead of parsing
their log, it names a file in HYPEROPT_ERROR_FILE; a child that ends on an error writes
`{"error": message, "exit_code": code}` there, atomically, and the server reads it back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hyperopt_cli.core.atomic import atomic_write_json

ERROR_FILE_ENV = "HYPEROPT_ERROR_FILE"


@dataclass(frozen=True)
class ChildError:
    """Why a child process failed: the message of its `Error:` line and its exit code."""

    message: str
    exit_code: int


def claim_error_file() -> Path | None:
    """The path HYPEROPT_ERROR_FILE names, taken out of the environment.

    Taken out so that the processes this one starts (local workers) do not inherit it and
    overwrite the error of the process the parent is waiting on.
    """
    target = os.environ.pop(ERROR_FILE_ENV, None)
    return Path(target) if target else None


def write_error_file(path: Path | None, message: str, exit_code: int) -> None:
    """Leave the error in `path` (None: nobody asked); never fails the exit itself."""
    if path is None:
        return
    try:
        atomic_write_json(path, {"error": message, "exit_code": exit_code})
    except OSError:
        pass  # the exit code still tells the parent that it failed


def read_error_file(path: Path) -> ChildError | None:
    """The error a child left in `path`, or None when it left none (or an unreadable one)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("error"), str) or not isinstance(raw.get("exit_code"), int):
        return None
    return ChildError(raw["error"], raw["exit_code"])
