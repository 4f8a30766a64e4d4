"""The HTTP API as an attacker and a careless user meet it (issue 14, items 1-6)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from fastapi.testclient import TestClient

from cli_helpers import TINY_CONFIG, env
from hyperopt_cli.core.storage_kind import mask_url
from hyperopt_cli.run import rundir
from hyperopt_cli.server.access import read_token_file
from hyperopt_cli.server.app import create_app
from hyperopt_cli.server.configs import ConfigShelf
from hyperopt_cli.server.guards import MAX_BODY_BYTES, SESSION_COOKIE
from server_helpers import API, free_port, spawn_server, stop_server
from test_hardening_input import billion_laughs

SECRET = "root:$6$SECRETHASH:19000:0:99999:7:::"


@pytest.fixture
def shelf(tmp_path: Path) -> Path:
    """The server's configs directory, with one good config."""
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    return folder


def client_for(runs: Path, shelf: Path, **kwargs: Any) -> TestClient:
    return TestClient(create_app(runs, configs_dir=shelf, **kwargs))


def config_error(response: Any) -> str:
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "config"], error
    return str(error["msg"])


# --------------------------------------------------------------------------- 1: config names, never paths


@pytest.mark.parametrize(
    "name",
    ["ABSOLUTE", "../outside.yaml", "~/outside.yaml", "outside", "./tiny.yaml", "configs/tiny.yaml", "tiny.yaml\x00"],
)
def test_a_request_cannot_name_a_file_outside_the_configs_directory(
    tmp_path: Path, runs_dir: Path, shelf: Path, name: str
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"{SECRET}: 1\n")  # a config that would be "unknown config key '<the secret>'"
    name = str(outside) if name == "ABSOLUTE" else name
    response = client_for(runs_dir, shelf).post(f"{API}/start", json={"config": name})
    assert response.status_code == 422, response.text
    assert "SECRETHASH" not in response.text
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_existence_of_a_file_cannot_be_probed(tmp_path: Path, runs_dir: Path, shelf: Path) -> None:
    client = client_for(runs_dir, shelf)
    (tmp_path / "passwd").write_text(f"{SECRET}: 1\n")  # beside the configs directory, not in it
    there = client.post(f"{API}/start", json={"config": "passwd"}).json()
    missing = client.post(f"{API}/start", json={"config": "no-such-file"}).json()
    assert there["detail"][0]["msg"] == missing["detail"][0]["msg"]
    assert (
        client.post(f"{API}/start", json={"config": "/etc/passwd"}).json()["detail"][0]["type"]
        == "string_pattern_mismatch"
    )


def test_a_config_on_the_shelf_is_used_by_its_name(runs_dir: Path, shelf: Path) -> None:
    (shelf / "bad.yml").write_text("epochs_per_trial: 0\n")
    client = client_for(runs_dir, shelf)
    for name in ("bad", "bad.yml"):  # refused by the config's own rule: so the shelf file was read
        response = client.post(f"{API}/start", json={"config": name})
        assert response.status_code == 422 and "epochs_per_trial must be in [1, 100000]" in response.text, response.text
    assert ConfigShelf(shelf).find("tiny") == shelf / "tiny.yaml"
    assert ConfigShelf(shelf).names() == ["bad.yml", "tiny.yaml"]


# --------------------------------------------------------------------------- 2: bombs, echoes, env, file modes


def test_an_alias_bomb_on_the_shelf_is_a_small_422(runs_dir: Path, shelf: Path) -> None:
    (shelf / "bomb.yaml").write_text(billion_laughs())
    response = client_for(runs_dir, shelf).post(f"{API}/start", json={"config": "bomb"})
    assert "expands to more than 10000 values" in config_error(response)
    assert len(response.content) < 1000


