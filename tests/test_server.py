"""The HTTP API through the real app: original payloads, errors, token, and runs shared with the CLI."""

from __future__ import annotations

import ast
import http.client
import json
import math
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from cli_helpers import hyperopt, read_state, spawn, wait_for, wait_running_epoch
from hyperopt_cli.run import rundir
from hyperopt_cli.server.access import bind_error, is_loopback
from hyperopt_cli.server.app import create_app, json_safe, openapi_json
from server_helpers import API, free_port, long_config, spawn_server, stop_server

REPO = Path(__file__).resolve().parents[1]
OPENAPI = REPO / "docs" / "openapi.json"
SEED_SPEC = REPO.parent / "shared" / "spec" / "seed-hyperopt-module.md"
# its client script, verbatim, so a clone anywhere runs the test (the spec sits beside the checkout only here)
SEED_CLIENT = Path(__file__).resolve().parent / "data" / "seed_client.py"


def fake_run(runs: Path, job_id: str, status: str, **state: Any) -> Path:
    """A run directory with just config.yaml and state.json (no process, no studies)."""
    run = runs / job_id
    run.mkdir(parents=True)
    (run / rundir.CONFIG_FILE).write_text("seed: 1\n")
    rundir.write_json(
        run / rundir.STATE_FILE,
        {
            "job_id": job_id,
            "status": status,
            "mode": "quick",
            "progress": {
                "current_group": "learning_rate",
                "current_trial": 3,
                "current_epoch": None,
                "epochs_per_trial": 2,
                "groups_completed": [],
            },
            "groups": {
                "learning_rate": {
                    "status": status,
                    "max_trials": 5,
                    "best_value": 0.4,
                    "best_params": {"learning_rate": 0.001},
                    "n_trials": {"finished": 3},
                }
            },
            **state,
        },
    )
    return run


# --------------------------------------------------------------------------- no run process needed


def test_status_without_runs_is_idle_and_results_404(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir))
    assert client.get(f"{API}/status").json() == {
        "status": "idle",
        "job_id": None,
        "message": f"no runs under {runs_dir}",
    }
    assert client.get(f"{API}/results").status_code == 404
    assert client.get(f"{API}/runs").json() == {"runs_dir": str(runs_dir), "runs": []}
    stop = client.post(f"{API}/stop")
    assert stop.status_code == 409 and stop.json() == {"detail": f"nothing is running under {runs_dir}"}
    resume = client.post(f"{API}/resume")
    assert resume.status_code == 404 and resume.json() == {"detail": f"no runs under {runs_dir}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "status?job_id=20990101_000000", None),
        ("GET", "results?job_id=20990101_000000", None),
        ("POST", "stop", {"job_id": "20990101_000000"}),
        ("POST", "resume", {"job_id": "20990101_000000"}),
    ],
)
def test_unknown_job_id_is_404_naming_it(runs_dir: Path, method: str, path: str, body: Any) -> None:
    fake_run(runs_dir, "20260101_000000", "paused")
    response = TestClient(create_app(runs_dir)).request(method, f"{API}/{path}", json=body)
    assert response.status_code == 404
    assert response.json()["job_id"] == "20990101_000000"
    assert response.json()["detail"].startswith("unknown job id '20990101_000000'")


def test_status_results_and_runs_read_the_run_dirs(runs_dir: Path) -> None:
    fake_run(runs_dir, "20260101_000000", "completed")
    fake_run(runs_dir, "20260102_000000", "paused", elapsed_s=float("nan"))
    client = TestClient(create_app(runs_dir))
    status = client.get(f"{API}/status").json()  # the most recent run
    assert status["job_id"] == "20260102_000000" and status["status"] == "paused"
    assert status["owner_alive"] is False and status["elapsed_s"] is None  # NaN is not JSON: null
    older = client.get(f"{API}/status", params={"job_id": "20260101_000000"}).json()
    assert older["status"] == "completed"
    results = client.get(f"{API}/results").json()
    assert results["complete"] is False and results["best_params"] == {} and results["job_id"] == "20260102_000000"
    assert [r["job_id"] for r in client.get(f"{API}/runs").json()["runs"]] == ["20260101_000000", "20260102_000000"]
    resume = client.post(f"{API}/resume", json={"job_id": "20260101_000000"})
    assert resume.status_code == 409 and resume.json()["detail"].startswith("run 20260101_000000 is already completed")


