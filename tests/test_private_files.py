"""A run's files are the owner's alone whatever the caller's umask: 0600 files, 0700 folders."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import env, write_config


def _readable_by_others(root: Path) -> list[str]:
    loose = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return loose


def _under_umask_022(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env(), capture_output=True, text=True, timeout=300, umask=0o022
    )


def test_owner_only_files_sets_the_umask_a_run_writes_with(tmp_path: Path) -> None:
    code = (
        "import os\nfrom hyperopt_cli.control import owner_only_files\nold = owner_only_files()\n"
        "open('f', 'w').close(); os.mkdir('d')\nprint(oct(old), oct(os.umask(0)))\n"
    )
    done = _under_umask_022(["-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0o22", "0o77"]
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700


@pytest.mark.slow  # a full run
def test_hyperopt_start_under_umask_022_writes_owner_only_files(tmp_path: Path) -> None:
    config = write_config(tmp_path, max_trials_per_group=2)
    run_dir = tmp_path / "runs" / "private"
    done = _under_umask_022(
        [
            "-m",
            "hyperopt_cli",
            "start",
            "--config",
            str(config),
            "--mode",
            "quick",
            "--run-dir",
            str(run_dir),
            "--workers",
            "2",
            "--quiet",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    names = {p.name for p in run_dir.rglob("*")}
    assert {"run.log", "state.json", ".lock"} <= names, names
    assert _readable_by_others(run_dir) == []