def test_a_request_value_cannot_carry_an_environment_variable(runs_dir: Path, shelf: Path) -> None:
    """No request field reaches storage_url, and the one free-text field refuses `$`."""
    client = client_for(runs_dir, shelf)
    response = client.post(f"{API}/start", json={"study_name": "${HOME}"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "study_name"]
    response = client.post(f"{API}/start", json={"storage_url": "sqlite:///${HOME}/x.db"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "extra_forbidden"


def test_a_failed_child_answers_a_masked_bounded_line_and_its_files_are_private(runs_dir: Path, shelf: Path) -> None:
    """The child fails opening a database: the password is masked in the answer; logs are owner-only."""
    (shelf / "db.yaml").write_text(
        yaml.safe_dump({**TINY_CONFIG, "storage_url": "nosuchdialect://bob:hunter2@127.0.0.1:1/db?password=hunter3"})
    )
    client = client_for(runs_dir, shelf, start_wait_s=120)
    response = client.post(f"{API}/start", json={"config": "db"})
    assert response.status_code in (422, 500), response.text
    assert "hunter2" not in response.text and "hunter3" not in response.text
    log_dir = runs_dir / ".server"
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    for path in log_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert "hunter2" not in path.read_text(), path


# --------------------------------------------------------------------------- 3: cross-site requests


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Origin": "null"}, None, 403),
        ({"Origin": "http://evil.example"}, None, 403),
        ({"Sec-Fetch-Site": "cross-site"}, None, 403),
        ({"Content-Type": "text/plain"}, b"", 415),
        ({"Content-Type": "text/plain"}, b'{"job_id": "x"}', 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"job_id=x", 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--", 415),
        ({}, b'{"job_id": "x"}', 415),  # a body must say it is JSON
    ],
)
def test_posts_a_page_of_another_site_could_send_are_refused(
    runs_dir: Path, shelf: Path, headers: dict[str, str], body: bytes | None, status: int
) -> None:
    client = client_for(runs_dir, shelf)
    for path in ("stop", "resume", "start"):
        response = client.post(f"{API}/{path}", headers=headers, content=body)
        assert response.status_code == status, (path, response.text)


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}])
def test_same_origin_and_non_browser_posts_get_through(runs_dir: Path, shelf: Path, headers: dict[str, str]) -> None:
    client = client_for(runs_dir, shelf)
    assert client.post(f"{API}/stop", headers=headers).status_code == 409  # bodiless, as the original client sends
    assert client.post(f"{API}/stop", headers=headers, json={}).status_code == 409
    assert (
        client.post(
            f"{API}/stop", headers={**headers, "Content-Type": "application/json; charset=utf-8"}, content=b"{}"
        ).status_code
        == 409
    )


def test_the_page_cannot_be_framed_and_runs_only_its_own_script(runs_dir: Path, shelf: Path) -> None:
    page = client_for(runs_dir, shelf).get("/")
    assert page.headers["x-frame-options"] == "DENY"
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    for tag in ("script", "style"):
        for block in re.findall(rf"<{tag}>(.*?)</{tag}>", page.text, flags=re.DOTALL):
            digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp, tag


# --------------------------------------------------------------------------- 4: request size


