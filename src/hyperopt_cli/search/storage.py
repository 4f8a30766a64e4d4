"""Where the studies live: per-group journal files (what `start` picks), SQLite files, or one database server.

`storage_url` in the config picks (see storage_kind for the strings):
- "journal": one Optuna journal file per group, `<study_name>_<group>.journal`, safe for
  several local worker processes writing at once;
- "sqlite", or null in a run's config: one SQLite file per group in the run directory,
  `<study_name>_<group>.db`;
- a database URL (`postgresql://user@host/db`, `mysql+pymysql://...`): every group's study in
  that database under the same study names; `${VAR}` in the URL is read from the
  environment at use time, so a password need not be written into config.yaml.

Run-level coordination (worker heartbeats, the stop flag) lives in one more study,
`<study_name>_control`, in the same kind of storage. `RunStorage(cfg, run_dir)` answers
every question about a run's storage; `load_study` and `control_study` are its shorthands.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import FrozenTrial

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.core import storage_kind
from hyperopt_cli.core.atomic import UnsafeFileError, check_regular, fsync_dir
from hyperopt_cli.core.errors import ConfigError, RunStateError, storage_full
from hyperopt_cli.core.storage_kind import mask_url

__all__ = [
    "CONTROL",
    "RunStorage",
    "JournalScan",
    "drop_torn_tail",
    "mask_url",
    "readonly_storage",
    "scan_journal",
    "trial_handle",
    "same_trial",
]

CONTROL = "control"
SQLITE_TIMEOUT_S = 60  # a reader (dashboard, report) must never make the run fail with "database is locked"
_SUFFIX = {storage_kind.SQLITE_FILES: ".db", storage_kind.JOURNAL_FILES: ".journal"}

MAX_JOURNAL_BYTES = 512 << 20  # 10,000 trials of 100 epochs write ~100 MB; beyond this it is not a journal of a run
_OP_CODES = range(0, 11)  # optuna's JournalOperation: CREATE_STUDY (0) .. DISCARD_TRIALS (10)
_CORRUPT = re.compile(r"not a database|malformed|corrupt", re.IGNORECASE)  # SQLite's words for a damaged file
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_cache: dict[str, BaseStorage] = {}

# Every study of a run is opened here: Optuna's INFO lines ("Using an existing study ...") must not reach the terminal
optuna.logging.set_verbosity(optuna.logging.WARNING)


def expand_env(url: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"storage_url uses ${{{name}}}, but the environment variable {name} is not set")
        return os.environ[name]

    return _ENV.sub(value, url)


@dataclass(frozen=True)
class RunStorage:
    """The storage of one run's studies, from its config and run directory."""

    cfg: OptimizationConfig
    run_dir: Path

    @property
    def kind(self) -> str:
        return storage_kind.kind_of(self.cfg.storage_url)

    @property
    def file_per_group(self) -> bool:
        return storage_kind.file_per_group(self.cfg.storage_url)

    @property
    def several_writers(self) -> bool:
        return storage_kind.several_writers(self.cfg.storage_url)

    @property
    def is_shared_database(self) -> bool:
        return storage_kind.is_shared_database(self.cfg.storage_url)

    @property
    def masked_url(self) -> str | None:
        return mask_url(self.cfg.storage_url)

    def study_name(self, group: str) -> str:
        return f"{self.cfg.study_name}_{group}"

    def study_file(self, group: str) -> Path | None:
        """The file a group's study lives in, or None when it lives in a database server."""
        suffix = _SUFFIX.get(self.kind)
        return self.run_dir / f"{self.study_name(group)}{suffix}" if suffix else None

    def storage(self, group: str) -> BaseStorage:
        """The (cached, one per process) storage object holding `group`'s study."""
        path = self.study_file(group)
        if path is not None:
            check_study_file(path)  # before resolve() would follow a symlink out of the run
        if self.kind == storage_kind.SQLITE_FILES:
            key = f"sqlite:///{path.resolve()}"  # type: ignore[union-attr]
        elif path is not None:
            key = f"journal:{path.resolve()}"
        else:
            key = expand_env(str(self.cfg.storage_url))
        if key not in _cache:
            _cache[key] = _open(key)
        return _cache[key]

    def study_exists(self, group: str) -> bool:
        path = self.study_file(group)
        if path is not None:
            return path.exists()
        return self.study_name(group) in optuna.get_all_study_names(self.storage(group))

    def load_study(self, group: str) -> optuna.Study:
        return optuna.load_study(study_name=self.study_name(group), storage=self.storage(group))

    def open_readonly(self, group: str) -> optuna.Study | None:
        """The group's study for a reader that must never write to, or block, the run; None if absent.

        SQLite files are opened with mode=ro. A study file the owner created a moment ago
        may still lack its tables or study: that reads as "not started", after one retry.
        """
        for attempt in (1, 2):
            try:
                if self.kind != storage_kind.SQLITE_FILES:
                    return self.load_study(group) if self.study_exists(group) else None
                db = self.study_file(group)
                if db is None or not db.is_file() or db.stat().st_size == 0:  # empty: created, no study yet
                    return None
                return optuna.load_study(study_name=self.study_name(group), storage=readonly_storage(db))
            except KeyError:  # the file exists but the owner has not created the study in it yet
                return None
            except RunStateError:  # a damaged or unsafe study file: already one line naming it
                raise
            except Exception as exc:  # tables or schema version not written yet (or a real problem: raised on retry)
                if attempt == 2:
                    where = self.study_file(group) or self.masked_url
                    raise RunStateError(
                        f"cannot read the study of group {group} in {where}: {_first_line(exc)}; "
                        "restore it from a backup (readers never create or repair a study)"
                    ) from None
                time.sleep(1.0)
        return None

    def dashboard_url(self, group: str) -> str | None:
        """What to give optuna-dashboard for a group's study file (it reads journal files by path); None for a database."""
        path = self.study_file(group)
        if path is None:
            return None
        return f"sqlite:///{path.resolve()}" if self.kind == storage_kind.SQLITE_FILES else str(path.resolve())

    def control_study(self) -> optuna.Study:
        """The run's coordination study (heartbeats, stop flag); created on first use."""
        return optuna.create_study(
            study_name=self.study_name(CONTROL), storage=self.storage(CONTROL), load_if_exists=True
        )