def test_an_unreadable_run_does_not_hide_the_others(runs_dir: Path) -> None:
    fake_run(runs_dir, "20260101_000000", "paused")
    broken = runs_dir / "20260102_000000"
    broken.mkdir()
    (broken / rundir.CONFIG_FILE).write_text("seed: [unclosed\n")  # and no state.json to fall back on
    rows = TestClient(create_app(runs_dir)).get(f"{API}/runs").json()["runs"]
    assert [(r["job_id"], r["status"]) for r in rows] == [
        ("20260101_000000", "paused"),
        ("20260102_000000", "unreadable"),
    ]
    assert "not valid YAML" in rows[1]["message"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"mode": "sideways"}, "mode", "Input should be"),
        ({"mode": "group"}, "target_group", "mode 'group' needs target_group"),
        ({"target_group": "nope"}, "target_group", "Input should be"),
        ({"epochs_per_trial": 0}, "epochs_per_trial", "greater than or equal to 1"),
        ({"epochs_per_trial": "four"}, "epochs_per_trial", "valid integer"),
        ({"max_trials_per_group": -1}, "max_trials_per_group", "greater than or equal to 1"),
        ({"max_total_hours": 0}, "max_total_hours", "greater than 0"),
        ({"primary_metric": "accuracy"}, "primary_metric", "Input should be"),
        ({"study_name": "../../etc/x"}, "study_name", "should match pattern"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"use_mlflow": "maybe"}, "use_mlflow", "valid boolean"),
        ({"config": "missing.yaml"}, "config", "config file not found"),
        ({"epochs": 4}, "epochs", "Extra inputs are not permitted"),
    ],
)
def test_bad_start_body_is_422_naming_the_field(
    runs_dir: Path, tmp_path: Path, body: dict[str, Any], field: str, message: str
) -> None:
    response = TestClient(create_app(runs_dir, config=long_config(tmp_path))).post(f"{API}/start", json=body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field] and message in error["msg"], error
    assert not runs_dir.exists() or not any(p for p in runs_dir.iterdir() if p.name != ".server"), "no run dir left"


def test_bad_job_id_is_422(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir))
    assert client.get(f"{API}/status", params={"job_id": "../etc"}).json()["detail"][0]["loc"] == ["query", "job_id"]
    assert client.post(f"{API}/stop", json={"job_id": ".."}).json()["detail"][0]["loc"] == ["body", "job_id"]