def test_a_body_over_64_kib_is_413(runs_dir: Path, shelf: Path) -> None:
    client = client_for(runs_dir, shelf)
    huge = json.dumps({"study_name": "x" * (5 << 20)}).encode()
    response = client.post(f"{API}/start", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json() == {
        "detail": f"request body larger than {MAX_BODY_BYTES} bytes"
    }

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"study_name": "'
        for _ in range(100):
            yield b"x" * 4096
        yield b'"}'

    streamed = client.post(f"{API}/start", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text


def test_a_long_field_is_not_echoed_back_whole(runs_dir: Path, shelf: Path) -> None:
    response = client_for(runs_dir, shelf).post(f"{API}/start", json={"study_name": "y" * 60_000})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "study_name"] and len(error["input"]) <= 80 and len(response.content) < 1000


# --------------------------------------------------------------------------- 5: one unreadable run


def fake_run(runs: Path, job_id: str, state: Any = None) -> Path:
    run = runs / job_id
    run.mkdir(parents=True)
    (run / rundir.CONFIG_FILE).write_text(yaml.safe_dump({**TINY_CONFIG, "mode": "quick"}))
    if state is not None:
        (run / rundir.STATE_FILE).write_text(json.dumps(state))
    return run


def test_an_unreadable_run_is_listed_with_its_reason_and_the_others_still_answer(runs_dir: Path, shelf: Path) -> None:
    fake_run(runs_dir, "20260101_000000", {"status": "paused", "job_id": "20260101_000000", "groups": {}})
    fake_run(runs_dir, "20260102_000000", {"status": "paused", "groups": "all of them"})
    empty_db = fake_run(runs_dir, "20260103_000000") / "ml_hyperopt_learning_rate.db"
    empty_db.touch()
    client = client_for(runs_dir, shelf)
    rows = client.get(f"{API}/runs").json()["runs"]
    assert [(r["job_id"], r["status"]) for r in rows] == [
        ("20260101_000000", "paused"),
        ("20260102_000000", "unreadable"),
        ("20260103_000000", "paused"),
    ]
    assert "'groups' must be an object or null, got a string" in rows[1]["message"]
    assert empty_db.stat().st_size == 0, "listing runs wrote into a study file"
    broken = client.get(f"{API}/status", params={"job_id": "20260102_000000"})
    assert broken.status_code == 409 and "'groups' must be an object" in broken.json()["detail"]
    assert client.get(f"{API}/results", params={"job_id": "20260102_000000"}).status_code == 409
    assert client.get(f"{API}/status").json()["job_id"] == "20260103_000000"
    assert client.get(f"{API}/results", params={"job_id": "20260101_000000"}).status_code == 200


# --------------------------------------------------------------------------- 6: tokens and URLs


def test_the_page_turns_a_url_token_into_a_cookie_and_a_clean_url(runs_dir: Path, shelf: Path) -> None:
    client = client_for(runs_dir, shelf, token="s3cret")
    first = client.get("/", params={"token": "s3cret", "job": "x"}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/?job=x"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/").status_code == 200  # the cookie now
    assert client.get(f"{API}/status").status_code == 200


def test_the_api_never_takes_a_token_from_the_url(runs_dir: Path, shelf: Path) -> None:
    client = client_for(runs_dir, shelf, token="s3cret")
    assert client.get(f"{API}/status", params={"token": "s3cret"}).status_code == 401
    assert client.get("/", params={"token": "wrong"}, follow_redirects=False).status_code == 401
    assert client.get(f"{API}/status", headers={"Authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql://bob:s3cret@db:5432/x?password=p4ss&sslmode=require",
            "postgresql://bob:***@db:5432/x?password=***&sslmode=require",
        ),
        ("mysql+pymysql://bob@db/x?passwd=p4ss", "mysql+pymysql://bob@db/x?passwd=***"),
        ("postgresql://bob@db/x?sslmode=require", "postgresql://bob@db/x?sslmode=require"),
        (
            "cannot reach postgresql://bob:s3cret@db/x?password=p4ss (timeout)",
            "cannot reach postgresql://bob:***@db/x?password=*** (timeout)",
        ),
    ],
)
def test_query_string_passwords_are_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_the_token_can_come_from_a_file_and_not_the_command_line(tmp_path: Path, runs_dir: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("fr0m-a-file-0123456789\n")
    token_file.chmod(0o600)
    assert read_token_file(token_file) == "fr0m-a-file-0123456789"
    port = free_port()
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir, "--token-file", token_file)
    try:
        code = (
            "import urllib.request as u, sys\n"
            f"r = u.Request('http://127.0.0.1:{port}{API}/status', headers={{'Authorization': sys.argv[1]}})\n"
            "try: print(u.urlopen(r, timeout=10).status)\n"
            "except Exception as e: print(e.code)\n"
        )
        answers = [
            subprocess.run(
                [sys.executable, "-c", code, auth], capture_output=True, text=True, env=env(), timeout=60
            ).stdout.strip()
            for auth in ("Bearer fr0m-a-file-0123456789", "Bearer nope")
        ]
    finally:
        stop_server(server)
    assert answers == ["200", "401"]


def test_a_config_named_by_a_request_cannot_read_the_server_environment(runs_dir: Path, shelf: Path) -> None:
    (shelf / "env.yaml").write_text(yaml.safe_dump({**TINY_CONFIG, "storage_url": "sqlite:///${HOME}/x.db"}))
    response = client_for(runs_dir, shelf).post(f"{API}/start", json={"config": "env"})
    assert "env.yaml uses ${VAR} in storage_url" in config_error(response)
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


# --------------------------------------------------------------------------- issue 25, 14: non-finite numbers


@pytest.mark.parametrize(
    "body",
    [
        b'{"max_total_hours": NaN}',
        b'{"seed": Infinity}',
        b'{"max_total_hours": 1e400}',
        b'{"mode": -Infinity}',
        b'{"job_id": NaN}',
        b"NaN",
        b'{"config": [1e999]}',
    ],
)
@pytest.mark.parametrize("path", ["start", "stop", "resume"])
def test_non_finite_numbers_in_a_body_are_422(runs_dir: Path, shelf: Path, body: bytes, path: str) -> None:
    """Python's JSON reads NaN, Infinity and 1e400 as floats that the error answer could not carry back (500)."""
    client = TestClient(create_app(runs_dir, configs_dir=shelf), raise_server_exceptions=False)
    response = client.post(f"{API}/{path}", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text


# --------------------------------------------------------------------------- issue 25, 15: two servers, one folder


def test_two_servers_over_one_runs_folder_start_one_run(tmp_path: Path, runs_dir: Path, shelf: Path) -> None:
    """Two apps (as two `serve` processes would be) get a start at the same moment: one starts, one is 409."""
    apps = [create_app(runs_dir, configs_dir=shelf, start_wait_s=0) for _ in range(2)]
    gate = threading.Barrier(2)
    answers: list[Any] = [None, None]

    def start(i: int) -> None:
        client = TestClient(apps[i])
        gate.wait()
        answers[i] = client.post(f"{API}/start", json={"config": "tiny"})

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 409], [a.text for a in answers]
        started = next(a.json()["job_id"] for a in answers if a.status_code == 200)
        assert next(a.json()["job_id"] for a in answers if a.status_code == 409) == started
    finally:  # the run processes may still be loading, so no run owner to stop yet: end them
        for child in psutil.Process().children():
            if str(runs_dir) in " ".join(child.cmdline()):
                child.terminate()
                child.wait(60)


