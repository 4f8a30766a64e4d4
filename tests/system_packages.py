"""Tests that need a system package (PostgreSQL, Chromium) skip without it, except in CI.

With `CI` set (CI=true, as CI services set it and `.ci/run` does) a missing package fails the
test instead: a CI run that skipped them would report green without having tested them.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

CI_OFF = ("", "0", "false", "no")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in CI_OFF


def missing_system_package(reason: str) -> NoReturn:
    """Skip with `reason` (which says how to install it); fail with it when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} [CI is set: a missing system package fails the run]", pytrace=False)
    pytest.skip(reason)