def test_token_is_checked_on_every_request(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir, token="s3cret"))
    for method, path in [("GET", "/"), ("GET", "/openapi.json"), ("GET", f"{API}/status"), ("POST", f"{API}/stop")]:
        assert client.request(method, path).status_code == 401, path
        assert client.request(method, path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
    ok = client.get(f"{API}/status", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["status"] == "idle"
    assert client.get("/", params={"token": "s3cret"}).status_code == 200  # the page's own URL carries it
    assert client.get(f"{API}/runs", params={"token": "s3cret"}).status_code == 200


@pytest.mark.parametrize(
    ("host", "token", "refused"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("127.0.0.2", None, False),
        ("0.0.0.0", None, True),
        ("192.168.1.5", None, True),
        ("example.org", None, True),
        ("0.0.0.0", "t", False),
    ],
)
def test_non_loopback_bind_needs_a_token(host: str, token: str | None, refused: bool) -> None:
    assert is_loopback(host) is (host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert (bind_error(host, token) is not None) is refused


def test_serve_refuses_any_address_without_a_token(tmp_path: Path) -> None:
    result = hyperopt("serve", "--host", "0.0.0.0", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: --host 0.0.0.0 is not a loopback address; set --token or HYPEROPT_TOKEN to serve on it"
    )


def test_serve_on_a_taken_port_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = hyperopt("serve", "--port", str(port), cwd=tmp_path, timeout=60)
    assert result.returncode == 2  # usage: pick another --port (issue 34)
    assert (
        result.stderr.strip()
        == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; pick another --port"
    )


def test_foreign_host_and_cross_origin_posts_are_refused(runs_dir: Path) -> None:
    client = TestClient(create_app(runs_dir, allowed_hosts=["testserver"]))
    assert client.get(f"{API}/status", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding
    cross = client.post(f"{API}/stop", headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "cross-origin" in cross.json()["detail"]
    same = client.post(f"{API}/stop", headers={"Origin": "http://testserver"})
    assert same.status_code == 409  # got through: nothing is running


def host_header_status(port: int, host_header: str) -> int:
    """GET / from the real server with a chosen Host header (bounded: 10 s)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", "/", skip_host=True)
        connection.putheader("Host", host_header)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_serve_on_loopback_refuses_a_foreign_host_header(tmp_path: Path, runs_dir: Path) -> None:
    """`serve()` itself passes the loopback names to the app (DNS rebinding), not only `create_app`."""
    port = free_port()
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir, "--no-token")
    try:
        assert host_header_status(port, f"evil.example:{port}") == 400
        assert host_header_status(port, "127.0.0.1.nip.io") == 400
        for own in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert host_header_status(port, own) == 200, own
    finally:
        stop_server(server)


def test_page_is_served_and_loads_nothing_from_elsewhere(runs_dir: Path) -> None:
    page = TestClient(create_app(runs_dir)).get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element_id in ("start", "stop", "resume", "groups", "best-params", "runs", "run-status"):
        assert f'id="{element_id}"' in page.text
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page.text), "the page must not load remote assets"


def test_groups_are_served_and_not_copied_into_the_page(runs_dir: Path) -> None:
    from hyperopt_cli.config import GROUPS, MODES, default_search_space

    client = TestClient(create_app(runs_dir))
    answer = client.get(f"{API}/groups").json()
    assert [g["name"] for g in answer["groups"]] == list(GROUPS)
    assert answer["groups"][0] == {"name": "features", "params": list(default_search_space()["features"])}
    assert answer["modes"] == list(MODES)
    page = client.get("/").text
    assert 'api("GET", "groups")' in page
    assert not any(group in page for group in GROUPS), "the page builds its group choices from GET /groups"


def test_openapi_schema_is_committed() -> None:
    served = openapi_json(create_app())
    assert OPENAPI.read_text(encoding="utf-8") == served, (
        "docs/openapi.json is stale; regenerate: .venv/bin/python -m hyperopt_cli.server.app --openapi docs/openapi.json"
    )
    paths = json.loads(served)["paths"]
    assert {f"{API}/{p}" for p in ("start", "stop", "resume", "status", "results", "runs", "groups")} <= set(paths)


def test_no_server_module_imports_the_app() -> None:
    """app.py is the top of server/: a module under it that imports app makes a cycle (issue 25, item 21)."""
    folder = REPO / "src" / "hyperopt_cli" / "server"
    for path in folder.glob("*.py"):
        if path.name == "app.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "hyperopt_cli.server.app", f"{path.name} imports server.app"
                assert not (node.module == "hyperopt_cli.server" and any(a.name == "app" for a in node.names)), path


def test_json_safe_replaces_non_finite_floats() -> None:
    assert json_safe({"a": [1.0, math.inf, {"b": math.nan}], "c": (1, "x", None, True)}) == {
        "a": [1.0, None, {"b": None}],
        "c": [1, "x", None, True],
    }


# --------------------------------------------------------------------------- real run processes


def test_a_run_process_that_fails_is_answered_from_its_error_file(tmp_path: Path, runs_dir: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2020-01-01 00:00,1,2,0.5,abc,1\n")
    client = TestClient(create_app(runs_dir, config=long_config(tmp_path, data__path=str(bad)), start_wait_s=120))
    response = client.post(f"{API}/start", json={})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "config"] and error["msg"].startswith(f"{bad}: ") and "abc" in error["msg"]
    (error_file,) = (runs_dir / ".server").glob("*.error.json")
    assert json.loads(error_file.read_text()) == {"error": error["msg"], "exit_code": 4}
    assert not any(p for p in runs_dir.iterdir() if p.name != ".server"), "no run dir left"


@pytest.mark.slow
def test_start_status_stop_resume_results_with_the_original_fields(tmp_path: Path, runs_dir: Path) -> None:
    # start_wait_s: answer only once the run has measured its speed, however loaded the machine
    client = TestClient(create_app(runs_dir, config=long_config(tmp_path), start_wait_s=120))
    response = client.post(
        f"{API}/start",
        json={"mode": "full", "epochs_per_trial": 2, "max_trials_per_group": 50, "seed": 3, "use_mlflow": False},
    )
    assert response.status_code == 200, response.text
    started = response.json()
    job = started["job_id"]
    assert started["success"] is True and started["status"] in ("starting", "running")
    from hyperopt_cli.config import GROUPS

    assert started["time_estimate"]["total_trials"] == len(GROUPS) * 50  # every group (features first)
    assert isinstance(started["time_estimate"]["estimated_hours"], float)
    assert rundir.live_owner(runs_dir / job) is not None, "start answers once the run process owns its directory"
    frozen = yaml.safe_load((runs_dir / job / rundir.CONFIG_FILE).read_text())
    assert (frozen["epochs_per_trial"], frozen["max_trials_per_group"], frozen["seed"]) == (2, 50, 3)
    assert frozen["model"]["hidden_size"] == 4, "fields left out keep the server's --config"

    wait_for(
        lambda: (client.get(f"{API}/status").json().get("progress") or {}).get("current_epoch") is not None,
        what="a reported epoch",
    )
    status = client.get(f"{API}/status").json()
    assert (status["job_id"], status["status"], status["owner_alive"]) == (job, "running", True)
    assert status["progress"]["current_group"] == "features" and "groups" in status and "config" not in status

    second = client.post(f"{API}/start", json={"mode": "quick"})
    assert second.status_code == 409 and second.json()["job_id"] == job

    stopped = client.post(f"{API}/stop").json()
    assert stopped["success"] is True and stopped["status"] == "paused" and stopped["can_resume"] is True
    assert stopped["job_id"] == job and "checkpoint" in stopped["message"]
    status = client.get(f"{API}/status").json()
    assert status["status"] == "paused" and status["owner_alive"] is False
    assert client.post(f"{API}/stop").status_code == 409

    resumed = client.post(f"{API}/resume").json()
    assert resumed["success"] is True and resumed["status"] == "resumed" and resumed["job_id"] == job
    assert set(resumed["progress"]) == {"current_group", "current_trial", "groups_completed"}
    assert resumed["progress"]["current_group"] == "features"
    assert rundir.live_owner(runs_dir / job) is not None
    assert client.get(f"{API}/status").json()["status"] == "running", "resume answers once the run runs again"
    assert client.post(f"{API}/resume").status_code == 409

    shell_stop = hyperopt("stop", runs_dir / job, cwd=tmp_path, timeout=120)  # the CLI stops what HTTP started
    assert shell_stop.returncode == 0, shell_stop.stderr
    results = client.get(f"{API}/results", params={"job_id": job}).json()
    assert results["job_id"] == job and results["status"] == "paused" and results["complete"] is False
    assert "best_params" in results and "features" in results["group_results"]
    log = (runs_dir / ".server" / f"{job}.log").read_text()
    assert "Run directory:" in log and "Resuming:" in log


@pytest.mark.slow
def test_a_start_that_has_not_measured_yet_answers_from_the_config_and_can_be_stopped(
    tmp_path: Path, runs_dir: Path
) -> None:
    client = TestClient(create_app(runs_dir, config=long_config(tmp_path), start_wait_s=0))
    started = client.post(f"{API}/start", json={"mode": "quick", "max_trials_per_group": 40}).json()
    assert started["status"] == "starting"
    assert started["time_estimate"] == {
        "estimated_hours": None,
        "total_trials": 40,
        "based_on": "config (the run has not measured its speed yet)",
    }
    assert client.get(f"{API}/status").json()["job_id"] == started["job_id"]
    second = client.post(f"{API}/start", json={})
    assert second.status_code == 409 and second.json()["job_id"] == started["job_id"], "409 while starting too"
    stopped = client.post(f"{API}/stop").json()  # waits for the process to own the run, then stops it
    assert (stopped["job_id"], stopped["status"]) == (started["job_id"], "paused")
    assert read_state(runs_dir / started["job_id"])["status"] == "paused"


@pytest.mark.slow
def test_runs_outlive_the_server_and_shell_runs_are_stopped_over_http(tmp_path: Path, runs_dir: Path) -> None:
    import requests

    cfg = long_config(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}{API}"
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir, "--config", cfg, "--no-token")
    try:
        job = requests.post(f"{url}/start", json={"mode": "quick"}, timeout=60).json()["job_id"]
    finally:
        output = stop_server(server)
    assert "Serving http://127.0.0.1" in output
    assert rundir.live_owner(runs_dir / job) is not None, "stopping the server must not stop the run"

    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir, "--config", cfg, "--no-token")
    shell = None
    try:
        status = requests.get(f"{url}/status", timeout=30).json()
        assert (status["job_id"], status["status"]) == (job, "running"), "a new server finds the running run"
        assert requests.post(f"{url}/stop", timeout=90).json()["status"] == "paused"

        shell = spawn("start", "--config", cfg, "--mode", "quick", "--runs-dir", runs_dir, cwd=tmp_path)
        wait_for(lambda: len(rundir.list_runs(runs_dir)) == 2, what="the shell run's directory")
        shell_run = rundir.list_runs(runs_dir)[-1]
        wait_running_epoch(shell_run, shell)
        conflict = requests.post(f"{url}/start", json={}, timeout=30)
        assert conflict.status_code == 409 and conflict.json()["job_id"] == shell_run.name
        stopped = requests.post(f"{url}/stop", json={"job_id": shell_run.name}, timeout=90).json()
        assert stopped["status"] == "paused"
        assert shell.wait(timeout=60) == 130, "the shell's `hyperopt start` ends as if Ctrl-C was pressed"
        assert read_state(shell_run)["status"] == "paused"
    finally:
        if shell is not None and shell.poll() is None:
            shell.kill()
        stop_server(server)


def spec_client_code(spec: Path) -> str:
    """The client of the original module's documentation (section "Пример использования → API")."""
    text = spec.read_text(encoding="utf-8")
    return text[text.index("### API") :].split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(not SEED_SPEC.is_file(), reason=f"no spec at {SEED_SPEC} to compare tests/data's copy with")
def test_the_shipped_seed_client_is_the_specs() -> None:
    assert SEED_CLIENT.read_text(encoding="utf-8") == spec_client_code(SEED_SPEC)


@pytest.mark.slow
def test_the_seed_client_runs_unchanged_but_for_the_port(tmp_path: Path, runs_dir: Path) -> None:
    code = SEED_CLIENT.read_text(encoding="utf-8")
    assert code.count("http://localhost:8000/") == 5
    port = free_port()
    server = spawn_server(tmp_path, port, "--runs-dir", runs_dir, "--config", long_config(tmp_path), "--no-token")
    try:
        client = subprocess.run(
            [sys.executable, "-c", code.replace("localhost:8000", f"localhost:{port}")],
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        stop_server(server)
    assert client.returncode == 0, client.stderr
    assert isinstance(ast.literal_eval(client.stdout.strip()), dict)  # print(results["best_params"])
    (run,) = rundir.list_runs(runs_dir)
    wait_for(lambda: read_state(run).get("sessions") == 2, what="the resumed session")  # started, stopped, resumed
    state = read_state(run)
    assert state["mode"] == "full"
    assert state["config"]["epochs_per_trial"] == 4 and state["config"]["max_trials_per_group"] == 15
