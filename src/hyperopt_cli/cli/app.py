"""The `hyperopt` app: the command group, where errors become exit codes, and what every command shares.

The shared options, the consoles, the RUN argument and the small renderers live here; the
commands live in their family's module (cli/run_commands.py, ...) and import from here only.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click
import typer
from typer.core import TyperGroup

from hyperopt_cli import __version__
from hyperopt_cli.cli.run_selection import job_ids, resolve_run, shown
from hyperopt_cli.cli.screen import EscapingConsole
from hyperopt_cli.core.errorfile import claim_error_file, write_error_file
from hyperopt_cli.core.errors import (
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_UNEXPECTED,
    RESUME_AFTER_FULL,
    RETRY_AFTER_FULL,
    HyperoptError,
    storage_full,
)
from hyperopt_cli.core.quote import clipped, printable

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141: what a shell reports for a tool that `| head` cut short
MAX_ERROR_CHARS = 2000  # an `Error:` line is one line; a message this long is cut, never multi-megabyte


class CommandFailed(HyperoptError):
    """A command could not do its job for a reason only the CLI knows (a missing extra, a refused bind)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class CliState:
    """What the app callback hands every command (click's `examples/repo` pattern): the shared options."""

    runs_dir: Path = Path("runs")
    debug: bool = False
    quiet: bool = False  # nothing on stdout but what --json asks for; no live display


class HyperoptGroup(TyperGroup):
    """The `hyperopt` command group; every command runs through its `invoke`, where errors become exit codes."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]  # typer >= 0.2x vendors click
        error_file = claim_error_file()
        try:
            code = super().invoke(ctx)  # a command returns its exit code
            sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's last flush
        except BrokenPipeError:
            _exit_on_broken_pipe()
        except (
            click.exceptions.ClickException,
            click.exceptions.Exit,
            click.exceptions.Abort,
            typer.TyperException,
            typer.Exit,
            typer.Abort,
        ):
            raise  # usage errors (typer's vendored click raises TyperException subclasses) keep their exit 2
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(EXIT_STOPPED) from None
        except Exception as exc:  # noqa: BLE001 - the one place errors become `Error:` lines and exit codes
            debug = isinstance(ctx.obj, CliState) and ctx.obj.debug
            _exit_on_error(exc, debug, error_file, ctx.invoked_subcommand)
        if isinstance(code, int) and code != EXIT_OK:
            raise typer.Exit(code)
        return code


def _exit_on_broken_pipe() -> NoReturn:
    """stdout's reader went away (`hyperopt trials --json | head`): stop quietly, as Unix tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # what is still buffered goes nowhere, without a second error
    os.close(devnull)
    raise typer.Exit(EXIT_BROKEN_PIPE)


RUN_COMMANDS = ("start", "resume", "worker")  # the commands a full disk stops in the middle of a run


def _exit_on_error(exc: Exception, debug: bool, error_file: Path | None, command: str | None = None) -> NoReturn:
    """Expected errors: one `Error:` line and their exit code; anything else is a bug, said so in one line."""
    expected = storage_full(exc, RESUME_AFTER_FULL if command in RUN_COMMANDS else RETRY_AFTER_FULL) or exc
    if isinstance(expected, HyperoptError):
        message, code = clipped(str(expected), MAX_ERROR_CHARS), expected.exit_code
    else:
        message = f"unexpected {type(exc).__name__}: {clipped(str(exc), MAX_ERROR_CHARS)} (rerun with --debug for the traceback)"
        code = EXIT_UNEXPECTED
    if debug:
        traceback.print_exception(exc)
    message = printable(message)  # one line, and no escape sequence of a file name reaches the terminal
    print(f"Error: {message}", file=sys.stderr, flush=True)
    write_error_file(error_file, message, code)
    raise typer.Exit(code)


