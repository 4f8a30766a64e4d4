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

What the server accepts and refuses (bodies, origins, hosts, configs) is in guards.py;
who may use it (the token, `--no-token`, the page's session cookie) in access.py; both in
docs/server.md.

Regenerate the committed schema after changing the API:
    .venv/bin/python -m hyperopt_cli.server.app --openapi docs/openapi.json
"""

from __future__ import annotations

import errno
import json
import math
import socket
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from hyperopt_cli import __version__, control
from hyperopt_cli.core.errors import EXIT_USAGE, ConfigError, DataError, HyperoptError, StorageFullError
from hyperopt_cli.server.access import Access, is_loopback, resolve_access
from hyperopt_cli.server.configs import ConfigShelf
from hyperopt_cli.server.guards import BASE_HEADERS, install_guards, page_csp
from hyperopt_cli.server.models import (
    ERRORS,
    JOB_ID_PATTERN,
    GroupsResponse,
    JobRequest,
    Results,
    ResumeResponse,
    RunsResponse,
    RunState,
    StartRequest,
    StartResponse,
    StopResponse,
    groups_answer,
)
from hyperopt_cli.server.report_route import add_report_route
from hyperopt_cli.server.runs import API, ApiError, FieldError, Runs, _detail

DEFAULT_CONFIGS_DIR = Path("configs")  # the configs a request may name, by file name


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


def _install_error_answers(app: FastAPI) -> None:
    """The answers for the API's expected errors: one bounded line each, never a traceback."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.detail}
        if exc.job_id is not None:
            body["job_id"] = exc.job_id
        return JSONResponse(body, status_code=exc.status, headers=BASE_HEADERS)

    @app.exception_handler(FieldError)
    async def field_error(request: Request, exc: FieldError) -> JSONResponse:
        loc = ["body", exc.field] if exc.field else ["body"]
        return JSONResponse(
            {"detail": [{"loc": loc, "msg": exc.message, "type": "config_error"}]},
            status_code=422,
            headers=BASE_HEADERS,
        )

    @app.exception_handler(HyperoptError)
    async def hyperopt_error(request: Request, exc: HyperoptError) -> JSONResponse:
        """The HTTP side of the CLI's error mapping: bad input is 422, a run in the wrong state 409."""
        status = 422 if isinstance(exc, (ConfigError, DataError)) else 507 if isinstance(exc, StorageFullError) else 409
        return JSONResponse({"detail": _detail(str(exc))}, status_code=status, headers=BASE_HEADERS)


def create_app(
    runs_dir: Path = Path("runs"),
    token: str | None = None,
    *,
    config: Path | None = None,
    configs_dir: Path = DEFAULT_CONFIGS_DIR,
    allowed_hosts: list[str] | None = None,
    start_wait_s: float = 10.0,
    stop_timeout_s: float = 60.0,
) -> FastAPI:
    """The FastAPI app over `runs_dir`.

    token: when set, every request must carry `Authorization: Bearer <token>` or the session
    cookie the page gets when opened once as `/?token=<token>`.
    config: base config of runs started over HTTP (request fields override it).
    configs_dir: the folder whose YAML files a request's `config` may name (by file name only).
    allowed_hosts: Host header names accepted (None: any); `serve` on loopback passes the
    loopback names, so a page on another site cannot reach the API through DNS rebinding.
    start_wait_s: how long start/resume wait for the run process to own the run and write
    its time estimate. stop_timeout_s: how long stop waits for the process to exit.
    """
    shelf = ConfigShelf(Path(configs_dir).absolute())
    runs = Runs(Path(runs_dir), config, shelf, start_wait_s, stop_timeout_s)
    page = resources.files("hyperopt_cli").joinpath("server/web/index.html").read_text(encoding="utf-8")
    page_headers = {**BASE_HEADERS, "Content-Security-Policy": page_csp(page)}
    app = FastAPI(
        title="hyperopt-cli",
        version=__version__,
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN; the schema is at /openapi.json
        redoc_url=None,
        description=(
            "The HTTP API of the original hyperopt module, over the run directories of the `hyperopt` CLI. "
            "Runs are separate processes; without job_id an endpoint acts on the most recent run. Unless the "
            "server runs with --no-token, send `Authorization: Bearer <token>` with every request (the web page, "
            "opened once as `/?token=<token>`, gets a session cookie instead). A POST takes an application/json "
            "body of at most 64 KiB, or none."
        ),
    )
    app.state.runs = runs

    install_guards(app, token, allowed_hosts)
    _install_error_answers(app)
    _add_routes(app, runs, page, page_headers)
    return app


def _add_routes(app: FastAPI, runs: Runs, page: str, page_headers: dict[str, str]) -> None:
    """The endpoints: each one line over `runs`."""
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
        return HTMLResponse(page, headers=page_headers)

    add_report_route(app, runs)


def openapi_json(app: FastAPI | None = None) -> str:
    """The schema as committed in docs/openapi.json."""
    schema = (app or create_app()).openapi()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def serve(
    host: str,
    port: int,
    runs_dir: Path,
    config: Path | None,
    token: str | None,
    configs_dir: Path = DEFAULT_CONFIGS_DIR,
    *,
    token_file: Path | None = None,
    no_token: bool = False,
) -> None:
    """Run the app with uvicorn until Ctrl-C; the runs it started keep running.

    token / token_file / no_token: `serve`'s options, resolved by `access.resolve_access` (without
    any of them the server makes a token and prints the page's URL with it).
    """
    import uvicorn

    if not 0 <= port <= 65535:
        raise ServeUsageError(f"--port must be in 0..65535 (0: any free port), got {port}")
    if runs_dir.exists() and not runs_dir.is_dir():
        raise ServeUsageError(f"--runs-dir {runs_dir} is not a directory")
    access = resolve_access(host, token, token_file, no_token)
    if config is not None:
        control.resolve_config(config, [])  # a bad base config fails now, not at the first start
    bare = host.strip("[]").lower()
    names = ["127.0.0.1", "[::1]", "localhost", f"[{bare}]" if ":" in bare else bare]  # Host: [::1]:8000
    app = create_app(
        runs_dir,
        access.token,
        config=config,
        configs_dir=configs_dir,
        allowed_hosts=names if is_loopback(host) else None,
    )
    runs: Runs = app.state.runs
    found, running = runs.listed(), runs.active()
    sock = _listen(host, port)
    if access.token is None:
        print(
            "No token (--no-token): every user of this machine can start, stop and read runs",
            file=sys.stderr,
            flush=True,
        )
    print(
        f"Serving {served_url(host, sock.getsockname()[1], access)} over {runs_dir} ({len(found)} runs"
        + (f", {running.name} running)" if running else ")"),
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


class ServeUsageError(HyperoptError):
    """`serve` was given a port it cannot listen on (out of range, taken) or a --runs-dir that is not a folder."""

    exit_code = EXIT_USAGE


def served_url(host: str, port: int, access: Access) -> str:
    """The page's URL as `serve` prints it: with the token when `serve` made it up (the user's stays unsaid)."""
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={access.token}" if access.generated else "")


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one `Error:` line, not a uvicorn log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServeUsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            + ("; pick another --port" if exc.errno == errno.EADDRINUSE else "")
        ) from None
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
