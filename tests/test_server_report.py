"""GET/HEAD /api/hyperopt/report: the run's report as `hyperopt report` wrote it, behind the same guards."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from hyperopt_cli.run import rundir
from hyperopt_cli.server.app import create_app

API = "/api/hyperopt"
PAGE = "<!DOCTYPE html><html><body><h1>hyperopt run</h1><p class=verdict>no evidence</p></body></html>\n"


def fake_run(runs: Path, job_id: str, report: bool) -> Path:
    run = runs / job_id
    run.mkdir(parents=True)
    (run / rundir.CONFIG_FILE).write_text("seed: 1\n")
    rundir.write_json(run / rundir.STATE_FILE, {"job_id": job_id, "status": "completed", "mode": "quick"})
    if report:
        (run / "report").mkdir()
        (run / "report" / "report.html").write_text(PAGE, encoding="utf-8")
    return run


def test_report_is_served_for_a_job_id_or_the_latest_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    fake_run(runs, "20260101_000000", report=True)
    fake_run(runs, "20260102_000000", report=False)
    client = TestClient(create_app(runs))
    got = client.get(f"{API}/report?job_id=20260101_000000")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html") and got.text == PAGE
    assert client.head(f"{API}/report?job_id=20260101_000000").status_code == 200
    latest = client.get(f"{API}/report")  # the latest run has none yet
    assert latest.status_code == 404
    assert latest.json() == {
        "detail": "run 20260102_000000 has no report yet; write it with: hyperopt report 20260102_000000",
        "job_id": "20260102_000000",
    }
    assert client.head(f"{API}/report").status_code == 404
    unknown = client.get(f"{API}/report?job_id=nope")
    assert unknown.status_code == 404 and "unknown job id 'nope'" in unknown.json()["detail"]
    assert client.get(f"{API}/report?job_id=../etc").status_code == 422  # a plain name only
    assert TestClient(create_app(tmp_path / "empty")).get(f"{API}/report").status_code == 404


def test_report_needs_the_token_when_the_server_has_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    fake_run(runs, "20260101_000000", report=True)
    client = TestClient(create_app(runs, token="s3cret"))
    assert client.get(f"{API}/report").status_code == 401
    assert client.get(f"{API}/report?token=s3cret").status_code == 401  # never a token in an API URL
    page = client.get("/?token=s3cret", follow_redirects=False)  # the page trades it for a cookie...
    assert page.status_code == 303 and "hyperopt_session=" in page.headers["set-cookie"]
    assert client.get(f"{API}/report").text == PAGE  # ...which the page's report link then carries
    client.cookies.clear()
    assert client.get(f"{API}/report", headers={"Authorization": "Bearer s3cret"}).status_code == 200
