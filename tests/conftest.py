"""Shared fixtures: small, deterministic data for the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hyperopt_cli.data.synthetic import synthetic_ohlcv as make_synthetic_ohlcv


@pytest.fixture(scope="session")
def synthetic_ohlcv() -> pd.DataFrame:
    """3,000 hourly synthetic bars (seed 7); copy it before changing it."""
    return make_synthetic_ohlcv(3000, seed=7)


@pytest.fixture
def runs_dir(tmp_path: Path) -> Iterator[Path]:
    """A runs folder in tmp_path; every run a server or CLI started there is stopped afterwards."""
    from server_helpers import stop_all_runs

    runs = tmp_path / "runs"
    yield runs
    stop_all_runs(runs)


@pytest.fixture(scope="session")
def quick_csv_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """(run_dir, data file, results) of one finished quick tiny run on a CSV file (model_helpers.finished_run).

    One search with its final evaluation (~10 s) shared by every module that only reads such a run
    (predict, export, the decision rule, stale times): a test that changes the run copies it first.
    """
    from model_helpers import finished_run

    return finished_run(tmp_path_factory.mktemp("quick_csv_run"))
