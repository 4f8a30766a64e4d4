"""Which run a command means: a run directory, a job id under the runs folder, or nothing (the newest).

Every command that names a run (`resume`, `report`, `worker`, `stop`, `results`, `status`,
`predict`, `export`, `trials`, `show`) goes through `resolve_run`, so they all accept the same
three spellings and answer with an absolute path, which stays unambiguous whatever directory
the user is in. "The newest" is by creation time (state.json `created_at`), never by name:
a run named `goog_sr` is not newer than `20261202_025357` because it sorts after it.
Torch-free: `status` and `stop` use it.
"""

from __future__ import annotations

from pathlib import Path

from hyperopt_cli.core.errors import NothingRunningError, RunStateError
from hyperopt_cli.run import rundir


def absolute(path: Path) -> Path:
    """`path` made absolute (symlinks kept as the user wrote them), for messages and answers."""
    return Path(path).expanduser().absolute()


def resolve_run(name: str | Path | None, runs_dir: Path, *, running: bool = False) -> Path:
    """The absolute run directory `name` means.

    name: a directory (absolute, or relative to the working directory), else a job id, a
    folder under `runs_dir`; None means the latest run under `runs_dir` (with `running`,
    the latest run a live process owns).
    Raises RunStateError when nothing matches (NothingRunningError for `running`).
    """
    runs_dir = absolute(runs_dir)
    if name is None or str(name) == "":
        latest = _latest(runs_dir, running)
        if latest is not None:
            return absolute(latest)
        if running:
            raise NothingRunningError(f"no running run under {runs_dir}")
        raise RunStateError(f"no runs under {runs_dir}")
    given = Path(name).expanduser()
    if given.is_dir():
        return absolute(given)
    if not given.is_absolute() and len(given.parts) == 1 and (runs_dir / given).is_dir():
        return runs_dir / given
    raise RunStateError(
        f"run not found: {str(name)!r} is neither a directory nor a job id under {runs_dir}; "
        "`hyperopt status` lists the runs"
    )


def runs_oldest_first(runs_dir: Path) -> list[Path]:
    """The run directories under `runs_dir`, oldest first by creation time.

    A run folder that is a symlink resolving outside `runs_dir` is left out: it is not this
    folder's run, and must never become "the newest" one.
    """
    root = Path(runs_dir).resolve()
    runs = [p for p in rundir.list_runs(Path(runs_dir)) if not p.is_symlink() or p.resolve().is_relative_to(root)]
    return runs  # rundir.list_runs orders by creation time


def shown(path: Path) -> str:
    """A run directory as messages show it: relative to the working directory when it lies below it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _latest(runs_dir: Path, running: bool) -> Path | None:
    runs = runs_oldest_first(runs_dir)
    if running:
        runs = [p for p in runs if rundir.live_owner(p) is not None]
    return runs[-1] if runs else None


def job_ids(runs_dir: Path, prefix: str = "") -> list[str]:
    """The job ids under `runs_dir` starting with `prefix`, newest first (shell completion of RUN)."""
    return [p.name for p in reversed(runs_oldest_first(runs_dir)) if p.name.startswith(prefix)]
