"""Shared fixtures: small, deterministic data for the tests."""

from __future__ import annotations

import pandas as pd
import pytest

from hyperopt_cli.data.synthetic import synthetic_ohlcv as make_synthetic_ohlcv


@pytest.fixture(scope="session")
def synthetic_ohlcv() -> pd.DataFrame:
    """3,000 hourly synthetic bars (seed 7); copy it before changing it."""
    return make_synthetic_ohlcv(3000, seed=7)