# --------------------------------------------------------------------------- issue 25, 16: symlinks out of a folder


def test_a_run_folder_symlinked_from_elsewhere_is_not_listed_served_or_latest(
    tmp_path: Path, runs_dir: Path, shelf: Path
) -> None:
    fake_run(runs_dir, "20260101_000000", {"status": "paused", "job_id": "20260101_000000", "groups": {}})
    elsewhere = fake_run(
        tmp_path / "someone-else",
        "20991231_000000",
        {"status": "paused", "job_id": "20991231_000000", "groups": {}, "data_path": SECRET},
    )
    (elsewhere / "report").mkdir()
    (elsewhere / "report" / "report.html").write_text(SECRET)
    (runs_dir / "20991231_000000").symlink_to(elsewhere, target_is_directory=True)
    client = client_for(runs_dir, shelf)
    assert [r["job_id"] for r in client.get(f"{API}/runs").json()["runs"]] == ["20260101_000000"]
    assert client.get(f"{API}/status").json()["job_id"] == "20260101_000000", "the link is not the latest run"
    assert client.get(f"{API}/results").json()["job_id"] == "20260101_000000"
    for path in ("status", "results", "report"):
        response = client.get(f"{API}/{path}", params={"job_id": "20991231_000000"})
        assert response.status_code == 404 and SECRET not in response.text, path
    assert client.post(f"{API}/resume", json={"job_id": "20991231_000000"}).status_code == 404


def test_a_run_file_or_report_symlinked_out_of_its_run_is_not_read(tmp_path: Path, runs_dir: Path, shelf: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(f"{SECRET}\n")
    run = fake_run(runs_dir, "20260101_000000", {"status": "paused", "job_id": "20260101_000000", "groups": {}})
    (run / "report").mkdir()
    (run / "report" / "report.html").symlink_to(secret)
    (run / rundir.CONFIG_FILE).unlink()
    (run / rundir.CONFIG_FILE).symlink_to(secret)
    client = client_for(runs_dir, shelf)
    report = client.get(f"{API}/report")
    assert report.status_code == 404 and SECRET not in report.text
    (row,) = client.get(f"{API}/runs").json()["runs"]
    assert row["status"] == "unreadable" and "points outside the run directory" in row["message"]
    for path in ("status", "results"):
        response = client.get(f"{API}/{path}")
        assert response.status_code == 409 and SECRET not in response.text, path


def test_a_report_that_is_not_utf8_is_a_clean_409(runs_dir: Path, shelf: Path) -> None:
    run = fake_run(runs_dir, "20260101_000000", {"status": "completed", "job_id": "20260101_000000", "groups": {}})
    (run / "report").mkdir()
    (run / "report" / "report.html").write_bytes(b"<html>\xff\xfe</html>")
    response = client_for(runs_dir, shelf).get(f"{API}/report")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "the report of run 20260101_000000 is not UTF-8 text; write it again with: "
        "hyperopt report 20260101_000000",
        "job_id": "20260101_000000",
    }


def test_a_config_symlinked_from_outside_the_shelf_is_not_on_it(tmp_path: Path, runs_dir: Path, shelf: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"{SECRET}: 1\n")  # read, it would be "unknown config key '<the secret>'"
    (shelf / "x.yaml").symlink_to(outside)
    (shelf / "same.yaml").symlink_to(shelf / "tiny.yaml")  # a link that stays on the shelf is fine
    client = client_for(runs_dir, shelf)
    message = config_error(client.post(f"{API}/start", json={"config": "x"}))
    assert "SECRETHASH" not in message and message.startswith("config file not found")
    assert ConfigShelf(shelf).names() == ["same.yaml", "tiny.yaml"]
