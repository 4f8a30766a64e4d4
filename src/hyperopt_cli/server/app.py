"""The original module's HTTP API and a small web page, over the same run directories as the CLI.

`hyperopt serve` runs this app. It is thin over `control`: every run is a separate
process started exactly as `hyperopt start --run-dir RUNS/<job_id>` (or `hyperopt resume
RUN_DIR`) in its own session, so restarting or killing the server never touches a run,
and a run started here can be stopped from the shell and the other way round. The server
keeps no state of its own beyond the children it is waiting to reap; it reads the runs
directory on every request.

Endpoints (payloads of the original module, spec/seed-hyperopt-module.md):

    POST /api/hyperopt/start    {mode, target_group, epochs_per_trial, ..., config}
    POST /api/hyperopt/stop     {job_id}?  -> waits until the run has checkpointed and exited
    POST /api/hyperopt/resume   {job_id}?
    GET  /api/hyperopt/status   ?job_id=
    GET  /api/hyperopt/results  ?job_id=
    GET  /api/hyperopt/runs     every run, as `hyperopt status --json`
    GET  /api/hyperopt/groups   the parameter groups in run order, with their parameters
    GET  /api/hyperopt/report   ?job_id=  the run's HTML report (report_route.py)
    GET  /                      the web page

Without a job id they act on the most recent run. One run is active at a time: a start or
resume while a run is active answers 409 with its job id.

Regenerate the committed schema after changing the API:
    .venv/bin/python -m hyperopt_cli.server.app --openapi docs/openapi.json
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Optional
from urllib.parse import urlsplit

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hyperopt_cli import __version__, control

from hyperopt_cli.run import rundir
from hyperopt_cli.config import GROUPS, METRICS, MODES, default_search_space
from hyperopt_cli.errorfile import ERROR_FILE_ENV, read_error_file
from hyperopt_cli.errors import (
    EXIT_CONFIG,
    EXIT_DATA,
    EXIT_LOCKED,
    EXIT_NOTHING_RUNNING,
    EXIT_OK,
    EXIT_RUN_STATE,
    EXIT_STOPPED,
    ConfigError,
    DataError,
    HyperoptError,
    NothingRunningError,
)

API = "/api/hyperopt"
TOKEN_ENV = "HYPEROPT_TOKEN"
SERVER_LOG_DIR = ".server"  # RUNS_DIR/.server/<job_id>.log: stdout/stderr of the run's processes
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # a plain directory name: no '/', never '.' or '..'
MAX_CONFIG_BYTES = 1 << 20  # a request's config file is read by the server; refuse anything bigger
LOOPBACK_NAMES = ("localhost",)

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
EXIT_TO_HTTP = {EXIT_CONFIG: 422, EXIT_DATA: 422, EXIT_LOCKED: 409, EXIT_RUN_STATE: 409, EXIT_NOTHING_RUNNING: 409}


# --------------------------------------------------------------------------- payloads


class StartRequest(BaseModel):
    """POST /start. A field left out (or null) keeps the value of the config file."""

    model_config = ConfigDict(extra="forbid")

    mode: Optional[Literal[MODES]] = Field(  # type: ignore[valid-type]
        None, description="full | quick | group | fine_tune (fine_tune needs fine_tune_from in the config)."
    )
    target_group: Optional[Literal[GROUPS]] = Field(  # type: ignore[valid-type]
        None, description="The group of mode 'group'."
    )
    epochs_per_trial: Optional[int] = Field(None, ge=1, le=10_000)
    max_trials_per_group: Optional[int] = Field(None, ge=1, le=1_000_000)
    max_total_hours: Optional[float] = Field(
        None, gt=0, le=100_000, description="Time budget summed across sessions (config: max_total_time_hours)."
    )
    primary_metric: Optional[Literal[METRICS]] = None  # type: ignore[valid-type]
    study_name: Optional[str] = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Prefix of the study files <study_name>_<group>.db (a plain name).",
    )
    use_mlflow: Optional[bool] = Field(None, description="Log groups and trials to MLflow (needs the mlflow extra).")
    seed: Optional[int] = Field(None, ge=0, le=2**63 - 1)
    config: Optional[str] = Field(
        None, min_length=1, max_length=4096, pattern=r"^[^\x00]*$",
        description="YAML config file on the server (relative to its working directory); default: its --config.",
    )


class JobRequest(BaseModel):
    """POST /stop and /resume: which run (default: the most recent)."""

    model_config = ConfigDict(extra="forbid")

    job_id: Optional[str] = Field(None, pattern=JOB_ID_PATTERN)


class TimeEstimate(BaseModel):
    model_config = ConfigDict(extra="allow")

    estimated_hours: Optional[float] = Field(description="Total hours of the run; null until the run has measured it.")
    total_trials: int


class StartResponse(BaseModel):
    success: bool
    job_id: str
    status: str
    time_estimate: TimeEstimate
    run_dir: str


class StopResponse(BaseModel):
    success: bool
    status: str = Field(description="'paused' once the run has exited; 'stopping' if it is still checkpointing.")
    message: str
    can_resume: bool
    job_id: str


class Progress(BaseModel):
    model_config = ConfigDict(extra="allow")

    current_group: Optional[str] = None
    current_trial: Optional[int] = None
    groups_completed: list[str] = []


class ResumeResponse(BaseModel):
    success: bool
    status: str
    job_id: str
    progress: Progress = Field(description="Where the run continues from (as it was when it stopped).")


class RunState(BaseModel):
    """state.json of a run plus liveness (`hyperopt status RUN_DIR --json`); more keys than listed."""

    model_config = ConfigDict(extra="allow")

    job_id: Optional[str] = None
    status: str = Field(
        description="idle (no runs) | starting | running | paused | completed | failed | interrupted | unreadable"
    )


class RunsResponse(BaseModel):
    runs_dir: str
    runs: list[RunState]


class Results(BaseModel):
    """results.json (`hyperopt results --json`, schema in the README); more keys than listed."""

    model_config = ConfigDict(extra="allow")

    job_id: Optional[str] = None
    status: Optional[str] = None
    complete: bool
    best_params: dict[str, Any]


class Group(BaseModel):
    name: str
    params: list[str] = Field(description="The parameters the group's study searches.")


class GroupsResponse(BaseModel):
    groups: list[Group] = Field(description="In the order a full run optimises them.")
    modes: list[str]


def groups_answer() -> dict[str, Any]:
    """GET /groups: what the page builds its group and mode choices from."""
    space = default_search_space()
    return {"groups": [{"name": g, "params": list(space[g])} for g in GROUPS], "modes": list(MODES)}


class ErrorResponse(BaseModel):
    detail: str
    job_id: Optional[str] = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Unparseable body, or a Host header the server does not answer to"},
    401: {"model": ErrorResponse, "description": "The server has a token and the request lacks it"},
    403: {"model": ErrorResponse, "description": "A POST from a page of another origin"},
    404: {"model": ErrorResponse, "description": "Unknown job id, or no runs at all"},
    409: {"model": ErrorResponse, "description": "A run is active, nothing is running, or the run is finished"},
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


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Child:
    """A run process this server started, with where its output and its error (if it fails) go."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    error_path: Path


