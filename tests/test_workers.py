"""Several worker processes on one run, coordinated only through the storage."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from cli_helpers import hyperopt, load_run_study, read_state, spawn, wait_for, write_config
from hyperopt_cli.config import GROUPS
from hyperopt_cli.run import rundir
from hyperopt_cli.search.storage import mask_url
from system_packages import missing_system_package

BUDGET = 3
SETUP = {
    "max_trials_per_group": BUDGET,
    "epochs_per_trial": 2,
    "data__synthetic__n_bars": 2500,
    "heartbeat_interval_s": 0.5,
    "worker_timeout_s": 5.0,
    "n_warmup_steps": 5,
}


def test_mask_url_hides_passwords_only() -> None:
    assert mask_url("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert mask_url("postgresql://bob@db/x") == "postgresql://bob@db/x"
    assert mask_url("journal") == "journal"


def studies(run: Path, storage_url: str | None = None) -> dict[str, list[optuna.trial.FrozenTrial]]:
    """Every group's trials: from the run's study files, or from the database at `storage_url`."""
    out = {}
    for group in GROUPS:
        name = f"ml_hyperopt_{group}"
        study = (
            load_run_study(run, name)
            if storage_url is None
            else optuna.load_study(study_name=name, storage=storage_url)
        )
        out[group] = study.get_trials(deepcopy=False)
    return out


def assert_shared_run_is_consistent(run: Path, storage_url: str | None = None, min_workers: int = 2) -> None:
    assert read_state(run)["status"] == "completed"
    seen_workers: collections.Counter[str] = collections.Counter()
    for group, trials in studies(run, storage_url).items():
        counted = [t for t in trials if not t.user_attrs.get("surplus")]
        assert all(t.state.name != "RUNNING" for t in trials), group
        assert len(counted) == BUDGET, f"{group}: {len(counted)} finished trials, budget {BUDGET}"
        fixed = {json.dumps(t.user_attrs.get("fixed_params"), sort_keys=True) for t in counted}
        assert len(fixed) == 1, f"{group}: workers disagreed on the fixed params: {fixed}"
        seen_workers.update(t.user_attrs.get("worker") for t in counted)
    assert len(seen_workers) >= min_workers, seen_workers
    results = json.loads((run / rundir.RESULTS_FILE).read_text())
    assert results["test_metrics"] is not None and list(results["group_results"]) == list(GROUPS)


@pytest.mark.slow
def test_local_workers_share_one_run_on_journal_storage(tmp_path: Path) -> None:
    # Trials long enough that the two worker processes are up before the owner alone is done.
    cfg = write_config(tmp_path, **{**SETUP, "epochs_per_trial": 3, "data__synthetic__n_bars": 5000})
    run = tmp_path / "run"
    owner = spawn("start", "--config", cfg, "--mode", "full", "--run-dir", run, "--workers", "2", cwd=tmp_path)
    wait_for(lambda: read_state(run).get("status") == "running", what="the run to start")
    extra = spawn("worker", run, cwd=tmp_path)  # a third process joins by hand
    out, err = owner.communicate(timeout=600)
    assert owner.returncode == 0, err
    extra.communicate(timeout=120)
    assert extra.returncode == 0
    assert_shared_run_is_consistent(run, min_workers=2)
    workers = json.loads(hyperopt("status", run, "--json", cwd=tmp_path).stdout)["workers"]
    assert len(workers) == 3 and all(w["alive"] is False for w in workers.values())


@pytest.mark.slow
def test_killed_worker_has_its_trial_finished_by_another(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        **{
            **SETUP,
            "epochs_per_trial": 4,
            "data__synthetic__n_bars": 4000,
            "max_trials_per_group": 8,
            "convergence_patience": 8,
        },
    )
    run = tmp_path / "run"
    owner = spawn("start", "--config", cfg, "--mode", "quick", "--run-dir", run, "--workers", "2", cwd=tmp_path)
    journal = run / "ml_hyperopt_learning_rate.journal"
    victim: dict[str, Any] = {}

    def child_is_mid_trial() -> bool:
        assert owner.poll() is None, "the run ended before a worker was caught mid-trial"
        if not journal.exists():
            return False
        trials = studies_one(run)
        for t in trials:
            key = t.user_attrs.get("worker", "")
            if (
                t.state.name == "RUNNING"
                and t.intermediate_values
                and not key.startswith(f"{socket.gethostname()}:{owner.pid}:")
            ):
                victim.update(number=t.number, pid=int(key.split(":")[1]))
                return True
        return False

    wait_for(child_is_mid_trial, timeout=240, what="a worker mid-trial")
    os.kill(victim["pid"], signal.SIGKILL)
    out, err = owner.communicate(timeout=600)
    assert owner.returncode == 0, err
    trial = next(t for t in studies_one(run) if t.number == victim["number"])
    assert trial.state.name in ("COMPLETE", "PRUNED")
    assert trial.user_attrs["worker"].startswith(f"{socket.gethostname()}:{owner.pid}:")
    counted = [t for t in studies_one(run) if not t.user_attrs.get("surplus")]
    assert len(counted) == 8 and all(t.state.name != "RUNNING" for t in counted)


def studies_one(run: Path) -> list[optuna.trial.FrozenTrial]:
    return load_run_study(run, "ml_hyperopt_learning_rate").get_trials()


@pytest.mark.slow
def test_stop_reaches_every_worker_and_resume_restarts_them(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, **{**SETUP, "epochs_per_trial": 3, "data__synthetic__n_bars": 4000})
    run = tmp_path / "run"
    owner = spawn("start", "--config", cfg, "--mode", "full", "--run-dir", run, "--workers", "2", cwd=tmp_path)
    wait_for(
        lambda: (
            len(list((run / "workers").glob("*.json"))) == 1
            and (read_state(run).get("progress") or {}).get("current_epoch") is not None
        ),
        what="both workers busy",
    )
    stopped = hyperopt("stop", run, cwd=tmp_path, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    owner.communicate(timeout=60)
    assert owner.returncode == 130
    assert not list((run / "workers").glob("*.json")), "the local worker did not stop"
    assert read_state(run)["status"] == "paused"
    resumed = hyperopt("resume", run, cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "started 1 local worker process" in resumed.stderr
    assert_shared_run_is_consistent(run, min_workers=2)


def test_workers_need_a_concurrent_storage(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, storage_url="sqlite")
    result = hyperopt("start", "--config", cfg, "--set", "workers=2", cwd=tmp_path)
    assert result.returncode == 3
    assert "workers=2 needs a storage that takes concurrent writers" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "a half-made run directory"


def test_workers_without_a_storage_setting_get_journal_files(tmp_path: Path) -> None:
    from hyperopt_cli.control import resolve_config

    cfg = resolve_config(write_config(tmp_path), ["workers=2"])
    assert (cfg.workers, cfg.storage_url) == (2, "journal")


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str | None:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields its URL (password in it, trust auth)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        missing_system_package(
            "PostgreSQL server binaries not installed (apt-get install postgresql; `make system-deps` does, as root)"
        )
    data = Path(tempfile.mkdtemp(prefix="hyperopt-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(
        [*as_user, initdb, "-D", str(data / "db"), "-A", "trust", "-U", "postgres"], check=True, capture_output=True
    )
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(data / "db"),
            "-l",
            str(data / "log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE hyperopt")
        yield f"postgresql://postgres:s3cret-pw@127.0.0.1:{port}/hyperopt"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.slow
def test_workers_over_postgresql(tmp_path: Path, postgres: str) -> None:
    # Trials long enough that the worker processes are up before the owner alone is done (as above).
    cfg = write_config(
        tmp_path, **{**SETUP, "epochs_per_trial": 3, "data__synthetic__n_bars": 5000, "storage_url": postgres}
    )
    run = tmp_path / "run"
    owner = spawn("start", "--config", cfg, "--mode", "full", "--run-dir", run, "--workers", "2", cwd=tmp_path)
    wait_for(lambda: read_state(run).get("status") == "running", what="the run to start")
    extra = spawn("worker", run, cwd=tmp_path)
    out, err = owner.communicate(timeout=600)
    assert owner.returncode == 0, err
    extra_out, extra_err = extra.communicate(timeout=120)
    assert extra.returncode == 0, extra_err
    assert_shared_run_is_consistent(run, postgres, min_workers=2)
    assert not list(run.glob("*.db")) and not list(run.glob("*.journal")), "studies belong in the database"
    for text in [out, err, extra_out, extra_err] + [
        (run / f).read_text() for f in (rundir.STATE_FILE, rundir.RESULTS_FILE, rundir.LOG_FILE)
    ]:
        assert "s3cret-pw" not in text
    assert "postgresql://postgres:***@" in read_state(run)["storage"]
    again = hyperopt("start", "--config", cfg, "--mode", "full", "--run-dir", tmp_path / "second", cwd=tmp_path)
    assert again.returncode == 6 and "already exists in postgresql://postgres:***@" in again.stderr
    assert not (tmp_path / "second").exists()