# ---------------------------------------------------------------------- study files


@dataclass(frozen=True)
class JournalScan:
    """What `scan_journal` found: the good records, and a torn last line (what a power cut leaves) if any."""

    records: int
    good_bytes: int  # the file's bytes up to the end of the last good record
    torn_bytes: int  # bytes after it: a last line that is not a whole record (0: none)


def _damaged(path: Path, line: int, records: int, why: str) -> RunStateError:
    how = (
        f"to keep the {records} records before it, cut the file there (head -n {line - 1} FILE > kept; "
        "mv kept FILE) and resume"
        if records
        else "restore it from a backup, or start a new run"
    )
    return RunStateError(f"study file {path} is damaged at line {line} ({why}); {how}; see docs/storage.md")


def scan_journal(path: Path) -> JournalScan:
    """Check every line of an Optuna journal file: a JSON record with a known op code.

    A last line that is not a whole record is torn (a power cut mid-append): reported, not
    raised, so the owner can drop it (`drop_torn_tail`) and readers ignore it (Optuna does).
    Any other damage is RunStateError naming the file and line and how to keep what precedes it.
    """
    check_study_file(path)
    records = good = 0
    try:
        size = path.stat().st_size
        if size > MAX_JOURNAL_BYTES:
            raise RunStateError(
                f"study file {path} is larger than {MAX_JOURNAL_BYTES:,} bytes, more than a run "
                "writes; restore it from a backup"
            )
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                why = _record_problem(line)
                if why is not None:
                    if not line.endswith(b"\n") and records > 0:  # the last line, cut off mid-append
                        return JournalScan(records, good, len(line))
                    raise _damaged(path, number, records, why)
                records += 1
                good += len(line)
    except FileNotFoundError:  # Optuna creates it on open
        return JournalScan(0, 0, 0)
    except OSError as exc:
        raise RunStateError(f"cannot read study file {path}: {exc.strerror or exc}") from None
    return JournalScan(records, good, 0)


