"""What `storage_url` means, without opening anything (no optuna import: config.py and status use it).

The only module that knows the storage-kind strings:
- null: one SQLite file per group in the run directory (one writer at a time);
- "journal": one Optuna journal file per group, safe for several local writers;
- anything else: a database URL shared by every group (and possibly by other runs).
"""

from __future__ import annotations

import re

JOURNAL = "journal"  # the storage_url value that picks journal files
SQLITE_FILES = "sqlite files"
JOURNAL_FILES = "journal files"
DATABASE = "database"

_PASSWORD = re.compile(r"(?P<head>[a-zA-Z0-9+.\-]+://[^:/@]+:)(?P<pw>[^@]*)(?P<tail>@)")


def kind_of(url: str | None) -> str:
    """SQLITE_FILES, JOURNAL_FILES or DATABASE."""
    if url is None:
        return SQLITE_FILES
    return JOURNAL_FILES if url == JOURNAL else DATABASE


def file_per_group(url: str | None) -> bool:
    return kind_of(url) != DATABASE


def several_writers(url: str | None) -> bool:
    """Whether several processes may write the studies at once."""
    return kind_of(url) != SQLITE_FILES


def is_shared_database(url: str | None) -> bool:
    return kind_of(url) == DATABASE


def mask_url(url: str | None) -> str | None:
    """The URL with any password replaced by ***, for logs, state.json and displays."""
    if url is None:
        return None
    return _PASSWORD.sub(lambda m: f"{m.group('head')}***{m.group('tail')}", url)


def describe(url: str | None) -> str:
    """How state.json and status name the storage: the masked URL, or "sqlite files"."""
    return mask_url(url) or SQLITE_FILES