app = typer.Typer(
    name="hyperopt",
    cls=HyperoptGroup,
    help=(
        "Tune an LSTM trading-signal classifier with Optuna, group by group, in runs that can be "
        "stopped, killed and resumed without losing work.\n\n"
        "Example: hyperopt start --mode quick --data prices.csv"
    ),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


class _Stdout(EscapingConsole):
    """stdout's console: a reader that went away ends the command like any other (rich would exit 1 itself)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


out = _Stdout(highlight=False, soft_wrap=True)
err = EscapingConsole(stderr=True, highlight=False, soft_wrap=True)
UNWRAPPED_WIDTH = 100_000  # stdout in a pipe or a file: a table row stays one line, however wide
if not out.is_terminal:
    out.width = UNWRAPPED_WIDTH
else:  # on a terminal rich wraps at spaces (titles and prose too); soft wrap left it to the terminal, mid-number
    out.soft_wrap = False
if not err.is_terminal:  # wide enough for the tables, no wrapping mid-date
    err.width = max(err.width, 140)

RUNS_DIR_HELP = "Folder holding the run directories."
DEBUG_HELP = "Show tracebacks for errors."
# The shared options live on the app callback; each command also accepts them after its name
# (`hyperopt status --runs-dir X`), where they override the callback's.
RUNS_DIR_OPTION = typer.Option(
    None, "--runs-dir", help=RUNS_DIR_HELP + " [default: the one before the command, else runs]"
)
DEBUG_OPTION = typer.Option(False, "--debug", help=DEBUG_HELP)
QUIET_HELP = "Print nothing on stdout but what --json asks for; no live display (for scripts)."
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help=QUIET_HELP)
RUN_HELP = "A run directory or a job id under --runs-dir (default: {default})."
RUNS_DIR_ENV = "HYPEROPT_RUNS_DIR"


def _complete_run(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of RUN: the job ids under the --runs-dir given so far (else $HYPEROPT_RUNS_DIR, runs)."""
    given = ctx.params.get("runs_dir") or ctx.find_root().params.get("runs_dir")
    return job_ids(Path(given or os.environ.get(RUNS_DIR_ENV) or "runs"), incomplete)


def run_argument(default: str, more: str = "") -> Any:
    """The RUN argument every command that names a run shares (resolved by `run_selection.resolve_run`)."""
    return typer.Argument(
        None,
        metavar="RUN",
        autocompletion=_complete_run,
        help=RUN_HELP.format(default=default) + (" " + more if more else ""),
    )


CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="YAML OptimizationConfig (default: configs/default.yaml, else built-in defaults)."
)
SET_OPTION = typer.Option(
    None, "--set", metavar="KEY=VALUE", help="Override any config key, e.g. --set labels.horizon=24 (repeatable)."
)
DATA_OPTION = typer.Option(
    None,
    "--data",
    metavar="<path>",
    help="OHLCV CSV or Parquet file, a folder of them or a glob; repeat for several symbols, one per file "
    "(default: data.path, else built-in synthetic data).",
)


def cli_state(ctx: typer.Context, runs_dir: Path | None = None, debug: bool = False, quiet: bool = False) -> CliState:
    """The callback's CliState with this command's own --runs-dir/--debug/--quiet applied."""
    state = ctx.find_object(CliState)
    if state is None:  # a command invoked without the app callback (not through `hyperopt`)
        state = ctx.ensure_object(CliState)
    if runs_dir is not None:
        state.runs_dir = runs_dir
    state.debug = state.debug or debug
    state.quiet = state.quiet or quiet
    return state


def say(state: CliState, text: str, as_json: bool = False) -> None:
    """A human line on stdout, unless --quiet or --json (whose stdout is the JSON alone)."""
    if not (state.quiet or as_json):
        out.print(text, markup=False)


def checked_sets(sets: list[str] | None) -> list[str]:
    """The --set overrides, each checked on its own first: a bad one is blamed on --set, not on the config file."""
    from hyperopt_cli.config import check_override

    for text in sets or []:
        check_override(text)
    return list(sets or [])


def pick_run(run: str | None, runs_dir: Path, *, running: bool = False) -> Path:
    """The run RUN names (`resolve_run`); when RUN was left out, say on stderr which run that means.

    A signal from the wrong model, silently, is the worst this tool can do: so the run a
    command picked by itself is always named, --quiet and --json included (stderr only).
    """
    path = resolve_run(run, runs_dir, running=running)
    if run is None or str(run) == "":
        err.print(f"Using run {shown(path)} ({'newest running' if running else 'newest'})", markup=False)
    return path


def print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, default=str), flush=True)


def _version(value: bool) -> None:
    if value:
        print(f"hyperopt-cli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", envvar=RUNS_DIR_ENV, help=RUNS_DIR_HELP),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Group-by-group Optuna tuning of an LSTM trading-signal classifier."""
    ctx.obj = CliState(runs_dir=runs_dir, debug=debug, quiet=quiet)