class Runs:
    """The runs directory as the API sees it, and the run processes this server started."""

    def __init__(self, runs_dir: Path, config: Path | None, start_wait_s: float, stop_timeout_s: float) -> None:
        self.runs_dir = runs_dir
        self.config = config
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
        return [self.runs_dir / j for j in list(self._children) if self._child_alive(j)
                and not rundir.is_run_dir(self.runs_dir / j)]

    def find(self, job_id: str) -> Path:
        path = self.runs_dir / job_id
        if rundir.is_run_dir(path) or (path.is_dir() and self._child_alive(job_id)):
            return path
        raise ApiError(404, f"unknown job id {job_id!r}: no run directory {path}", job_id)

    def latest(self) -> Path | None:
        runs = rundir.list_runs(self.runs_dir) + self._starting()
        return max(runs, key=lambda p: p.name) if runs else None

    def active(self) -> Path | None:
        """The run a live process is working on (owner, or a child of ours still starting)."""
        running = control.latest_running(self.runs_dir)
        starting = self._starting()
        candidates = ([running] if running is not None else []) + starting
        return max(candidates, key=lambda p: p.name) if candidates else None

    def _refuse_if_active(self) -> None:
        active = self.active()
        if active is not None:
            raise ApiError(409, f"run {active.name} is active; stop it first (POST {API}/stop)", active.name)

    # ------------------------------------------------------------------ processes

    def _spawn(self, job_id: str, args: list[str]) -> Child:
        """`python -m hyperopt_cli ARGS` in a new session; output appended to RUNS/.server/<job_id>.log.

        A child that fails writes its error to RUNS/.server/<job_id>.error.json (HYPEROPT_ERROR_FILE).
        """
        log_dir = self.runs_dir / SERVER_LOG_DIR
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{job_id}.log"
        error_path = log_dir / f"{job_id}.error.json"
        error_path.unlink(missing_ok=True)  # an error of an earlier start/resume of this run is not this one's
        env = {**os.environ, "PYTHONUNBUFFERED": "1", ERROR_FILE_ENV: str(error_path.resolve())}
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hyperopt_cli", *args], cwd=self.cwd, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._children[job_id] = proc
        threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()  # no zombies
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
            message, code = error.message, error.exit_code
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
            raise FieldError(_field_of(str(exc), config is not None and config != self.config), str(exc)) from None
        with self._lock:
            self._refuse_if_active()
            run_dir = control.new_run_dir(self.runs_dir, None)
            job_id = run_dir.name
            args = ["start", "--run-dir", str(run_dir)]
            if config is not None:
                args += ["--config", str(config)]
            for text in overrides:
                args += ["--set", text]
            child = self._spawn(job_id, args)
            state_path = run_dir / rundir.STATE_FILE
            self._wait(child.proc, lambda: "time_estimate" in (rundir.read_json(state_path) or {}), self.start_wait_s)
            try:
                self._raise_if_failed(child, "config")
            except (FieldError, ApiError):
                _rmdir_if_empty(run_dir)
                raise
        state = rundir.read_json(state_path) or {}
        estimate = state.get("time_estimate") or {
            "estimated_hours": None,
            "total_trials": cfg.max_trials_per_group * len(cfg.groups_to_run()),
            "based_on": "config (the run has not measured its speed yet)",
        }
        return {"success": True, "job_id": job_id, "status": state.get("status", "starting"),
                "time_estimate": estimate, "run_dir": str(run_dir)}

    def _request_config(self, given: str | None) -> Path | None:
        if given is None:
            return self.config
        path = Path(given).expanduser()
        path = path if path.is_absolute() else self.cwd / path
        try:
            ok = path.is_file() and path.stat().st_size <= MAX_CONFIG_BYTES
        except (OSError, ValueError):
            ok = False
        if not ok:
            raise FieldError("config", f"config file not found (or not a regular file under 1 MiB): {given}")
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
            return {"success": True, "status": "stopping", "can_resume": True, "job_id": run_dir.name,
                    "message": f"pid {outcome.pid} is still checkpointing after {self.stop_timeout_s:g} s; "
                               "it stops on its own, or kill it (resume continues from the last checkpoint)"}
        status = outcome.status or "paused"
        return {"success": True, "status": status, "can_resume": status != "completed", "job_id": run_dir.name,
                "message": f"stopped after checkpointing the current trial ({outcome.seconds:.1f} s); "
                           "resume continues it under the same trial number"}

    def resume(self, job_id: str | None) -> dict[str, Any]:
        with self._lock:
            run_dir = self.find(job_id) if job_id else self.latest()
            if run_dir is None:
                raise ApiError(404, f"no runs under {self.runs_dir}")
            self._refuse_if_active()
            state = control.run_status(run_dir)
            if state.get("status") == "completed":
                raise ApiError(409, f"run {run_dir.name} is already completed; see GET {API}/results", run_dir.name)
            child = self._spawn(run_dir.name, ["resume", str(run_dir)])
            state_path = run_dir / rundir.STATE_FILE
            self._wait(child.proc, lambda: (rundir.read_json(state_path) or {}).get("status") == "running",
                       self.start_wait_s)
            self._raise_if_failed(child, None)
        progress = state.get("progress") or {}
        return {"success": True, "status": "resumed", "job_id": run_dir.name, "progress": {
            "current_group": progress.get("current_group"), "current_trial": progress.get("current_trial"),
            "groups_completed": progress.get("groups_completed") or []}}

    def status(self, job_id: str | None) -> dict[str, Any]:
        run_dir = self.find(job_id) if job_id else self.latest()
        if run_dir is None:
            return {"status": "idle", "job_id": None, "message": f"no runs under {self.runs_dir}"}
        if not rundir.is_run_dir(run_dir):
            return {"status": "starting", "job_id": run_dir.name, "run_dir": str(run_dir)}
        return control.run_status(run_dir)

    def results(self, job_id: str | None) -> dict[str, Any]:
        run_dir = self.find(job_id) if job_id else control.latest_run(self.runs_dir)
        if run_dir is None:
            raise ApiError(404, f"no runs under {self.runs_dir}")
        if not rundir.is_run_dir(run_dir):
            raise ApiError(409, f"run {run_dir.name} is still starting; no results yet", run_dir.name)
        return control.results_of(run_dir)

    def runs(self) -> dict[str, Any]:
        rows = []
        for path in rundir.list_runs(self.runs_dir):
            try:
                rows.append(control.run_status(path))
            except HyperoptError as exc:  # one unreadable run must not hide the others
                rows.append({"job_id": path.name, "status": "unreadable", "message": str(exc), "run_dir": str(path)})
        return {"runs_dir": str(self.runs_dir), "runs": rows}


