"""Where the studies live: per-group SQLite files (default), journal files, or one database server.

`storage_url` in the config picks:
- null: one SQLite file per group in the run directory, `<study_name>_<group>.db`;
- "journal": one Optuna journal file per group, `<study_name>_<group>.journal`, safe for
  several local worker processes writing at once;
- a database URL (`postgresql://user@host/db`, `mysql+pymysql://...`): every group's study in
  that database under the same study names; `${VAR}` in the URL is read from the
  environment at use time, so a password need not be written into config.yaml.

Run-level coordination (worker heartbeats, the stop flag) lives in one more study,
`<study_name>_control`, in the same kind of storage.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.errors import ConfigError

CONTROL = "control"
JOURNAL = "journal"
SQLITE_TIMEOUT_S = 60  # a reader (dashboard, report) must never make the run fail with "database is locked"

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PASSWORD = re.compile(r"(?P<head>[a-zA-Z0-9+.\-]+://[^:/@]+:)(?P<pw>[^@]*)(?P<tail>@)")
_cache: dict[str, BaseStorage] = {}


def mask_url(url: str | None) -> str | None:
    """The URL with any password replaced by ***, for logs, state.json and displays."""
    if url is None:
        return None
    return _PASSWORD.sub(lambda m: f"{m.group('head')}***{m.group('tail')}", url)


def expand_env(url: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"storage_url uses ${{{name}}}, but the environment variable {name} is not set")
        return os.environ[name]

    return _ENV.sub(value, url)


def is_shared_database(cfg: OptimizationConfig) -> bool:
    return cfg.storage_url not in (None, JOURNAL)


def study_file(cfg: OptimizationConfig, run_dir: Path, group: str) -> Path | None:
    """The file a group's study lives in, or None when it lives in a database server."""
    if cfg.storage_url is None:
        return run_dir / f"{cfg.study_name}_{group}.db"
    if cfg.storage_url == JOURNAL:
        return run_dir / f"{cfg.study_name}_{group}.journal"
    return None


def storage_for(cfg: OptimizationConfig, run_dir: Path, group: str) -> BaseStorage:
    """The (cached, one per process) storage object holding `group`'s study."""
    path = study_file(cfg, run_dir, group)
    if path is not None and cfg.storage_url is None:
        key = f"sqlite:///{path.resolve()}"
    elif path is not None:
        key = f"journal:{path.resolve()}"
    else:
        key = expand_env(str(cfg.storage_url))
    if key not in _cache:
        _cache[key] = _open(key)
    return _cache[key]


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
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot open storage {mask_url(key)}: {mask_url(first)}") from None


def study_exists(cfg: OptimizationConfig, run_dir: Path, group: str) -> bool:
    path = study_file(cfg, run_dir, group)
    if path is not None:
        return path.exists()
    name = f"{cfg.study_name}_{group}"
    return name in optuna.get_all_study_names(storage_for(cfg, run_dir, group))


def load_study(cfg: OptimizationConfig, run_dir: Path, group: str) -> optuna.Study:
    return optuna.load_study(study_name=f"{cfg.study_name}_{group}", storage=storage_for(cfg, run_dir, group))


def control_study(cfg: OptimizationConfig, run_dir: Path) -> optuna.Study:
    """The run's coordination study (heartbeats, stop flag); created on first use."""
    return optuna.create_study(
        study_name=f"{cfg.study_name}_{CONTROL}", storage=storage_for(cfg, run_dir, CONTROL), load_if_exists=True
    )
