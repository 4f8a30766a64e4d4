"""The `hyperopt` command line: parse, call one library function, render, map errors to exit codes.

Heavy imports (torch, optuna, pandas) happen inside the commands that need them, so
`hyperopt --help` and `hyperopt status` start fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn, Optional

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from hyperopt_cli import __version__
from hyperopt_cli.config import GROUPS, MODES
from hyperopt_cli.errorfile import claim_error_file, write_error_file
from hyperopt_cli.errors import (
    EXIT_OK, EXIT_STOPPED, EXIT_UNEXPECTED, HyperoptError, storage_full,
)
from hyperopt_cli.quote import clipped
from hyperopt_cli.run_selection import absolute, job_ids, resolve_run

MAX_ERROR_CHARS = 2000  # an `Error:` line is one line; a message this long is cut, never multi-megabyte
# Closed sets as Literal types: --help and shell completion list the choices, a typo is a usage error (exit 2).
ModeName = Literal[MODES]  # type: ignore[valid-type]
GroupName = Literal[GROUPS]  # type: ignore[valid-type]


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

    def invoke(self, ctx: click.Context) -> Any:
        error_file = claim_error_file()
        try:
            code = super().invoke(ctx)  # a command returns its exit code
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors (typer's vendored click raises TyperException subclasses) keep their exit 2
        except KeyboardInterrupt:
            err.print("Interrupted.")
            raise typer.Exit(EXIT_STOPPED) from None
        except Exception as exc:  # noqa: BLE001 - the one place errors become `Error:` lines and exit codes
            debug = isinstance(ctx.obj, CliState) and ctx.obj.debug
            _exit_on_error(exc, debug, error_file)
        if isinstance(code, int) and code != EXIT_OK:
            raise typer.Exit(code)
        return code


def _exit_on_error(exc: Exception, debug: bool, error_file: Path | None) -> NoReturn:
    """Expected errors: one `Error:` line and their exit code; anything else is a bug, said so in one line."""
    expected = storage_full(exc) or exc
    if isinstance(expected, HyperoptError):
        message, code = clipped(str(expected), MAX_ERROR_CHARS), expected.exit_code
    else:
        message = f"unexpected {type(exc).__name__}: {clipped(str(exc), MAX_ERROR_CHARS)} (rerun with --debug for the traceback)"
        code = EXIT_UNEXPECTED
    if debug:
        traceback.print_exception(exc)
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

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
for _console in (out, err):
    if not _console.is_terminal:  # pipes and files: wide enough for the tables, no wrapping mid-date
        _console.width = max(_console.width, 140)

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


def _run_argument(default: str, more: str = "") -> Any:
    """The RUN argument every command that names a run shares (resolved by `run_selection.resolve_run`)."""
    return typer.Argument(None, metavar="RUN", autocompletion=_complete_run,
                          help=RUN_HELP.format(default=default) + (" " + more if more else ""))


CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="YAML OptimizationConfig (default: configs/default.yaml, else built-in defaults)."
)
SET_OPTION = typer.Option(
    None, "--set", metavar="KEY=VALUE", help="Override any config key, e.g. --set labels.horizon=24 (repeatable)."
)
DATA_OPTION = typer.Option(None, "--data", help="OHLCV CSV or Parquet file (default: built-in synthetic data).")


def _state(ctx: typer.Context, runs_dir: Path | None = None, debug: bool = False, quiet: bool = False) -> CliState:
    """The callback's CliState with this command's own --runs-dir/--debug/--quiet applied."""
    state = ctx.find_object(CliState)
    if state is None:  # a command invoked without the app callback (not through `hyperopt`)
        state = ctx.ensure_object(CliState)
    if runs_dir is not None:
        state.runs_dir = runs_dir
    state.debug = state.debug or debug
    state.quiet = state.quiet or quiet
    return state


def _say(state: CliState, text: str, as_json: bool = False) -> None:
    """A human line on stdout, unless --quiet or --json (whose stdout is the JSON alone)."""
    if not (state.quiet or as_json):
        out.print(text, markup=False)


def _print_json(payload: Any) -> None:
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


# --------------------------------------------------------------------------- start / resume


def _run(optimizer: Any, display: Any, run_dir: Path, state: CliState, as_json: bool) -> int:
    """Run an optimizer (built with `events=display`) under the two-stage stop handler; returns the exit code."""
    from hyperopt_cli.errors import StopRequested
    from hyperopt_cli.run.signals import StopController

    with StopController(on_force=lambda: _mark_forced(run_dir), notify=lambda m: err.print(m, markup=False)) as ctl:
        start = getattr(display, "start", None)
        if start is not None:
            start()
        try:
            results = optimizer.optimize(ctl.stop_event)
        except StopRequested:
            _stop_display(display)
            _say(state, f"Run paused: {run_dir}\nResume with: hyperopt resume {run_dir}", as_json)
            if as_json:
                _print_json(run_outcome(run_dir, "paused", EXIT_STOPPED))
            return EXIT_STOPPED
        finally:
            _stop_display(display)
    if as_json:
        _print_json(run_outcome(run_dir, "completed", EXIT_OK, results))
    elif not state.quiet:
        _print_results_summary(results, run_dir)
    return EXIT_OK


def run_outcome(run_dir: Path, status: str, exit_code: int, results: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `start --json` / `resume --json` print at the end."""
    outcome: dict[str, Any] = {"run_dir": str(run_dir), "job_id": run_dir.name, "status": status,
                               "exit_code": exit_code}
    if status == "paused":
        outcome["resume_with"] = f"hyperopt resume {run_dir}"
    if results is not None:
        verdict = results.get("verdict") or {}
        outcome.update(best_params=results.get("best_params"), verdict=verdict.get("wording"),
                       beats_best_baseline=verdict.get("beats_best_baseline"))
    return outcome


