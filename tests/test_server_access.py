"""Who may use `hyperopt serve` (server/access.py): the token it makes, --no-token, session cookies,
and the tokens and token files it refuses (issue 25, items 12, 13, 19)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli_helpers import env, hyperopt
from hyperopt_cli.server.access import MIN_TOKEN_CHARS, SESSION_MAX_AGE_S, Sessions, read_token_file
from hyperopt_cli.server.app import create_app
from hyperopt_cli.server.guards import SESSION_COOKIE
from server_helpers import API, free_port, read_until_serving, spawn_server, stop_server

TOKEN = "a-token-of-24-characters"


def http_status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # follows the page's 303
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


# --------------------------------------------------------------------------- 12: a token unless --no-token


def test_serve_makes_a_token_and_prints_the_page_url_with_it(tmp_path: Path, runs_dir: Path) -> None:
    port = free_port()
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir)
    try:
        line = read_until_serving(server)[-1]
        found = re.match(rf"Serving http://127\.0\.0\.1:{port}/\?token=([A-Za-z0-9_-]{{32}}) over ", line)
        assert found, line
        token = found.group(1)
        base = f"http://127.0.0.1:{port}"
        assert http_status(f"{base}{API}/status") == 401, "no token, no answer"
        assert http_status(f"{base}/") == 401
        assert http_status(f"{base}{API}/status", {"Authorization": f"Bearer {token}"}) == 200
        assert http_status(f"{base}{API}/status", {"Authorization": "Bearer " + "x" * 32}) == 401
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with browser.open(found.group(0).split()[1], timeout=30) as page:  # the printed URL, as a browser opens it
            assert page.status == 200 and page.url == f"{base}/", "a clean URL after the token was traded"
        with browser.open(f"{base}{API}/status", timeout=30) as status:  # the session cookie, named by the port
            assert status.status == 200
    finally:
        stop_server(server)


def test_no_token_is_asked_for_explicitly_and_said_aloud(tmp_path: Path, runs_dir: Path) -> None:
    port = free_port()
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir, "--no-token")
    try:
        *before, line = read_until_serving(server)
        assert line.startswith(f"Serving http://127.0.0.1:{port}/ over ")
        assert "No token (--no-token): every user of this machine can start, stop and read runs" in before
        assert http_status(f"http://127.0.0.1:{port}{API}/status") == 200
    finally:
        stop_server(server)


def test_a_users_token_is_not_printed(tmp_path: Path, runs_dir: Path) -> None:
    port = free_port()
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir, "--token", TOKEN)
    try:
        output = read_until_serving(server)
    finally:
        stop_server(server)
    assert output == [f"Serving http://127.0.0.1:{port}/ over {runs_dir} (0 runs)"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--no-token", "--token", TOKEN],
            "Error: --no-token contradicts --token-file/--token/HYPEROPT_TOKEN; give one of them",
        ),
        (
            ["--host", "0.0.0.0", "--no-token"],
            "Error: --host 0.0.0.0 is not a loopback address; set --token or HYPEROPT_TOKEN to serve on it",
        ),
    ],
)
def test_no_token_is_refused_where_it_cannot_hold(tmp_path: Path, args: list[str], message: str) -> None:
    result = hyperopt("serve", *args, cwd=tmp_path, timeout=30)
    assert (result.returncode, result.stderr.strip()) == (2, message)


# --------------------------------------------------------------------------- 13: the cookie is a session, not the token


def test_the_page_trades_the_token_for_a_session_cookie_with_a_max_age(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir, token=TOKEN))
    first = client.get("/", params={"token": TOKEN}, follow_redirects=False)
    cookie = first.headers["set-cookie"]
    assert first.status_code == 303 and cookie.startswith(f"{SESSION_COOKIE}=")
    assert TOKEN not in cookie, "another service on this host would receive the cookie: it must not hold the token"
    assert f"Max-Age={SESSION_MAX_AGE_S}" in cookie
    assert client.get(f"{API}/status").status_code == 200  # the session cookie now


def test_the_token_in_a_cookie_opens_nothing(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir, token=TOKEN))
    for name in (SESSION_COOKIE, "hyperopt_token"):
        client.cookies.set(name, TOKEN)
        assert client.get(f"{API}/status").status_code == 401, name
        client.cookies.clear()


def test_the_session_cookie_is_named_by_port_so_two_servers_keep_theirs(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir, token=TOKEN), base_url="http://127.0.0.1:8123")
    cookie = client.get("/", params={"token": TOKEN}, follow_redirects=False).headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}_8123=")


def test_a_session_ends_after_its_max_age() -> None:
    sessions = Sessions(max_age_s=0.2)
    session = sessions.new()
    assert sessions.valid(session) and not sessions.valid("made-up") and not sessions.valid(None)
    time.sleep(0.3)
    assert not sessions.valid(session)


# --------------------------------------------------------------------------- 19: weak tokens, open token files


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_token_file_other_users_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    token_file = private_file(tmp_path / "token", TOKEN + "\n", mode)
    result = hyperopt("serve", "--token-file", token_file, cwd=tmp_path, timeout=30)
    assert result.returncode == 3
    assert result.stderr.strip() == (
        f"Error: the token file {token_file} is open to other users (mode {mode:03o}); "
        f"make it private: chmod 600 {token_file}"
    )


@pytest.mark.parametrize("how", ["--token", "env", "--token-file"])
def test_a_short_token_is_refused(tmp_path: Path, how: str) -> None:
    short = "x" * (MIN_TOKEN_CHARS - 1)
    args: list[str | Path] = ["serve"]
    extra_env = None
    if how == "--token":
        args += ["--token", short]
    elif how == "env":
        extra_env = {"HYPEROPT_TOKEN": short}
    else:
        args += ["--token-file", private_file(tmp_path / "token", short + "\n")]
    result = subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", *map(str, args)],
        cwd=tmp_path,
        env={**env(), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert (
        line.startswith("Error: the token from ")
        and f"has {MIN_TOKEN_CHARS - 1} characters; use at least {MIN_TOKEN_CHARS}" in line
    )


def test_a_private_token_file_with_a_long_token_is_read(tmp_path: Path) -> None:
    assert read_token_file(private_file(tmp_path / "token", f"  {TOKEN}  \nsecond line\n")) == TOKEN
