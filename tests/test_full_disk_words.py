"""A full disk says what to do next in the words of the command that hit it (issue 34, Low)."""

from __future__ import annotations

import errno

import pytest
import typer

from hyperopt_cli.cli.app import _exit_on_error
from hyperopt_cli.core.errors import EXIT_STORAGE_FULL


@pytest.mark.parametrize(
    ("command", "ending"),
    [
        ("start", "then resume the run"),
        ("resume", "then resume the run"),
        ("worker", "then resume the run"),
        ("predict", "then run the command again"),
        ("status", "then run the command again"),
        ("export", "then run the command again"),
        (None, "then run the command again"),
    ],
)
def test_a_full_disk_names_the_next_step_of_its_own_command(
    command: str | None, ending: str, capsys: pytest.CaptureFixture[str]
) -> None:
    exc = OSError(errno.ENOSPC, "No space left on device", "/tmp/somewhere/out.csv")
    with pytest.raises(typer.Exit) as raised:
        _exit_on_error(exc, debug=False, error_file=None, command=command)
    assert raised.value.exit_code == EXIT_STORAGE_FULL
    line = capsys.readouterr().err.strip()
    assert line.startswith("Error: cannot write /tmp/somewhere/out.csv: No space left on device; free some space")
    assert line.endswith(ending)