def _display(state: CliState) -> Any:
    """The live display on stderr, or nothing at all under --quiet."""
    if state.quiet:
        from hyperopt_cli.run.events import NullSink

        return NullSink()
    from hyperopt_cli.progress import make_display

    return make_display(err)


def _stop_display(display: Any) -> None:
    stop = getattr(display, "stop", None)
    if stop is not None:
        stop()


def _mark_forced(run_dir: Path) -> None:
    from hyperopt_cli.run import rundir

    state = rundir.read_json(run_dir / rundir.STATE_FILE)
    if state is not None:
        state.update(status="paused", message="forced stop (second Ctrl-C); resume continues from the last checkpoint")
        rundir.write_json(run_dir / rundir.STATE_FILE, state)


JSON_RUN_HELP = "At the end print only JSON on stdout: run_dir, job_id, status, exit_code, best_params, verdict."


@app.command()
def start(
    ctx: typer.Context,
    config: Optional[Path] = CONFIG_OPTION,
    mode: Optional[ModeName] = typer.Option(
        None, "--mode", "-m", help="Which groups to search (default: the config's, else full)."
    ),
    target: Optional[GroupName] = typer.Option(None, "--target", "-t", help="The group of --mode group (implies it)."),
    data: Optional[Path] = DATA_OPTION,
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Write the run here instead of runs/<job_id>."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    n_workers: Optional[int] = typer.Option(
        None, "--workers", "-w", min=1, help="Local worker processes sharing the run (default: one per core)."
    ),
    set_: Optional[list[str]] = SET_OPTION,
    as_json: bool = typer.Option(False, "--json", help=JSON_RUN_HELP),
    quiet: bool = QUIET_OPTION,
    exact: bool = typer.Option(
        False, "--exact", help="One worker: trials bit-identical however often the run is stopped and resumed."
    ),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Start a new run in the foreground.

    Loads the config, validates the data, creates runs/<job_id>/ and runs the parameter
    groups in order with a live progress table on stderr. Ctrl-C (or `hyperopt stop`
    from another terminal) pauses it; `hyperopt resume` continues it. The last line
    states the verdict: does the tuned LSTM beat its best baseline out of sample?

    Without `workers`/`trainer.num_threads` in the config it runs one worker process per
    core with one torch thread each (the fastest setting measured); `--exact` runs one.

    Example: hyperopt start --mode quick --data prices.csv --set epochs_per_trial=2
    """
    from hyperopt_cli.control import new_run_dir, resolve_config
    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer, check_storage_is_fresh

    state = _state(ctx, runs_dir, debug, quiet)
    runs_dir = state.runs_dir

    cfg = resolve_config(config, list(set_ or []), mode=mode, target=target, data_path=data, n_workers=n_workers,
                         exact=exact)
    preparer = DataPreparer(load_data(cfg), cfg.data)
    preparer.prepare(cfg.labels)  # validates the data before anything is written
    check_storage_is_fresh(cfg, run_dir or runs_dir)
    path = absolute(new_run_dir(runs_dir, run_dir))
    _say(state, f"Run directory: {path}", as_json)
    display = _display(state)
    return _run(HyperparameterOptimizer(cfg, path, events=display, preparer=preparer), display, path, state, as_json)


@app.command()
def resume(
    ctx: typer.Context,
    run: Optional[str] = _run_argument("the latest run"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help=JSON_RUN_HELP),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Continue a paused or interrupted run where it stopped.

    Finished groups are skipped; the interrupted trial continues from its checkpoint under
    the same trial number. A missing or corrupt state.json is rebuilt from config.yaml and
    the Optuna studies; an edited config.yaml is refused.

    Example: hyperopt resume 20261127_215832
    """
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    state = _state(ctx, runs_dir, debug, quiet)
    run_dir = resolve_run(run, state.runs_dir)
    display = _display(state)
    optimizer = HyperparameterOptimizer.from_run_dir(run_dir, events=display)
    _say(state, f"Resuming: {run_dir}", as_json)
    return _run(optimizer, display, run_dir, state, as_json)


