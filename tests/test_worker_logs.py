"""The owner's local workers log into the run folder, never through a symlink (issue 34, finding 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run.events import NullSink
from hyperopt_cli.run.local_workers import LocalWorkers
from hyperopt_cli.search import workers


def test_a_symlinked_worker_log_is_refused_and_its_target_kept(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / workers.WORKERS_DIR).mkdir(parents=True)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (run / workers.WORKERS_DIR / "worker-1.log").symlink_to(precious)
    spawned = LocalWorkers(OptimizationConfig(), run, NullSink())
    with pytest.raises(RunStateError, match="symbolic link"):
        spawned.spawn(1)
    assert spawned.children == [] and precious.read_text() == "keep me"


def test_a_symlinked_workers_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / workers.WORKERS_DIR).symlink_to(outside)
    with pytest.raises(RunStateError, match="symbolic link"):
        LocalWorkers(OptimizationConfig(), run, NullSink()).spawn(1)
    assert list(outside.iterdir()) == []
