"""The parallel default: which processes x threads `start` picks, and when the config pins it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.control import resolve_config
from hyperopt_cli.core.errors import ConfigError
from hyperopt_cli.run.parallel import apply_parallel_choice, choose_parallel, describe_parallel


@pytest.mark.parametrize(
    "raw, cores, workers, threads, storage",
    [
        ({}, 2, 2, 1, "journal"),  # nothing pinned: one worker per core, one thread each
        ({}, 8, 8, 1, "journal"),
        ({}, 1, 1, 0, "journal"),  # one core: nothing to share (journal files all the same: cheaper calls)
        ({"workers": 0, "trainer": {"num_threads": 0}}, 4, 4, 1, "journal"),  # 0 means auto
        ({"trainer": {"num_threads": 2}}, 4, 1, 2, "journal"),  # threads pinned: one worker
        ({"workers": 1}, 4, 1, 4, "journal"),  # workers pinned: threads add up to the cores
        ({"workers": 1, "storage_url": "sqlite"}, 4, 1, 4, "sqlite"),  # SQLite files when asked for
        ({"workers": 2, "storage_url": "journal"}, 4, 2, 2, "journal"),
        ({"workers": 3, "storage_url": "journal"}, 2, 3, 1, "journal"),  # never below one thread
        ({"use_mlflow": True}, 4, 1, 0, "journal"),  # MLflow takes one process
        ({"storage_url": "sqlite"}, 4, 1, 0, "sqlite"),  # SQLite files take one writer
        ({"storage_url": "postgresql://u@h/db"}, 2, 2, 1, "postgresql://u@h/db"),  # a database takes workers
    ],
)
def test_choose_parallel(raw: dict, cores: int, workers: int, threads: int, storage: str | None) -> None:
    choice = choose_parallel(raw, cores)
    assert (choice.workers, choice.num_threads, choice.storage_url) == (workers, threads, storage)


def test_exact_runs_one_worker_with_a_pinned_thread_count() -> None:
    choice = choose_parallel({}, 4, exact=True)
    assert (choice.workers, choice.num_threads, choice.storage_url) == (1, 4, "journal")
    assert "bit-identical" in choice.why
    assert choose_parallel({"trainer": {"num_threads": 1}}, 4, exact=True).num_threads == 1
    with pytest.raises(ConfigError, match="--exact runs one worker.*workers=2"):
        choose_parallel({"workers": 2, "storage_url": "journal"}, 4, exact=True)


def test_apply_writes_the_choice_and_keeps_the_rest() -> None:
    raw = {"trainer": {"batch_size": 32}, "mode": "quick"}
    out = apply_parallel_choice(raw, choose_parallel(raw, 2))
    assert out == {
        "trainer": {"batch_size": 32, "num_threads": 1},
        "mode": "quick",
        "workers": 2,
        "storage_url": "journal",
    }
    assert raw == {"trainer": {"batch_size": 32}, "mode": "quick"}  # input untouched


def test_start_config_resolves_auto_and_freezes_concrete_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/default.yaml here: built-in defaults
    monkeypatch.setattr("hyperopt_cli.control.usable_cores", lambda: 2)
    assert OptimizationConfig().workers == 0  # the default is auto
    cfg = resolve_config(None, [])
    assert (cfg.workers, cfg.trainer.num_threads, cfg.storage_url) == (2, 1, "journal")
    exact = resolve_config(None, [], exact=True)
    assert (exact.workers, exact.trainer.num_threads, exact.storage_url) == (1, 2, "journal")
    pinned = resolve_config(None, ["trainer.num_threads=1"])
    assert (pinned.workers, pinned.trainer.num_threads, pinned.storage_url) == (1, 1, "journal")
    with pytest.raises(ConfigError, match=r"workers must be in \[0, 1024\]"):
        resolve_config(None, ["workers=-1"])


def test_describe_parallel_names_processes_threads_and_storage() -> None:
    assert describe_parallel(2, 1, "journal") == "2 workers x 1 thread, journal files"
    assert describe_parallel(1, 0, None) == "1 worker x torch's default threads, sqlite files"
