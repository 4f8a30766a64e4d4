"""File and run names with escape sequences or newlines never reach the terminal raw (issue 34, Low)."""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_helpers import hyperopt
from hyperopt_cli.core.quote import printable

REPO = Path(__file__).resolve().parents[1]
HOSTILE = "EU\x1b[31mRED\x1b[2J\nforged line"


def test_printable_escapes_every_control_character_but_those_kept() -> None:
    assert printable(HOSTILE) == "EU\\x1b[31mRED\\x1b[2J\\nforged line"
    assert printable("a\tb\nc\x7f\x9b", keep="\n\t") == "a\tb\nc\\x7f\\x9b"
    assert printable("plain ünïcode") == "plain ünïcode"


def test_data_prints_a_hostile_file_name_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    folder.mkdir()
    shutil.copy(REPO / "tests" / "data" / "EURUSD_H1.csv", folder / f"{HOSTILE}.csv")
    shutil.copy(REPO / "tests" / "data" / "EURUSD_H1.csv", folder / "B.csv")
    result = hyperopt("data", "--data", folder, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "EU\\x1b[31mRED\\x1b[2J\\nforged line" in result.stdout
    assert not any(line.startswith("forged line") for line in result.stdout.splitlines())


def test_status_prints_a_hostile_run_name_escaped(tmp_path: Path) -> None:
    run = tmp_path / "runs" / HOSTILE
    run.mkdir(parents=True)
    shutil.copy(REPO / "configs" / "default.yaml", run / "config.yaml")
    for args in (("status", "--runs-dir", tmp_path / "runs"), ("status", run)):
        result = hyperopt(*args, cwd=tmp_path, timeout=120)
        assert "\x1b" not in result.stdout + result.stderr, args
        assert "EU\\x1b[31mRED\\x1b[2J\\nforged line" in result.stdout, args
        assert not any("forged line" in line and "\\n" not in line for line in result.stdout.splitlines()), args
