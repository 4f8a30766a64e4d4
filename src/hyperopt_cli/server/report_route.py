"""GET /api/hyperopt/report: a run's HTML report (written by `hyperopt report`), read-only.

The report is one self-contained file (figures embedded, no scripts), so serving it is
reading `<run_dir>/report/report.html`. The server never writes one: a run without a report
answers 404 naming the command that makes it. HEAD answers the same without the body, which
is how the web page learns whether to show its link. A report path that resolves outside the
run directory (a symlink) is treated as absent; a report that is not UTF-8 text, not a regular
file or larger than MAX_REPORT_BYTES is 409.

The file is the run folder's, so anyone who can write there can put a script in it. It is
served under REPORT_CSP: `sandbox` gives it an opaque origin (no session cookie, no same-origin
fetch of the API) and `default-src 'none'` runs no script and loads nothing but its embedded
images and inline styles.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse

from hyperopt_cli.core.atomic import UnsafeFileError, read_bounded
from hyperopt_cli.server.guards import BASE_HEADERS
from hyperopt_cli.server.models import ERRORS, JOB_ID_PATTERN
from hyperopt_cli.server.paths import resolves_inside
from hyperopt_cli.server.runs import API, ApiError, Runs

REPORT_PATH = ("report", "report.html")  # hyperopt_cli.report.page's REPORT_DIR / REPORT_FILE (not imported: optuna)
MAX_REPORT_BYTES = 256 << 20  # a report with every figure embedded is a few MB
REPORT_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
REPORT_HEADERS = {**BASE_HEADERS, "Content-Security-Policy": REPORT_CSP}


def add_report_route(app: FastAPI, runs: Runs) -> None:
    """Register GET/HEAD /api/hyperopt/report?job_id= on `app`."""

    def report(
        job_id: Optional[str] = Query(None, pattern=JOB_ID_PATTERN, description="Run (default: the most recent)."),
    ) -> HTMLResponse:
        """The run's HTML report as `hyperopt report` last wrote it; 404 until one exists."""
        run_dir = runs.find(job_id) if job_id else runs.latest()
        if run_dir is None:
            raise ApiError(404, f"no runs under {runs.runs_dir}")
        path = run_dir.joinpath(*REPORT_PATH)
        if not (resolves_inside(path, run_dir) and path.is_file()):
            raise ApiError(
                404,
                f"run {run_dir.name} has no report yet; write it with: hyperopt report {run_dir.name}",
                run_dir.name,
            )
        try:
            return HTMLResponse(read_bounded(path, MAX_REPORT_BYTES).decode("utf-8"), headers=REPORT_HEADERS)
        except UnsafeFileError as exc:
            raise ApiError(409, f"the report of run {run_dir.name} cannot be served: {exc}", run_dir.name) from None
        except UnicodeDecodeError:
            raise ApiError(
                409,
                f"the report of run {run_dir.name} is not UTF-8 text; write it again with: "
                f"hyperopt report {run_dir.name}",
                run_dir.name,
            ) from None
        except OSError as exc:
            raise ApiError(
                409, f"cannot read the report of run {run_dir.name}: {exc.strerror or exc}", run_dir.name
            ) from None

    responses: dict[int | str, dict[str, Any]] = {
        **{k: ERRORS[k] for k in (400, 401, 404)},
        409: {**ERRORS[409], "description": "The report file is not UTF-8 text, or cannot be read"},
    }
    app.add_api_route(f"{API}/report", report, methods=["GET"], response_class=HTMLResponse, responses=responses)
    # HEAD: the same answer without the body (the page asks whether a report exists); one operation in the schema.
    app.add_api_route(f"{API}/report", report, methods=["HEAD"], response_class=HTMLResponse, include_in_schema=False)
