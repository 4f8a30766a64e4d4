"""What `storage_url` means, without opening anything (no optuna import: config.py and status use it).

The only module that knows the storage-kind strings:
- "journal": one Optuna journal file per group, safe for several local writers (what
  `start` gives a run whose config leaves storage_url unset);
- "sqlite", or null in a run's frozen config: one SQLite file per group in the run
  directory (one writer at a time; runs started before journal files were the default);
- anything else: a database URL shared by every group (and possibly by other runs).
"""

from __future__ import annotations

import re

JOURNAL = "journal"  # the storage_url value that picks journal files
SQLITE = "sqlite"  # the storage_url value that picks SQLite files (as null does in an existing run)
SQLITE_FILES = "sqlite files"
JOURNAL_FILES = "journal files"
DATABASE = "database"

_PASSWORD = re.compile(r"(?P<head>[a-zA-Z0-9+.\-]+://[^:/@\s]+:)(?P<pw>[^@\s]*)(?P<tail>@)")
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)  # query names to hide
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&][A-Za-z_]*(?:pass|pwd|secret|token|key|auth|credential)[A-Za-z_]*)=[^&\s]*", re.IGNORECASE
)


def kind_of(url: str | None) -> str:
    """SQLITE_FILES, JOURNAL_FILES or DATABASE."""
    if url is None or url == SQLITE:
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
    """The URL with its password, and any secret query parameter, replaced by ***.

    For logs, state.json, status and error messages. A database URL is parsed and rendered
    by SQLAlchemy (which knows every dialect's URL shape); SQLAlchemy hides only the
    userinfo password, so query parameters such as `?password=` are masked here. Text
    that is not a URL (an error message quoting one) falls back to a pattern.
    """
    if url is None:
        return None
    if url in (JOURNAL, SQLITE):  # the common cases; spares every run that uses them SQLAlchemy's import (0.2 s)
        return url
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # not a URL by itself: mask any URL inside the text
        return _mask_in_text(url)
    secret = {k: "***" for k in parsed.query if _SECRET_KEY.search(k)}
    if not secret and parsed.password is None:
        return url
    return parsed.update_query_dict(secret).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def _mask_in_text(text: str) -> str:
    text = _PASSWORD.sub(lambda m: f"{m.group('head')}***{m.group('tail')}", text)
    return _SECRET_QUERY.sub(lambda m: f"{m.group('key')}=***", text)


def describe(url: str | None) -> str:
    """How state.json and status name the storage: "sqlite files", "journal" or the masked URL."""
    return SQLITE_FILES if kind_of(url) == SQLITE_FILES else str(mask_url(url))
