"""The `hyperopt` command line: parse, call one library function, render, map errors to exit codes.

One module per command family, each registering its commands on `app.app` (the order of the
imports below is the order `hyperopt --help` lists them). Heavy imports (torch, optuna, pandas)
happen inside the commands that need them, so `hyperopt --help` and `hyperopt status` start fast.
"""

from __future__ import annotations

# The order the families are imported in is the order `--help` lists their commands (no import sorting here).
from hyperopt_cli.cli import (  # noqa: F401 - importing a family registers its commands
    run_commands,
    inspect_commands,
    data_command,
    serve_command,
    model_commands,
    trials_commands,
)
import sys
from typing import NoReturn

from hyperopt_cli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The console script and `python -m hyperopt_cli`: errors were mapped to exit codes by the group."""
    try:
        app(prog_name="hyperopt")  # one name in usage lines and one completion variable (_HYPEROPT_COMPLETE) for both
    except SystemExit as exc:
        quick_exit(exc.code)
    quick_exit(0)


def quick_exit(code: object) -> NoReturn:
    """End the process once the command has finished: flushed, atexit run, then no interpreter teardown.

    The teardown of an interpreter that imported torch, pandas and optuna took 1.8 s after the
    last line of a stopped run (measured at load 7.5 on 2 cores: SIGINT to exit 3.8 s, of which
    0.06 s the checkpoint and 1.9 s the teardown, in the owner and again in each worker it
    waits for), so `hyperopt stop` took seconds for nothing. Everything a run writes is written
    atomically and fsynced before this point, so skipping the teardown loses nothing: streams
    are flushed, logging shut down, atexit handlers and non-daemon threads finished first.
    """
    import atexit
    import logging
    import os
    import threading

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): print it, as the interpreter would
        print(code, file=sys.stderr)
        status = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            pass
    os._exit(status)
