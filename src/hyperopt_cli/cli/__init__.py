"""The `hyperopt` command line: parse, call one library function, render, map errors to exit codes.

One module per command family, each registering its commands on `app.app` (the order of the
imports below is the order `hyperopt --help` lists them). Heavy imports (torch, optuna, pandas)
happen inside the commands that need them, so `hyperopt --help` and `hyperopt status` start fast.
"""

from __future__ import annotations

# The order the families are imported in is the order `--help` lists their commands (no import sorting here).
from hyperopt_cli.cli import (  # noqa: F401 - importing a family registers its commands
    run_commands, inspect_commands, data_command, serve_command, model_commands, trials_commands,
)
from hyperopt_cli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The console script and `python -m hyperopt_cli`: errors were mapped to exit codes by the group."""
    app(prog_name="hyperopt")  # one name in usage lines and one completion variable (_HYPEROPT_COMPLETE) for both
