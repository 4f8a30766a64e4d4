"""The web page in headless Chromium (Debian's package, driven by Playwright): Start, live table, Stop;
a finished run's history charts, verdict and report link.

The screenshots are kept in the test's tmp dir and copied to tests/artifacts/web-paused.png
and tests/artifacts/web-completed.png.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import read_state
from hyperopt_cli.run import rundir
from server_helpers import free_port, long_config, read_until_serving, spawn_server, stop_server
from system_packages import missing_system_package

pytestmark = pytest.mark.slow

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Nothing reaches outside: no QUIC, no background fetches, no component updates, no sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 90_000


def _playwright() -> Any:
    if not CHROMIUM.exists():
        missing_system_package(
            f"no Chromium at {CHROMIUM}: install Debian's chromium (`make system-deps` does, as root)"
        )
    try:
        from playwright import sync_api
    except ImportError:
        missing_system_package("playwright is not installed: it is in the dev extra (pip install -e '.[dev]')")
    sync_api.expect.set_options(timeout=TIMEOUT_MS)
    return sync_api


def _guard(page: Any, base: str, outside: list[str], errors: list[str]) -> None:
    """Nothing may leave the server; every page error or console error is collected."""

    def route(r: Any) -> None:
        if r.request.url.startswith(base + "/"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    def console(msg: Any) -> None:
        # The page asks HEAD /report to learn whether a report exists; Chromium logs its 404 as an error.
        if msg.type == "error" and "/api/hyperopt/report?" not in (msg.location or {}).get("url", ""):
            errors.append(msg.text)

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", console)


@contextlib.contextmanager
def _guarded_page(sync_api: Any, base: str) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A headless Chromium page that may reach only `base`, with the outside requests and page errors it
    collects; when the block fails, what the page showed goes to tests/artifacts/web-failure.png."""
    outside: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        _guard(page, base, outside, errors)
        try:
            yield page, outside, errors
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "web-failure.png"), full_page=True)
            raise
        browser.close()


def page_url(server: Any) -> str:
    """The URL `serve` printed, with the token it made: the page trades it for a session cookie."""
    url = read_until_serving(server)[-1].split()[1]
    assert "/?token=" in url, url
    return url


def _keep_and_check(shot: Path, outside: list[str], errors: list[str]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    assert not outside, f"the page requested something outside the server: {outside}"
    assert not errors, f"errors in the page: {errors}"


def test_page_starts_a_run_fills_the_table_and_stops_it(tmp_path: Path, runs_dir: Path) -> None:  # noqa: F811
    sync_api = _playwright()
    expect = sync_api.expect

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir, "--config", long_config(tmp_path))
    try:
        with _guarded_page(sync_api, base) as (page, outside, errors):
            page.goto(page_url(server))  # as the user opens it: the printed URL, token and all
            expect(page.locator("#run-status")).to_have_text("idle")
            page.select_option("select[name=mode]", "full")
            page.fill("input[name=max_trials_per_group]", "1000")
            page.fill("input[name=epochs_per_trial]", "2")
            page.click("#start")

            expect(page.locator("#message")).to_contain_text("Started ")
            expect(page.locator("#run-status")).to_have_text("running")
            groups = page.locator("#groups tbody tr")
            from hyperopt_cli.config import GROUPS

            expect(groups).to_have_count(len(GROUPS))
            first = groups.first.locator("td")
            expect(first.nth(0)).to_have_text("features")
            expect(first.nth(1)).to_have_text("running")
            expect(first.nth(2)).to_have_text(re.compile(r"^[1-9]\d*/1000$"))  # finished trials are counted live
            expect(page.locator("#best-params tbody tr")).not_to_have_count(0)
            expect(page.locator("#runs tbody tr")).to_have_count(1)
            expect(first.locator("svg.history circle")).not_to_have_count(0)  # the history chart, live

            page.click("#stop")
            expect(page.locator("#run-status")).to_have_text("paused")
            expect(page.locator("#message")).to_contain_text("paused")
            expect(page.locator("#resume")).to_be_enabled()
            expect(page.locator("#stop")).to_be_disabled()
            shot = tmp_path / "web-paused.png"
            page.screenshot(path=str(shot), full_page=True)
    finally:
        stop_server(server)
    _keep_and_check(shot, outside, errors)
    (run,) = rundir.list_runs(runs_dir)
    assert read_state(run)["status"] == "paused" and rundir.live_owner(run) is None


def test_a_finished_run_shows_history_charts_the_verdict_and_its_report(
    tmp_path: Path,
    runs_dir: Path,  # noqa: F811
) -> None:
    from cli_helpers import tiny
    from hyperopt_cli.report.page import write_report
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    run = runs_dir / "20260101_000000"
    HyperparameterOptimizer(tiny("mode=quick", "max_trials_per_group=4"), run).optimize(threading.Event())
    results = read_results(run)
    sync_api = _playwright()
    expect = sync_api.expect
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir)
    try:
        with _guarded_page(sync_api, base) as (page, outside, errors):
            page.goto(page_url(server))
            expect(page.locator("#run-status")).to_have_text("completed")
            expect(page.locator("#verdict")).to_have_text("Verdict: " + results["verdict"]["wording"])
            chart = page.locator("#groups tbody tr").first.locator("svg.history")
            n_complete = results["group_results"]["learning_rate"]["n_trials"]["complete"]
            expect(chart.locator("circle")).to_have_count(n_complete)
            expect(chart.locator("path.best")).to_have_count(1)
            expect(page.locator("#report")).to_be_hidden()  # no report written yet
            write_report(run)
            expect(page.locator("#report")).to_be_visible()  # the page looks again within ~10 s
            shot = tmp_path / "web-completed.png"
            page.screenshot(path=str(shot), full_page=True)
            with page.context.expect_page() as opened:
                page.click("#report-link")
            report = opened.value
            report.wait_for_load_state()
            expect(report.locator("#verdict .verdict")).to_contain_text(results["verdict"]["wording"])
            expect(report.locator("img[alt^='equity curve']")).to_have_count(1)
    finally:
        stop_server(server)
    _keep_and_check(shot, outside, errors)


def read_results(run: Path) -> dict[str, Any]:
    import json

    return json.loads((run / "results.json").read_text())
