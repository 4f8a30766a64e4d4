"""The test suite's own rules: it needs nothing outside the repository, and CI cannot skip silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
NEEDS_A_PACKAGE = """
from system_packages import missing_system_package

def test_needs_the_frobnicator():
    missing_system_package("no frobnicator: apt-get install frobnicator")
"""


def run_pytest(folder: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """pytest under the repository's own configuration (addopts included) on one file in `folder`."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(REPO / "pyproject.toml"),
            "--rootdir",
            str(folder),
            str(folder / "test_frob.py"),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", [None, "false", "0"])
def test_outside_ci_a_missing_system_package_skips_and_the_summary_says_why(tmp_path: Path, ci: str | None) -> None:
    (tmp_path / "test_frob.py").write_text(NEEDS_A_PACKAGE)
    result = run_pytest(tmp_path, ci)
    assert result.returncode == 0, result.stdout + result.stderr
    (skipped,) = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED [1] ")]
    assert skipped.endswith(": no frobnicator: apt-get install frobnicator")


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_in_ci_a_missing_system_package_fails_the_run(tmp_path: Path, ci: str) -> None:
    (tmp_path / "test_frob.py").write_text(NEEDS_A_PACKAGE)
    result = run_pytest(tmp_path, ci)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED test_frob.py::test_needs_the_frobnicator - Failed: no frobnicator" in result.stdout
    assert "1 failed" in result.stdout


def test_system_deps_script_fails_in_ci_when_a_package_is_still_missing(tmp_path: Path) -> None:
    """A PATH with only the shell's basic tools: neither Chromium nor PostgreSQL can be found or installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "ls", "tr", "id", "cat"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    script = REPO / "scripts" / "system-deps.sh"

    def run(ci: str | None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(bin_dir), **({"CI": ci} if ci is not None else {})}
        return subprocess.run([str(bin_dir / "bash"), str(script)], env=env, capture_output=True, text=True, timeout=60)

    strict, lenient = run("true"), run(None)
    assert strict.returncode == 1 and "chromium missing: failing" in strict.stderr
    assert lenient.returncode == 0 and "their tests will skip" in lenient.stderr


def test_no_test_reads_a_path_of_the_development_machine() -> None:
    machine_root = "/" + "work/"  # split so this file does not match itself
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(TESTS.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if machine_root in line
    ]
    assert offenders == [], "tests must find their files relative to the repository"
