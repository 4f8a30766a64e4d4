"""The runs directory as the API sees it, and the run processes the server starts.

Every run is a separate process started exactly as `hyperopt start --run-dir RUNS/<job_id>`
(or `hyperopt resume RUN_DIR`) in its own session, with umask 077: its files, and the
server's logs of it under RUNS/.server/, are readable by their owner only.

One run is active at a time, across every server over the same runs folder: a start or
resume holds an OS lock on RUNS/.server/start.lock from its "is a run active?" check to the
spawn, and records the process it spawned in RUNS/.server/active.json, which every server
counts as active while that process lives (before it owns its run directory too).
Run folders, and the summary files in them, that resolve outside their folder are not
listed or read (paths.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from hyperopt_cli import control
from hyperopt_cli.core.errorfile import ERROR_FILE_ENV, read_error_file
from hyperopt_cli.core.errors import (
    EXIT_CONFIG,
    EXIT_DATA,
    EXIT_LOCKED,
    EXIT_NOTHING_RUNNING,
    EXIT_OK,
    EXIT_RUN_STATE,
    EXIT_STOPPED,
    EXIT_STORAGE_FULL,
    ConfigError,
    HyperoptError,
    NothingRunningError,
    RunStateError,
)
from hyperopt_cli.core.quote import clipped
from hyperopt_cli.core.storage_kind import mask_url
from hyperopt_cli.run import rundir
from hyperopt_cli.run.state_record import EMPTY, RunState, read_run_state
from hyperopt_cli.server.configs import ConfigShelf
from hyperopt_cli.server.models import StartRequest
from hyperopt_cli.server.paths import resolves_inside

API = "/api/hyperopt"
SERVER_LOG_DIR = ".server"  # RUNS_DIR/.server/<job_id>.log: stdout/stderr of the run's processes
START_LOCK = "start.lock"  # RUNS_DIR/.server/start.lock: held from the "is a run active?" check to the spawn
CLAIM_FILE = "active.json"  # RUNS_DIR/.server/active.json: the run process the last start/resume spawned
RUN_SUMMARIES = (rundir.CONFIG_FILE, rundir.STATE_FILE, rundir.RESULTS_FILE, rundir.BEST_PARAMS_FILE)
OWNER_ONLY = 0o077  # umask of run processes and the server's own files
MAX_DETAIL_CHARS = 500  # a child's error line passed back to the caller is cut here

# Request field -> config key, in the order a config error is attributed to a field.
FIELD_KEYS: dict[str, str] = {
    "target_group": "target_group",
    "primary_metric": "primary_metric",
    "use_mlflow": "use_mlflow",
    "study_name": "study_name",
    "seed": "seed",
    "epochs_per_trial": "epochs_per_trial",
    "max_trials_per_group": "max_trials_per_group",
    "max_total_hours": "max_total_time_hours",
    "mode": "mode",
}
# Exit code of a run process that failed before the server answered -> HTTP status.
EXIT_TO_HTTP = {
    EXIT_CONFIG: 422,
    EXIT_DATA: 422,
    EXIT_LOCKED: 409,
    EXIT_RUN_STATE: 409,
    EXIT_NOTHING_RUNNING: 409,
    EXIT_STORAGE_FULL: 507,
}


class ApiError(Exception):
    """An expected failure answered as `{"detail": ..., "job_id": ...}` with `status`."""

    def __init__(self, status: int, detail: str, job_id: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.job_id = job_id


class FieldError(Exception):
    """A request value the config rejected: answered 422 in FastAPI's own shape, naming `field`."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Child:
    """A run process this server started, with where its output and its error (if it fails) go."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    error_path: Path


class Runs:
    """The runs directory as the API sees it, and the run processes this server started."""

    def __init__(
        self, runs_dir: Path, config: Path | None, configs: ConfigShelf, start_wait_s: float, stop_timeout_s: float
    ) -> None:
        self.runs_dir = runs_dir
        self.config = config
        self.configs = configs
        self.start_wait_s = start_wait_s
        self.stop_timeout_s = stop_timeout_s
        self.cwd = Path.cwd()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()  # one start/resume at a time, so two cannot both find "nothing active"

    # ------------------------------------------------------------------ lookups

    def _child_alive(self, job_id: str) -> bool:
        proc = self._children.get(job_id)
        return proc is not None and proc.poll() is None

    def _starting(self) -> list[Path]:
        """Run dirs of children that have not written config.yaml yet (still loading data)."""
        return [
            self.runs_dir / j
            for j in list(self._children)
            if self._child_alive(j) and not rundir.is_run_dir(self.runs_dir / j)
        ]

    def listed(self) -> list[Path]:
        """The run directories under the runs folder in `rundir.list_runs` order, but for symlinks out of it."""
        return [p for p in rundir.list_runs(self.runs_dir) if resolves_inside(p, self.runs_dir)]

    def find(self, job_id: str) -> Path:
        path = self.runs_dir / job_id
        if resolves_inside(path, self.runs_dir) and (
            rundir.is_run_dir(path) or (path.is_dir() and self._child_alive(job_id))
        ):
            return path
        raise ApiError(404, f"unknown job id {job_id!r}: no run directory {path}", job_id)

    def latest(self) -> Path | None:
        """The most recent run: a child of ours still starting, else the last one listed."""
        starting = self._starting()
        if starting:
            return max(starting, key=lambda p: p.name)
        runs = self.listed()
        return runs[-1] if runs else None

    def active(self) -> Path | None:
        """The run a live process is working on (owner, or a run process some server over this folder started)."""
        running = next((p for p in reversed(self.listed()) if rundir.live_owner(p) is not None), None)
        claimed = self._claimed()
        candidates = [p for p in (running, claimed) if p is not None] + self._starting()
        return max(candidates, key=lambda p: p.name) if candidates else None

    def _claimed(self) -> Path | None:
        """The run of the process the last start/resume (of any server here) spawned, while it lives."""
        claim = rundir.peek_json(self.runs_dir / SERVER_LOG_DIR / CLAIM_FILE) or {}
        job_id, pid, created = claim.get("job_id"), claim.get("pid"), claim.get("create_time")
        if not isinstance(job_id, str) or not isinstance(pid, int) or not isinstance(created, (int, float)):
            return None
        path = self.runs_dir / job_id
        if not resolves_inside(path, self.runs_dir):
            return None
        try:
            proc = psutil.Process(pid)
            alive = abs(proc.create_time() - created) <= 0.01 and proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return path if alive else None

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        """This server's start/resume lock and the OS lock every server over the runs folder shares."""
        with self._lock:
            folder = self._server_dir()
            fd = os.open(folder / START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # held at most one start_wait_s by another server
                yield
            finally:
                os.close(fd)  # releases the flock; run processes never inherit it (Popen closes fds)

    def _server_dir(self) -> Path:
        folder = self.runs_dir / SERVER_LOG_DIR
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # made by an older version, or mkdir's mode cut by the umask
        return folder

    def _refuse_if_active(self) -> None:
        active = self.active()
        if active is not None:
            raise ApiError(409, f"run {active.name} is active; stop it first (POST {API}/stop)", active.name)

    # ------------------------------------------------------------------ processes

    def _spawn(self, job_id: str, args: list[str]) -> Child:
        """`python -m hyperopt_cli ARGS` in a new session; output appended to RUNS/.server/<job_id>.log.

        A child that fails writes its error to RUNS/.server/<job_id>.error.json (HYPEROPT_ERROR_FILE).
        """
        log_dir = self._server_dir()
        log_path = log_dir / f"{job_id}.log"
        error_path = log_dir / f"{job_id}.error.json"
        error_path.unlink(missing_ok=True)  # an error of an earlier start/resume of this run is not this one's
        env = {**os.environ, "PYTHONUNBUFFERED": "1", ERROR_FILE_ENV: str(error_path.resolve())}
        with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            os.fchmod(log.fileno(), 0o600)
            proc = subprocess.Popen(
                [sys.executable, "-m", "hyperopt_cli", *args],
                cwd=self.cwd,
                env=env,
                umask=OWNER_ONLY,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[job_id] = proc
        threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()  # no zombies
        try:
            created = psutil.Process(proc.pid).create_time()
        except psutil.NoSuchProcess:  # gone already: nothing to claim
            pass
        else:
            rundir.write_json(log_dir / CLAIM_FILE, {"job_id": job_id, "pid": proc.pid, "create_time": created})
        return Child(proc, log_path, error_path)

    @staticmethod
    def _wait(proc: subprocess.Popen[bytes], ready: Any, timeout_s: float) -> bool:
        """Poll `ready()` until true (True), the process exits, or `timeout_s` passes (False)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return True
            if proc.poll() is not None:
                return bool(ready())
            time.sleep(0.05)
        return False

    @staticmethod
    def _raise_if_failed(child: Child, field: str | None) -> None:
        code = child.proc.poll()
        if code is None or code in (EXIT_OK, EXIT_STOPPED):
            return
        error = read_error_file(child.error_path)
        if error is None:
            message = f"the run process exited with code {code}; see {child.log_path}"
        else:
            message, code = _detail(error.message), error.exit_code
        status = EXIT_TO_HTTP.get(code, 500)
        if status == 422:
            raise FieldError(field, message)
        raise ApiError(status, message)

    # ------------------------------------------------------------------ actions

    def start(self, req: StartRequest) -> dict[str, Any]:
        given = req.model_dump(exclude_unset=True, exclude_none=True)
        config = self._request_config(given.pop("config", None))
        overrides = [f"{FIELD_KEYS[k]}={json.dumps(v)}" for k, v in given.items()]
        try:
            cfg = control.resolve_config(config, overrides)
        except ConfigError as exc:
            raise FieldError(
                _field_of(str(exc), config is not None and config != self.config), _detail(str(exc))
            ) from None
        if config != self.config and "${" in (cfg.storage_url or ""):
            # The run process would fill ${VAR} from the server's environment, and its errors come back here.
            raise FieldError(
                "config",
                f"{config.name if config else 'the config'} uses ${{VAR}} in storage_url; "
                "a config named by a request must not read the server's environment "
                "(make it the server's --config, or start the run from the shell)",
            )
        with self._start_lock():
            self._refuse_if_active()
            run_dir = control.new_run_dir(self.runs_dir, None)
            run_dir.chmod(0o700)  # the run process writes its files with umask 077 into it
            job_id = run_dir.name
            args = ["start", "--run-dir", str(run_dir)]
            if config is not None:
                args += ["--config", str(config)]
            for text in overrides:
                args += ["--set", text]
            child = self._spawn(job_id, args)
            self._wait(
                child.proc,
                lambda: (read_run_state(run_dir, peek=True) or EMPTY).has("time_estimate"),
                self.start_wait_s,
            )
            try:
                self._raise_if_failed(child, "config")
            except (FieldError, ApiError):
                _rmdir_if_empty(run_dir)
                raise
        state = read_run_state(run_dir, peek=True) or EMPTY
        estimate = state.time_estimate or {
            "estimated_hours": None,
            "total_trials": cfg.max_trials_per_group * len(cfg.groups_to_run()),
            "based_on": "config (the run has not measured its speed yet)",
        }
        return {
            "success": True,
            "job_id": job_id,
            "status": state.status if state.has("status") else "starting",
            "time_estimate": estimate,
            "run_dir": str(run_dir),
        }

    def _request_config(self, given: str | None) -> Path | None:
        """The server's --config, or the config a request names from the configs directory."""
        if given is None:
            return self.config
        path = self.configs.find(given)
        if path is None:
            names = ", ".join(self.configs.names()) or "none"
            raise FieldError(
                "config",
                f"config file not found: a request names a config of the server's configs "
                f"directory by its file name (available: {clipped(names, 300)})",
            )
        return path

    def stop(self, job_id: str | None) -> dict[str, Any]:
        run_dir = self.find(job_id) if job_id else self.active()
        if run_dir is None:
            raise ApiError(409, f"nothing is running under {self.runs_dir}")
        proc = self._children.get(run_dir.name)
        if proc is not None and rundir.live_owner(run_dir) is None:  # ours, still loading: wait for it to own the run
            self._wait(proc, lambda: rundir.live_owner(run_dir) is not None, self.stop_timeout_s)
        try:
            outcome = control.stop_run(run_dir, timeout_s=self.stop_timeout_s)
        except NothingRunningError as exc:
            raise ApiError(409, str(exc), run_dir.name) from None
        if not outcome.stopped:
            return {
                "success": True,
                "status": "stopping",
                "can_resume": True,
                "job_id": run_dir.name,
                "message": f"pid {outcome.pid} is still checkpointing after {self.stop_timeout_s:g} s; "
                "it stops on its own, or kill it (resume continues from the last checkpoint)",
            }
        status = outcome.status or "paused"
        return {
            "success": True,
            "status": status,
            "can_resume": status != "completed",
            "job_id": run_dir.name,
            "message": f"stopped after checkpointing the current trial ({outcome.seconds:.1f} s); "
            "resume continues it under the same trial number",
        }

    def resume(self, job_id: str | None) -> dict[str, Any]:
        with self._start_lock():
            run_dir = self.find(job_id) if job_id else self.latest()
            if run_dir is None:
                raise ApiError(404, f"no runs under {self.runs_dir}")
            self._refuse_if_active()
            _refuse_escaping_summaries(run_dir)
            state = control.run_status(run_dir)
            if state.get("status") == "completed":
                raise ApiError(409, f"run {run_dir.name} is already completed; see GET {API}/results", run_dir.name)
            child = self._spawn(run_dir.name, ["resume", str(run_dir)])
            # "running" written by this child (its pid), not the one an interrupted session left behind
            self._wait(
                child.proc, lambda: _running_as(read_run_state(run_dir, peek=True), child.proc.pid), self.start_wait_s
            )
            self._raise_if_failed(child, None)
        progress = state.get("progress") or {}
        return {
            "success": True,
            "status": "resumed",
            "job_id": run_dir.name,
            "progress": {
                "current_group": progress.get("current_group"),
                "current_trial": progress.get("current_trial"),
                "groups_completed": progress.get("groups_completed") or [],
            },
        }

    def status(self, job_id: str | None) -> dict[str, Any]:
        run_dir = self.find(job_id) if job_id else self.latest()
        if run_dir is None:
            return {"status": "idle", "job_id": None, "message": f"no runs under {self.runs_dir}"}
        if not rundir.is_run_dir(run_dir):
            return {"status": "starting", "job_id": run_dir.name, "run_dir": str(run_dir)}
        _refuse_escaping_summaries(run_dir)
        return control.run_status(run_dir)

    def results(self, job_id: str | None) -> dict[str, Any]:
        listed = self.listed()
        run_dir = self.find(job_id) if job_id else listed[-1] if listed else None
        if run_dir is None:
            raise ApiError(404, f"no runs under {self.runs_dir}")
        if not rundir.is_run_dir(run_dir):
            raise ApiError(409, f"run {run_dir.name} is still starting; no results yet", run_dir.name)
        _refuse_escaping_summaries(run_dir)
        return control.results_of(run_dir)

    def runs(self) -> dict[str, Any]:
        rows = []
        for path in self.listed():
            try:
                _refuse_escaping_summaries(path)
                rows.append(control.run_status(path))
            except HyperoptError as exc:  # one unreadable run must not hide the others
                rows.append({"job_id": path.name, "status": "unreadable", "message": str(exc), "run_dir": str(path)})
        return {"runs_dir": str(self.runs_dir), "runs": rows}


def _refuse_escaping_summaries(run_dir: Path) -> None:
    """RunStateError (409, or `unreadable` in the list) for a summary file that is a symlink out of the run."""
    rundir.check_readable(run_dir)  # another user's 0700 run: one line, not a PermissionError
    for name in RUN_SUMMARIES:
        path = run_dir / name
        if path.is_symlink() and not resolves_inside(path, run_dir):
            raise RunStateError(f"{path} points outside the run directory; the server does not follow it")


def _running_as(state: RunState | None, pid: int) -> bool:
    return state is not None and state.status == "running" and state.pid == pid


def _field_of(message: str, from_request_config: bool) -> str | None:
    """The request field a config error is about: the first one whose config key the message names."""
    for name, key in FIELD_KEYS.items():
        if re.search(rf"\b{key}\b", message):
            return name
    return "config" if from_request_config else None


def _detail(message: str) -> str:
    """An error line as the caller sees it: passwords masked, one line, bounded."""
    return clipped(mask_url(message) or "", MAX_DETAIL_CHARS)


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