def _field_of(message: str, from_request_config: bool) -> str | None:
    """The request field a config error is about: the first one whose config key the message names."""
    for name, key in FIELD_KEYS.items():
        if re.search(rf"\b{key}\b", message):
            return name
    return "config" if from_request_config else None


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def json_safe(obj: Any) -> Any:
    """JSON without NaN/inf (a diverged trial's value): those become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


# --------------------------------------------------------------------------- app


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_error(host: str, token: str | None) -> str | None:
    """Why serving on `host` is refused, or None: any address but loopback needs a token."""
    if is_loopback(host) or token:
        return None
    return f"--host {host} is not a loopback address; set --token or {TOKEN_ENV} to serve on it"


def _request_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[len("bearer "):].strip()
    return request.query_params.get("token")


def _install_guards(app: FastAPI, token: str | None, allowed_hosts: list[str] | None) -> None:
    """Host/origin/token checks on every request, and the answers for the API's expected errors."""

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
        if allowed_hosts is not None and host not in allowed_hosts:
            return JSONResponse({"detail": f"host {host!r} not allowed"}, status_code=400)
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD", "OPTIONS") and origin and origin != "null":
            if urlsplit(origin).netloc != request.headers.get("host"):
                return JSONResponse({"detail": f"cross-origin request from {origin} refused"}, status_code=403)
        if token is not None:
            given = _request_token(request)
            if given is None or not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "missing or wrong token"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.detail}
        if exc.job_id is not None:
            body["job_id"] = exc.job_id
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(FieldError)
    async def field_error(request: Request, exc: FieldError) -> JSONResponse:
        loc = ["body", exc.field] if exc.field else ["body"]
        return JSONResponse({"detail": [{"loc": loc, "msg": exc.message, "type": "config_error"}]}, status_code=422)

    @app.exception_handler(HyperoptError)
    async def hyperopt_error(request: Request, exc: HyperoptError) -> JSONResponse:
        """The HTTP side of the CLI's error mapping: bad input is 422, a run in the wrong state 409."""
        status = 422 if isinstance(exc, (ConfigError, DataError)) else 409
        return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app(
    runs_dir: Path = Path("runs"),
    token: str | None = None,
    *,
    config: Path | None = None,
    allowed_hosts: list[str] | None = None,
    start_wait_s: float = 10.0,
    stop_timeout_s: float = 60.0,
) -> FastAPI:
    """The FastAPI app over `runs_dir`.

    token: when set, every request must carry `Authorization: Bearer <token>` (or `?token=`).
    config: base config of runs started over HTTP (request fields override it).
    allowed_hosts: Host header names accepted (None: any); `serve` on loopback passes the
    loopback names, so a page on another site cannot reach the API through DNS rebinding.
    start_wait_s: how long start/resume wait for the run process to own the run and write
    its time estimate. stop_timeout_s: how long stop waits for the process to exit.
    """
    runs = Runs(Path(runs_dir), config, start_wait_s, stop_timeout_s)
    page = resources.files("hyperopt_cli").joinpath("server/web/index.html").read_text(encoding="utf-8")
    app = FastAPI(
        title="hyperopt-cli",
        version=__version__,
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN; the schema is at /openapi.json
        redoc_url=None,
        description=(
            "The HTTP API of the original hyperopt module, over the run directories of the `hyperopt` CLI. "
            "Runs are separate processes; without job_id an endpoint acts on the most recent run. When the "
            "server has a token, send `Authorization: Bearer <token>` (or `?token=`) with every request."
        ),
    )
    app.state.runs = runs

    _install_guards(app, token, allowed_hosts)

    job_query = Query(None, pattern=JOB_ID_PATTERN, description="Run to act on (default: the most recent).")

    @app.post(f"{API}/start", response_model=StartResponse, responses=ERRORS)
    def start(req: StartRequest) -> Any:
        """Start a new run (a `hyperopt start` process); answers once it has measured its time estimate (<= ~10 s)."""
        return json_safe(runs.start(req))

    @app.post(f"{API}/stop", response_model=StopResponse, responses=ERRORS)
    def stop(req: Optional[JobRequest] = Body(None)) -> Any:
        """Stop the running run gracefully and wait until it has checkpointed and exited (about 2 s)."""
        return runs.stop(req.job_id if req else None)

    @app.post(f"{API}/resume", response_model=ResumeResponse, responses=ERRORS)
    def resume(req: Optional[JobRequest] = Body(None)) -> Any:
        """Resume a paused or interrupted run (a `hyperopt resume` process); answers once it runs (<= ~10 s)."""
        return json_safe(runs.resume(req.job_id if req else None))

    @app.get(f"{API}/status", response_model=RunState, responses=ERRORS)
    def status(job_id: Optional[str] = job_query) -> Any:
        """state.json of the run plus owner liveness; `status: idle` when there are no runs."""
        return JSONResponse(json_safe(runs.status(job_id)))

    @app.get(f"{API}/results", response_model=Results, responses=ERRORS)
    def results(job_id: Optional[str] = job_query) -> Any:
        """Best params and per-group results (partial, `complete: false`, for an unfinished run)."""
        return JSONResponse(json_safe(runs.results(job_id)))

    @app.get(f"{API}/runs", response_model=RunsResponse, responses={k: ERRORS[k] for k in (400, 401)})
    def list_runs() -> Any:
        """Every run under the runs directory, oldest first."""
        return JSONResponse(json_safe(runs.runs()))

    @app.get(f"{API}/groups", response_model=GroupsResponse, responses={k: ERRORS[k] for k in (400, 401)})
    def groups() -> Any:
        """The parameter groups in run order with their parameters, and the modes."""
        return groups_answer()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    from hyperopt_cli.server.report_route import add_report_route  # it imports this module's names

    add_report_route(app, runs)
    return app


def openapi_json(app: FastAPI | None = None) -> str:
    """The schema as committed in docs/openapi.json."""
    schema = (app or create_app()).openapi()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def serve(host: str, port: int, runs_dir: Path, config: Path | None, token: str | None) -> None:
    """Run the app with uvicorn until Ctrl-C; the runs it started keep running."""
    import uvicorn

    if config is not None:
        control.resolve_config(config, [])  # a bad base config fails now, not at the first start
    names = ["127.0.0.1", "::1", "localhost", host.strip("[]").lower()]
    app = create_app(runs_dir, token, config=config, allowed_hosts=names if is_loopback(host) else None)
    found = rundir.list_runs(runs_dir)
    running = control.latest_running(runs_dir)
    sock = _listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"Serving http://{shown}:{port}/ over {runs_dir} ({len(found)} runs"
          + (f", {running.name} running)" if running else ")"), file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one `Error:` line, not a uvicorn log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise HyperoptError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    return sock


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--openapi":
        Path(args[1]).write_text(openapi_json(), encoding="utf-8")
        return
    print("usage: python -m hyperopt_cli.server.app --openapi FILE", file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    main()