def _record_problem(line: bytes) -> str | None:
    """Why `line` is not one whole journal record, or None."""
    if not line.endswith(b"\n"):
        return "the line is cut off (no line end)"
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return "not a JSON record"
    if not isinstance(record, dict):
        return "not a JSON object"
    op = record.get("op_code")
    if not isinstance(op, int) or isinstance(op, bool) or op not in _OP_CODES:
        return "no known op_code"
    return None


def drop_torn_tail(path: Path) -> int:
    """Cut a torn last line off the journal at `path` (the owner does this before writing); the bytes dropped."""
    scan = scan_journal(path)
    if not scan.torn_bytes:
        return 0
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.ftruncate(fd, scan.good_bytes)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return scan.torn_bytes


def check_study_file(path: Path) -> None:
    """RunStateError unless a study file is absent or a regular file reached without a symlink."""
    try:
        check_regular(path, "study file")
    except UnsafeFileError as exc:
        raise RunStateError(str(exc)) from None


def _first_line(exc: BaseException) -> str:
    """An exception's message on one line, without a URL's password (sqlalchemy appends SQL and links)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return mask_url(text[:300]) or ""


def _open(key: str) -> BaseStorage:
    if key.startswith("journal:"):
        path = key[len("journal:") :]
        scan_journal(Path(path))  # damage is one RunStateError line, never Optuna's JSONDecodeError or assert
        try:
            return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
        except Exception as exc:  # records that parse but do not replay (a trial of no study, a bad state)
            raise RunStateError(
                f"study file {path} holds records Optuna cannot replay ({_first_line(exc)}); "
                "restore it from a backup (docs/storage.md)"
            ) from None
    if key.startswith("sqlite:///"):
        check_study_file(Path(_sqlite_path(key)))
    kwargs: dict[str, Any] = {}
    if key.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    else:
        kwargs = {"pool_pre_ping": True}
    try:
        return RDBStorage(key, engine_kwargs=kwargs)
    except (ImportError, ModuleNotFoundError) as exc:
        cause = exc.__cause__ or exc
        raise ConfigError(
            f"storage_url {mask_url(key)} needs a database driver ({cause}); "
            "for PostgreSQL: pip install 'hyperopt-cli[postgres]'"
        ) from None
    except Exception as exc:  # sqlalchemy's OperationalError and friends: name the server, hide the password
        full = storage_full(exc)
        if full is not None:
            raise full from None
        if key.startswith("sqlite") and Path(_sqlite_path(key)).is_file():  # the file is there but unreadable
            advice = "; restore it from a backup" if _CORRUPT.search(str(exc)) else ""
            raise RunStateError(
                f"cannot open the study database {_sqlite_path(key)}: {_first_line(exc)}{advice}"
            ) from None
        raise ConfigError(f"cannot open storage {mask_url(key)}: {_first_line(exc)}") from None


def _sqlite_path(key: str) -> str:
    """The file of a sqlite:/// URL ('' for an in-memory one)."""
    return key.split(":///", 1)[1].split("?", 1)[0] if ":///" in key else ""


def readonly_storage(db: Path) -> RDBStorage:
    """A SQLite study file opened read-only, waiting as long as the owner would for a lock.

    Read-only means this reader can never create tables in a file the owner is still
    setting up; the long timeout means a busy machine makes it wait, not fail.
    """
    check_study_file(db)
    url = f"sqlite:///file:{urllib.parse.quote(str(db.resolve()))}?mode=ro&uri=true"
    return RDBStorage(url, engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}})


# ---------------------------------------------------------------------- Optuna's private trial id


def trial_handle(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """A live `Trial` for a stored one (e.g. RUNNING, left by another process): report, set attrs, prune."""
    return optuna.trial.Trial(study, frozen._trial_id)


def same_trial(a: FrozenTrial, b: FrozenTrial) -> bool:
    """Whether two snapshots are the same stored trial (numbers repeat across studies; ids do not)."""
    return a._trial_id == b._trial_id


# ---------------------------------------------------------------------- shorthands


def load_study(cfg: OptimizationConfig, run_dir: Path, group: str) -> optuna.Study:
    return RunStorage(cfg, run_dir).load_study(group)


def control_study(cfg: OptimizationConfig, run_dir: Path) -> optuna.Study:
    return RunStorage(cfg, run_dir).control_study()
