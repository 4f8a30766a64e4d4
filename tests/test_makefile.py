"""The Makefile's install paths, read through `make -n` (nothing is run or installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target: str, tmp_path: Path, *variables: str) -> list[str]:
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}", *variables],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def pip_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if " -m pip install " in line]


def test_make_run_installs_without_the_dev_extra_and_shows_progress(tmp_path: Path) -> None:
    lines = dry_run("run", tmp_path)
    pips = pip_lines(lines)
    assert pips and all("[dev]" not in line for line in pips)
    assert all("--progress-bar on" in line and "--quiet" not in line for line in pips)
    assert any('"torch==2.13.0"' in line and "--index-url" not in line for line in pips)  # default index
    assert lines[-1].endswith("/bin/hyperopt start")


def test_torch_index_points_only_the_torch_install_at_that_index(tmp_path: Path) -> None:
    index = "https://download.pytorch.org/whl/cpu"
    pips = pip_lines(dry_run("run", tmp_path, f"TORCH_INDEX={index}"))
    torch_line = next(line for line in pips if "torch==" in line)
    assert f"--index-url {index}" in torch_line
    assert all("--index-url" not in line for line in pips if line is not torch_line)  # the rest from the default index


def test_make_test_still_installs_the_dev_extra_and_runs_the_whole_suite(tmp_path: Path) -> None:
    lines = dry_run("test", tmp_path)
    assert any('-e ".[dev]"' in line for line in pip_lines(lines))
    assert lines[-1].endswith("-m pytest -q")


def test_make_test_installs_system_packages_unless_system_deps_is_0(tmp_path: Path) -> None:
    assert any("scripts/system-deps.sh" in line for line in dry_run("test", tmp_path))
    for off in ("0", "no", "false"):
        lines = dry_run("test", tmp_path, f"SYSTEM_DEPS={off}")
        assert not any("system-deps.sh" in line for line in lines)
        assert lines[-1].endswith("-m pytest -q")  # the same whole suite


def test_make_test_lints_types_and_layers_before_the_suite(tmp_path: Path) -> None:
    lines = dry_run("test", tmp_path, "SYSTEM_DEPS=0")
    steps = [
        next(i for i, line in enumerate(lines) if tool in line)
        for tool in ("ruff check src tests bench", "/bin/mypy", "/bin/lint-imports", "-m pytest -q")
    ]
    assert steps == sorted(steps), lines  # ruff, mypy, lint-imports, then pytest