@app.command()
def worker(
    ctx: typer.Context,
    run: Optional[str] = _run_argument("the latest run", "Shared or copied, with config.yaml."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="At the end print only JSON on stdout: run_dir, status."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Join a running run as an extra worker, on this machine or another.

    Takes trials from the group that is open, coordinating with the other workers through
    the run's storage (storage_url "journal" for one machine, a database URL for several).
    Exits 0 when every group is finished; the owner (`start`/`resume`) does the final
    evaluation. Ctrl-C or `hyperopt stop RUN` stops it after a checkpoint.

    Example: hyperopt worker /shared/runs/20261127_215832
    """
    from hyperopt_cli.errors import StopRequested
    from hyperopt_cli.progress import PlainLog
    from hyperopt_cli.run.events import NullSink
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer
    from hyperopt_cli.run.signals import StopController

    state = _state(ctx, runs_dir, debug, quiet)
    run_dir = resolve_run(run, state.runs_dir)
    events = NullSink() if state.quiet else PlainLog(sys.stderr)
    optimizer = HyperparameterOptimizer.from_run_dir(run_dir, events=events)
    with StopController(notify=lambda m: err.print(m, markup=False)) as ctl:
        try:
            optimizer.work(ctl.stop_event)
        except StopRequested:
            _say(state, f"Worker stopped: {run_dir}", as_json)
            if as_json:
                _print_json({"run_dir": str(run_dir), "job_id": run_dir.name, "status": "stopped",
                             "exit_code": EXIT_STOPPED})
            return EXIT_STOPPED
    _say(state, f"Worker done: every group of {run_dir} is finished", as_json)
    if as_json:
        _print_json({"run_dir": str(run_dir), "job_id": run_dir.name, "status": "done", "exit_code": EXIT_OK})
    return EXIT_OK


# --------------------------------------------------------------------------- stop


@app.command()
def stop(
    ctx: typer.Context,
    run: Optional[str] = _run_argument("the latest running run"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the owner to exit."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON: run_dir, pids, stopped, seconds, status."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Stop a running run gracefully and wait until its process has exited.

    Signals only the verified owner of the run (its lock is held and its pid and start
    time match the pidfile). Exits 7 when nothing is running.

    Example: hyperopt stop 20261127_215832
    """
    from hyperopt_cli.control import stop_run

    state = _state(ctx, runs_dir, debug, quiet)
    target = resolve_run(run, state.runs_dir, running=True)
    outcome = stop_run(target, timeout_s=timeout)
    if as_json:
        _print_json({"run_dir": str(target), "job_id": target.name, "pids": outcome.pids, "stopped": outcome.stopped,
                     "seconds": round(outcome.seconds, 3), "status": outcome.status, "flagged": outcome.flagged})
    pids = ", ".join(str(p) for p in outcome.pids) or "none here"
    if not outcome.stopped:
        raise CommandFailed(f"pid(s) {pids} still running after {timeout:g} s; try again or kill them", 1)
    if outcome.status == "completed":
        _say(state, f"{target} finished before the stop took effect; nothing to resume.", as_json)
        return EXIT_OK
    remote = "; workers on other machines see the stop flag within a heartbeat" if outcome.flagged else ""
    if outcome.flag_error:
        remote = f"; the shared stop flag could not be set ({outcome.flag_error}), so stop workers on other machines there"
    _say(state, f"Stopped {target} (pid {pids}) in {outcome.seconds:.1f} s; status: {outcome.status}{remote}.\n"
                f"Resume with: hyperopt resume {target}", as_json)
    return EXIT_OK


# --------------------------------------------------------------------------- status / results


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _hours(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@app.command()
def status(
    ctx: typer.Context,
    run: Optional[str] = _run_argument("a table of all runs"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Show a run's status, progress per group, elapsed time and ETA, and whether its owner is alive.

    Reads state.json only (never locks the live studies), so it is instant and safe while
    the run is going. Without RUN, lists every run under --runs-dir.

    Example: hyperopt status 20261127_215832 --json
    """
    from hyperopt_cli.control import run_status
    from hyperopt_cli.run import rundir

    cli = _state(ctx, runs_dir, debug, quiet)

    if run is None:
        from hyperopt_cli.runs_overview import with_scores

        rows = [with_scores(_status_row(run_status, p), p) for p in rundir.list_runs(cli.runs_dir)]
        if as_json:
            _print_json(rows)
        elif not cli.quiet:
            _print_runs_table(rows, absolute(cli.runs_dir))
        return EXIT_OK
    state = run_status(resolve_run(run, cli.runs_dir))
    if as_json:
        _print_json(state)
    elif not cli.quiet:
        _print_status(state)
    return EXIT_OK


def _status_row(run_status: Any, path: Path) -> dict[str, Any]:
    """A run's status, or an `unreadable` row with the reason: one damaged run must not hide the others."""
    try:
        return dict(run_status(path))
    except HyperoptError as exc:
        return {"job_id": path.name, "status": "unreadable", "message": str(exc), "run_dir": str(path)}


def _print_runs_table(rows: list[dict[str, Any]], runs_dir: Path) -> None:
    if not rows:
        out.print(f"No runs under {runs_dir}.", markup=False)
        return
    table = Table(title=f"Runs in {runs_dir}")
    for col in ("job id", "status", "mode", "group", "groups done", "elapsed", "owner", "best", "test F1", "verdict"):
        table.add_column(col)
    for row in rows:
        progress = row.get("progress") or {}
        groups = row.get("groups") or {}
        table.add_row(
            str(row.get("job_id")), str(row.get("status")), str(row.get("mode", "-")),
            str(progress.get("current_group") or "-"),
            f"{len(progress.get('groups_completed') or [])}/{len(groups)}",
            _hours(row.get("elapsed_s")),
            f"pid {row['owner_pid']}" if row.get("owner_alive") else "-",
            _fmt(row.get("best_value")), _fmt(row.get("test_macro_f1")), str(row.get("verdict") or "-"),
        )
    out.print(table)


def _print_status(state: dict[str, Any]) -> None:
    progress = state.get("progress") or {}
    est = state.get("time_estimate") or {}
    owner = f"alive (pid {state['owner_pid']})" if state.get("owner_alive") else "not running"
    out.print(f"Run {state.get('job_id')}  [{state.get('status')}]  mode {state.get('mode')}  owner {owner}", markup=False)
    if state.get("message"):
        out.print(f"  {state['message']}", markup=False)
    if state.get("note"):
        out.print(f"  note: {state['note']}", markup=False)
    trial = progress.get("current_trial")
    epoch = progress.get("current_epoch")
    if progress.get("current_group"):
        where = f"trial {trial}" if trial is not None else "between trials"
        if epoch is not None:
            where += f", epoch {epoch + 1}/{progress.get('epochs_per_trial')}"
        out.print(f"  current: {progress['current_group']}, {where}", markup=False)
    out.print(
        f"  elapsed {_hours(state.get('elapsed_s'))}, remaining ~{_fmt(est.get('remaining_hours'), 2)} h, "
        f"ETA {est.get('eta', '-')}",
        markup=False,
    )
    table = Table()
    for col in ("group", "status", "trials", "pruned", "failed", "best", "best params"):
        table.add_column(col)
    from hyperopt_cli.run.events import short_params

    for name, row in (state.get("groups") or {}).items():
        n = row.get("n_trials") or {}
        table.add_row(
            name, str(row.get("status")), f"{n.get('finished', 0)}/{row.get('max_trials', '-')}",
            str(n.get("pruned", 0)), str(n.get("failed", 0)), _fmt(row.get("best_value")),
            short_params(row.get("best_params")),
        )
    out.print(table)
    if state.get("workers"):
        workers_table = Table(title=f"Workers (storage: {state.get('storage')})")
        for col in ("host", "pid", "role", "group", "trial", "last heartbeat", "alive"):
            workers_table.add_column(col)
        for info in state["workers"].values():
            workers_table.add_row(
                str(info.get("host")), str(info.get("pid")), str(info.get("role", "-")), str(info.get("group") or "-"),
                str(info.get("trial") if info.get("trial") is not None else "-"),
                f"{info.get('heartbeat_age_s', '?')} s ago", "yes" if info.get("alive") else "DEAD",
            )
        out.print(workers_table)


@app.command()
def results(
    ctx: typer.Context,
    run: Optional[str] = _run_argument("the latest run"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print only JSON on stdout (schema in the README)."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Show the best params, per-group results, test metrics, baselines and the verdict of a run.

    Works on an unfinished run too (with what is finished so far, `complete: false`).

    Example: hyperopt results 20261127_215832 --json
    """
    from hyperopt_cli.control import results_of

    cli = _state(ctx, runs_dir, debug, quiet)

    target = resolve_run(run, cli.runs_dir)
    res = results_of(target)
    if as_json:
        _print_json(res)
    elif not cli.quiet:
        _print_results(res, target)
    return EXIT_OK


def _print_results_summary(res: dict[str, Any], run_dir: Path) -> None:
    _print_results(res, run_dir, verdict_line=False)
    out.print(f"Charts and the per-trial table: hyperopt report {run_dir}", markup=False)
    out.print(final_summary_line(res, run_dir), markup=False)  # the last line states the verdict


def final_summary_line(res: dict[str, Any], run_dir: Path) -> str:
    """The last line `start`/`resume` print: where the run is and, in words, whether the LSTM won."""
    wording = (res.get("verdict") or {}).get("wording")
    verdict = wording if wording else "none (this run has no walk-forward evaluation)"
    return f"Run completed: {run_dir}. Verdict: {verdict}"


def _print_results(res: dict[str, Any], run_dir: Path, verdict_line: bool = True) -> None:
    from hyperopt_cli.run.events import short_params

    if not res.get("complete", True):
        out.print(f"Run {run_dir} is not finished ({res.get('status')}); showing finished groups.", markup=False)
    table = Table(title="Groups")
    for col in ("group", "metric", "best", "trials c/p/f", "reason", "best params"):
        table.add_column(col)
    for name, row in (res.get("group_results") or {}).items():
        n = row.get("n_trials") or {}
        table.add_row(
            name, str(row.get("metric", "-")), _fmt(row.get("best_value")),
            f"{n.get('complete', 0)}/{n.get('pruned', 0)}/{n.get('failed', 0)}", str(row.get("reason") or "-"),
            short_params(row.get("best_params")),
        )
    out.print(table)
    out.print(f"Best params: {short_params(res.get('best_params'))}", markup=False)
    test = res.get("test_metrics")
    if test:
        blocks = len((res.get("walk_forward") or {}).get("blocks") or [])
        title = (f"Walk-forward over {blocks} test blocks (each trained on all bars before it; never seen by the search)"
                 if blocks else "Test segment (never seen by the search)")
        scores = Table(title=title)
        for col in ("model", "macro F1", "precision", "recall", "accuracy", "trading score"):
            scores.add_column(col)
        rows = [("tuned LSTM", test)] + list((res.get("baselines") or {}).items())
        for name, m in rows:
            scores.add_row(
                name, _fmt(m.get("macro_f1")), _fmt(m.get("macro_precision")), _fmt(m.get("macro_recall")),
                _fmt(m.get("accuracy")), _fmt(m.get("trading_score")),
            )
        out.print(scores)
    verdict = res.get("verdict")
    if verdict and verdict_line:
        out.print(f"Verdict: {verdict.get('wording')}", markup=False)


@app.command()
def report(
    ctx: typer.Context,
    run: Optional[str] = _run_argument("the latest run", "Finished, paused or running."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Write here instead of RUN/report/."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print only JSON: html, figures, missing sections."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Write an HTML report (one self-contained file, opens offline) and PNG figures for a run.

    The verdict in words at the top; optimisation history, parameter importances, parallel
    coordinates and slice plots per group; the best trials' learning curves; the equity
    curve of the test signals against the baselines per walk-forward block; predictions
    against labels per segment; confusion matrices; test scores next to the baselines; and
    the fixed params carried from group to group. Works on a paused or running run too
    (with what exists so far) and never disturbs a live run.

    Example: hyperopt report 20261127_215832
    """
    from hyperopt_cli.report import write_report

    state = _state(ctx, runs_dir, debug, quiet)
    run_dir = resolve_run(run, state.runs_dir)
    made = write_report(run_dir, absolute(out_dir) if out_dir is not None else None)
    if as_json:
        _print_json({"run_dir": str(run_dir), "html": str(made.html), "figures": [str(f) for f in made.figures],
                     "missing": made.missing})
        return EXIT_OK
    _say(state, f"Report: {made.html} ({len(made.figures)} figures beside it)")
    for section, why in made.missing.items():
        _say(state, f"  {section}: {why}")
    return EXIT_OK


# --------------------------------------------------------------------------- data


@app.command()
def data(
    ctx: typer.Context,
    config: Optional[Path] = CONFIG_OPTION,
    data_file: Optional[Path] = DATA_OPTION,
    set_: Optional[list[str]] = SET_OPTION,
    export: Optional[Path] = typer.Option(None, "--export", help="Write timestamp,label for every labelled bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Load and check the data: bars, date range, features, label balance per segment, purge gaps.

    Example: hyperopt data --data prices.csv --set labels.horizon=24 --export labels.csv
    """
    from hyperopt_cli.control import resolve_config
    from hyperopt_cli.data.summary import data_summary, export_labels

    cli = _state(ctx, debug=debug, quiet=quiet)

    cfg = resolve_config(config, list(set_ or []), data_path=data_file)
    summary, ohlcv = data_summary(cfg)
    if export is not None:
        n = export_labels(ohlcv, cfg.labels, export)
        summary["exported"] = {"path": str(absolute(export)), "rows": n}
    if as_json:
        _print_json(summary)
    elif not cli.quiet:
        _print_data_summary(summary)
    return EXIT_OK


def _print_data_summary(s: dict[str, Any]) -> None:
    out.print(
        f"{s.get('source')}: {s.get('bars')} bars, {s.get('first_timestamp')} .. {s.get('last_timestamp')} "
        f"(bar size {s.get('bar_size')}, {s.get('gaps', 0)} gaps)",
        markup=False,
    )
    out.print(f"{s.get('n_features')} features; purge {s.get('purge_bars')} bars before each boundary", markup=False)
    table = Table(title="Labels per segment")
    for col in ("segment", "samples", "from", "to", "SELL", "HOLD", "BUY"):
        table.add_column(col)
    for name, seg in (s.get("segments") or {}).items():
        shares = seg.get("label_shares") or {}
        counts = seg.get("label_counts") or {}
        table.add_row(
            name, str(seg.get("samples")), str(seg.get("first_timestamp", "-")), str(seg.get("last_timestamp", "-")),
            *(f"{counts.get(c, 0)} ({shares.get(c, 0.0):.1%})" for c in ("SELL", "HOLD", "BUY")),
        )
    out.print(table)
    for warning in s.get("warnings") or []:
        out.print(f"warning: {warning}", markup=False)
    if s.get("exported"):
        out.print(f"Exported {s['exported']['rows']} labels to {s['exported']['path']}", markup=False)


# --------------------------------------------------------------------------- serve


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --token."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="Base config of runs started over HTTP; request fields override it "
        "(default: configs/default.yaml, else built-in defaults)."
    ),
    token: Optional[str] = typer.Option(
        None, "--token", envvar="HYPEROPT_TOKEN", help="Require `Authorization: Bearer TOKEN` on every request. "
        "A command-line value is visible to every user in `ps`: prefer HYPEROPT_TOKEN or --token-file."
    ),
    token_file: Optional[Path] = typer.Option(
        None, "--token-file", help="Read the token from the first line of this file (mode 600, or it is refused)."
    ),
    no_token: bool = typer.Option(
        False, "--no-token", help="Require no token (loopback only): every local user can then control runs."
    ),
    configs_dir: Path = typer.Option(
        Path("configs"), "--configs-dir", help="The only folder whose YAML files a start request may name, by file name."
    ),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Serve the original HTTP API (/api/hyperopt/...) and a web page at / over the runs directory.

    Runs started over HTTP are ordinary `hyperopt start` processes in runs/<job_id>/: stop
    them from the shell or the page alike; stopping the server never stops a run. Needs the
    serve extra: pip install 'hyperopt-cli[serve]'. Without --token/--token-file/--no-token
    it makes a random token and prints the page's URL with it. Exits 2 for a non-loopback
    --host without a token, 3 for a token under 16 characters or a token file others can read.

    Example: hyperopt serve --port 8000 --runs-dir runs --config configs/quick.yaml
    """
    runs_dir = _state(ctx, runs_dir, debug).runs_dir
    try:
        from hyperopt_cli.server import app as server
    except ImportError as exc:
        raise CommandFailed(
            f"hyperopt serve needs FastAPI and uvicorn ({exc}); install: pip install 'hyperopt-cli[serve]'", 1
        ) from None
    server.serve(host, port, runs_dir, config, token, configs_dir, token_file=token_file, no_token=no_token)
    return EXIT_OK


from hyperopt_cli import cli_model  # noqa: E402,F401 - registers predict, export, trials, show on `app`


def main() -> None:
    """The console script and `python -m hyperopt_cli`: errors were mapped to exit codes by the group."""
    app(prog_name="hyperopt")  # one name in usage lines and one completion variable (_HYPEROPT_COMPLETE) for both


if __name__ == "__main__":
    main()
