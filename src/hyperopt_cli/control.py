"""What the CLI commands do, as plain functions: start, resume, stop, status, results.

Everything here is callable and testable without the CLI; the CLI only parses and renders.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperopt_cli.config import (
    OptimizationConfig,
    apply_overrides,
    config_from_dict,
    read_yaml,
)
from hyperopt_cli.core import storage_kind
from hyperopt_cli.core.errors import HyperoptError, NothingRunningError, RunLockedError, RunStateError
from hyperopt_cli.data.sources import frozen_data_path
from hyperopt_cli.run import rundir
from hyperopt_cli.run.parallel import apply_parallel_choice, choose_parallel, usable_cores
from hyperopt_cli.run.records import load_run_config
from hyperopt_cli.run.state_record import EMPTY, read_run_state
from hyperopt_cli.run.status import results_of as results_of  # `status`, `results`
from hyperopt_cli.run.status import run_status as run_status

DEFAULT_CONFIG = Path("configs/default.yaml")
OWNER_ONLY = 0o077  # umask of a run's processes: its files hold every trial's params and the data's path


def owner_only_files() -> int:
    """Make this process (and the workers it spawns) create files 0600 and folders 0700; returns the old umask.

    `start`, `resume` and `worker` call it first, as `serve` does for its children: a run's
    journals, run.log, .lock and worker logs must not be readable by other local users
    whatever the caller's umask.
    """
    return os.umask(OWNER_ONLY)


def resolve_config(
    config_path: Path | None,
    overrides: list[str],
    mode: str | None = None,
    target: str | None = None,
    data_path: Path | Sequence[Path] | None = None,
    n_workers: int | None = None,
    exact: bool = False,
) -> OptimizationConfig:
    """Config file (default configs/default.yaml if present, else built-in defaults) + CLI options.

    The data path is made absolute so the frozen config resumes from any directory; several
    `data_path`s, a folder or a glob become the list of files they name now (data/sources.py).
    An unset storage_url is journal files (which take concurrent writers) before any check,
    so `workers: 2` needs no storage setting. `workers: 0` (auto) becomes the parallel default of
    run/parallel.py (one worker per core x 1 thread), or one worker with `exact`.
    """
    if config_path is None and DEFAULT_CONFIG.is_file():
        config_path = DEFAULT_CONFIG
    raw = read_yaml(config_path) if config_path is not None else {}
    raw = apply_overrides(raw, overrides)
    if mode is not None:
        raw["mode"] = mode
    if target is not None:
        raw["target_group"] = target
        if mode is None:
            raw["mode"] = "group"
    data_section = raw.setdefault("data", {}) if isinstance(raw.get("data", {}), dict) else raw["data"]
    if data_path and isinstance(data_section, dict):
        given = [str(data_path)] if isinstance(data_path, (str, Path)) else [str(p) for p in data_path]
        data_section["path"] = given[0] if len(given) == 1 else given
    spec = data_section.get("path") if isinstance(data_section, dict) else None
    if isinstance(spec, str) or (isinstance(spec, list) and spec and all(isinstance(e, str) and e for e in spec)):
        base = config_path.parent if (config_path is not None and not data_path) else Path.cwd()
        data_section["path"] = frozen_data_path(spec, base)  # other values fail as typed below
    if n_workers is not None:
        raw["workers"] = n_workers
    if raw.get("storage_url") is None:  # a new run's default (choose_parallel writes it in too)
        raw["storage_url"] = storage_kind.JOURNAL
    config_from_dict(raw, origin=str(config_path) if config_path is not None else None)  # bad input fails as typed
    raw = apply_parallel_choice(raw, choose_parallel(raw, usable_cores(), exact))
    raw = _freeze_precision(raw)
    for key in ("checkpoint_dir",):
        if isinstance(raw.get(key), str):
            raw[key] = str(Path(raw[key]).expanduser().resolve())
    if isinstance(raw.get("fine_tune_from"), str):
        raw["fine_tune_from"] = str(Path(raw["fine_tune_from"]).expanduser().resolve())
    return config_from_dict(raw, origin=str(config_path) if config_path is not None else None)


def _freeze_precision(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` with `trainer.precision: auto` replaced by what it resolves to here (fp32 or bf16).

    Like the parallel choice, frozen into config.yaml: a resume on another machine keeps the
    run's arithmetic, and a checkpoint always resumes in the precision it was written in.
    """
    from hyperopt_cli.training.precision import frozen_precision  # torch: only start and serve get here

    given = raw.get("trainer")
    trainer: dict[str, Any] = given if isinstance(given, dict) else {}
    name, device = trainer.get("precision", "auto"), trainer.get("device", "auto")
    if name != "auto" or not isinstance(device, str):
        return raw
    return {**raw, "trainer": {**trainer, "precision": frozen_precision(name, device)}}


