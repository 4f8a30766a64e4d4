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
from hyperopt_cli.core.errors import ConfigError, RunStateError, storage_full
from hyperopt_cli.core.storage_kind import mask_url

__all__ = ["CONTROL", "RunStorage", "mask_url", "readonly_storage", "trial_handle", "same_trial"]

CONTROL = "control"
SQLITE_TIMEOUT_S = 60  # a reader (dashboard, report) must never make the run fail with "database is locked"
_SUFFIX = {storage_kind.SQLITE_FILES: ".db", storage_kind.JOURNAL_FILES: ".journal"}

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
        return optuna.create_study(study_name=self.study_name(CONTROL), storage=self.storage(CONTROL),
                                   load_if_exists=True)


def _first_line(exc: BaseException) -> str:
    """An exception's message on one line, without a URL's password (sqlalchemy appends SQL and links)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return mask_url(text[:300]) or ""


def _open(key: str) -> BaseStorage:
    if key.startswith("journal:"):
        path = key[len("journal:"):]
        return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
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
            raise RunStateError(f"cannot open the study database {_sqlite_path(key)}: {_first_line(exc)}{advice}") \
                from None
        raise ConfigError(f"cannot open storage {mask_url(key)}: {_first_line(exc)}") from None


def _sqlite_path(key: str) -> str:
    """The file of a sqlite:/// URL ('' for an in-memory one)."""
    return key.split(":///", 1)[1].split("?", 1)[0] if ":///" in key else ""


def readonly_storage(db: Path) -> RDBStorage:
    """A SQLite study file opened read-only, waiting as long as the owner would for a lock.

    Read-only means this reader can never create tables in a file the owner is still
    setting up; the long timeout means a busy machine makes it wait, not fail.
    """
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