def new_run_dir(runs_root: Path, run_dir: Path | None) -> Path:
    """The directory a new run writes to: `run_dir` if given (must be empty or absent), else a fresh job id."""
    if run_dir is None:
        return rundir.create_run_dir(runs_root)
    if run_dir.exists():
        if not run_dir.is_dir():
            raise RunStateError(f"--run-dir {run_dir} exists and is not a directory")
        if rundir.is_run_dir(run_dir):
            status = (read_run_state(run_dir) or EMPTY).status
            if status == "completed":  # `resume` would refuse it: say what can be done with a finished run
                raise RunStateError(
                    f"{run_dir} already holds a completed run; pick a new --run-dir, see its "
                    f"results with: hyperopt results {run_dir}, or give it more trials with: "
                    f"hyperopt resume {run_dir} --more-trials N"
                )
            raise RunStateError(f"{run_dir} already holds a run; continue it with: hyperopt resume {run_dir}")
        if any(run_dir.iterdir()):
            raise RunStateError(f"--run-dir {run_dir} is not empty; pick a new or empty directory")
    else:
        run_dir.mkdir(parents=True)
    return run_dir


# --------------------------------------------------------------------------- status


def latest_running(runs_root: Path) -> Path | None:
    for path in reversed(rundir.list_runs(runs_root)):
        if rundir.live_owner(path) is not None:
            return path
    return None


def latest_run(runs_root: Path) -> Path | None:
    runs = rundir.list_runs(runs_root)
    return runs[-1] if runs else None


# --------------------------------------------------------------------------- stop


@dataclass
class StopOutcome:
    run_dir: Path
    pids: list[int]  # the verified local processes signalled (owner first)
    stopped: bool  # all of them exited within the timeout
    seconds: float
    status: str | None
    flagged: bool = False  # the stop flag was set in the shared storage (workers on other machines)
    flag_error: str | None = None  # why the flag could not be set (the local processes were signalled anyway)

    @property
    def pid(self) -> int | None:
        return self.pids[0] if self.pids else None


def stop_run(run_dir: Path, timeout_s: float = 60.0, poll_s: float = 0.05) -> StopOutcome:
    """SIGTERM the verified owner and local workers of `run_dir`, then flag remote ones, and wait.

    Only processes that hold the run's (or their worker registration's) lock and whose pid
    and start time match their record are signalled. Signalling comes first and needs no
    storage, so a run whose database this shell cannot reach (a `${VAR}` unset here, an
    outage) still stops; the shared stop flag is then set best-effort. With no local
    process, a run that is not running (paused, completed, failed) is NothingRunningError.
    """
    from hyperopt_cli.search import workers

    rundir.check_readable(run_dir)
    processes = [p for p in [rundir.live_owner(run_dir)] if p is not None] + workers.local_workers(run_dir)
    _signal(run_dir, processes)
    flagged, flag_error = _flag_stop(run_dir, local=bool(processes))
    if not processes and not flagged:
        raise NothingRunningError(f"no live process owns {run_dir}; nothing to stop")
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if all(_exited(p) for p in processes):
            state = read_run_state(run_dir, peek=True) or EMPTY
            return StopOutcome(
                run_dir,
                [p.pid for p in processes],
                True,
                time.monotonic() - start,
                state.status,
                flagged,
                flag_error,
            )
        time.sleep(poll_s)
    return StopOutcome(run_dir, [p.pid for p in processes], False, time.monotonic() - start, None, flagged, flag_error)


def _signal(run_dir: Path, processes: list[Any]) -> None:
    """SIGTERM each process; one this user may not signal (another user's run) is a clear error."""
    denied = []
    for proc in processes:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        except PermissionError:
            denied.append(proc)
    if denied:
        who = ", ".join(f"pid {p.pid} (user {_user_of(p)})" for p in denied)
        raise RunLockedError(f"not permitted to signal {who}, which runs {run_dir}; stop it as that user (or as root)")


def _user_of(proc: Any) -> str:
    try:
        return str(proc.username())
    except Exception:  # psutil.AccessDenied and friends: the name is only for the message
        return "unknown"


def _flag_stop(run_dir: Path, local: bool) -> tuple[bool, str | None]:
    """Set the run's shared stop flag where other machines' workers may need it: (flagged, why not).

    After signalling local processes this is best-effort. Without local processes it is the
    only way to stop anything: done only while some worker is alive per its heartbeat, and a
    storage error is then the command's error.
    """
    from hyperopt_cli.search import workers

    cfg = _config_or_none(run_dir)
    if cfg is None or not workers.uses_shared_coordination(cfg):
        return False, None
    if not local:
        state = read_run_state(run_dir) or EMPTY
        if state.status not in (None, "starting", "running") or not storage_kind.is_shared_database(cfg.storage_url):
            return False, None  # paused or finished; or journal files, whose workers are all local
        if not any(info.get("alive") for info in workers.describe_workers(cfg, run_dir).values()):
            return False, None
        workers.request_stop(cfg, run_dir)
        return True, None
    try:
        workers.request_stop(cfg, run_dir)
    except Exception as exc:  # unreachable storage must not undo the stop already signalled
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return False, first[:200]
    return True, None


def _config_or_none(run_dir: Path) -> OptimizationConfig | None:
    if not rundir.is_run_dir(run_dir):
        return None
    try:
        return load_run_config(run_dir, for_display=True)
    except HyperoptError:
        return None


def _exited(proc: Any) -> bool:
    """Gone, or a zombie waiting for its parent to reap it (its work and files are done)."""
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
