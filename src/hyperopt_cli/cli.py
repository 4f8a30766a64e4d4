"""The `hyperopt` command line: parse, call one library function, render, map errors to exit codes.

Heavy imports (torch, optuna, pandas) happen inside the commands that need them, so
`hyperopt --help` and `hyperopt status` start fast.
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Optional

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from hyperopt_cli import __version__
from hyperopt_cli.errorfile import claim_error_file, write_error_file
from hyperopt_cli.errors import EXIT_OK, EXIT_STOPPED, EXIT_UNEXPECTED, HyperoptError, NothingRunningError


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


class HyperoptGroup(TyperGroup):
    """The `hyperopt` command group; every command runs through its `invoke`, where errors become exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        error_file = claim_error_file()
        try:
            code = super().invoke(ctx)  # a command returns its exit code
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, typer.Exit):
            raise
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
    if isinstance(exc, HyperoptError):
        message, code = str(exc), exc.exit_code
    else:
        message = f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"
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
    add_completion=False,
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
CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="YAML OptimizationConfig (default: configs/default.yaml, else built-in defaults)."
)
SET_OPTION = typer.Option(
    None, "--set", help="Override any config key, e.g. --set labels.horizon=24 (repeatable)."
)
DATA_OPTION = typer.Option(None, "--data", help="OHLCV CSV or Parquet file (default: built-in synthetic data).")


def _state(ctx: typer.Context, runs_dir: Path | None = None, debug: bool = False) -> CliState:
    """The callback's CliState with this command's own --runs-dir/--debug applied."""
    state = ctx.find_object(CliState)
    if state is None:  # a command invoked without the app callback (not through `hyperopt`)
        state = ctx.ensure_object(CliState)
    if runs_dir is not None:
        state.runs_dir = runs_dir
    state.debug = state.debug or debug
    return state


def _version(value: bool) -> None:
    if value:
        print(f"hyperopt-cli {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", envvar="HYPEROPT_RUNS_DIR", help=RUNS_DIR_HELP),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Group-by-group Optuna tuning of an LSTM trading-signal classifier."""
    ctx.obj = CliState(runs_dir=runs_dir, debug=debug)


# --------------------------------------------------------------------------- start / resume


def _run(optimizer: Any, display: Any, run_dir: Path) -> int:
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
            out.print(f"Run paused: {run_dir}\nResume with: hyperopt resume {run_dir}", markup=False)
            return EXIT_STOPPED
        finally:
            _stop_display(display)
    _print_results_summary(results, run_dir)
    return EXIT_OK


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


@app.command()
def start(
    ctx: typer.Context,
    config: Optional[Path] = CONFIG_OPTION,
    mode: Optional[str] = typer.Option(None, "--mode", "-m", help="full | quick | group | fine_tune (default: full)."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="The group of --mode group."),
    data: Optional[Path] = DATA_OPTION,
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Write the run here instead of runs/<job_id>."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    n_workers: Optional[int] = typer.Option(
        None, "--workers", "-w", min=1, help="Local worker processes (> 1 uses the journal storage unless set)."
    ),
    set_: Optional[list[str]] = SET_OPTION,
    exact: bool = typer.Option(
        False, "--exact", help="One worker: trials bit-identical however often the run is stopped and resumed."
    ),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Start a new run in the foreground.

    Loads the config, validates the data, creates runs/<job_id>/ and runs the parameter
    groups in order with a live progress table on stderr. Ctrl-C (or `hyperopt stop`
    from another terminal) pauses it; `hyperopt resume` continues it.

    Without `workers`/`trainer.num_threads` in the config it runs one worker process per
    core with one torch thread each (the fastest setting measured); `--exact` runs one.

    Example: hyperopt start --mode quick --data prices.csv --set epochs_per_trial=2
    """
    from hyperopt_cli.control import new_run_dir, resolve_config
    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.progress import make_display
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer, check_storage_is_fresh

    runs_dir = _state(ctx, runs_dir, debug).runs_dir

    cfg = resolve_config(config, list(set_ or []), mode=mode, target=target, data_path=data, n_workers=n_workers,
                         exact=exact)
    preparer = DataPreparer(load_data(cfg), cfg.data)
    preparer.prepare(cfg.labels)  # validates the data before anything is written
    check_storage_is_fresh(cfg, run_dir or runs_dir)
    path = new_run_dir(runs_dir, run_dir)
    out.print(f"Run directory: {path}", markup=False)
    display = make_display(err)
    return _run(HyperparameterOptimizer(cfg, path, events=display, preparer=preparer), display, path)


@app.command()
def resume(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="The run directory to continue."),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Continue a paused or interrupted run where it stopped.

    Finished groups are skipped; the interrupted trial continues from its checkpoint under
    the same trial number. A missing or corrupt state.json is rebuilt from config.yaml and
    the Optuna studies; an edited config.yaml is refused.

    Example: hyperopt resume runs/20261127_215832
    """
    from hyperopt_cli.errors import RunStateError
    from hyperopt_cli.progress import make_display
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    _state(ctx, debug=debug)
    if not run_dir.is_dir():
        raise RunStateError(f"run directory not found: {run_dir}")
    display = make_display(err)
    optimizer = HyperparameterOptimizer.from_run_dir(run_dir, events=display)
    out.print(f"Resuming: {run_dir}", markup=False)
    return _run(optimizer, display, run_dir)


@app.command()
def worker(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="The run to join (its directory, shared or copied, with config.yaml)."),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Join a running run as an extra worker, on this machine or another.

    Takes trials from the group that is open, coordinating with the other workers through
    the run's storage (storage_url "journal" for one machine, a database URL for several).
    Exits 0 when every group is finished; the owner (`start`/`resume`) does the final
    evaluation. Ctrl-C or `hyperopt stop RUN_DIR` stops it after a checkpoint.

    Example: hyperopt worker /shared/runs/20261127_215832
    """
    from hyperopt_cli.errors import RunStateError, StopRequested
    from hyperopt_cli.progress import PlainLog
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer
    from hyperopt_cli.run.signals import StopController

    _state(ctx, debug=debug)

    if not run_dir.is_dir():
        raise RunStateError(f"run directory not found: {run_dir}")
    optimizer = HyperparameterOptimizer.from_run_dir(run_dir, events=PlainLog(sys.stderr))
    with StopController(notify=lambda m: err.print(m, markup=False)) as ctl:
        try:
            optimizer.work(ctl.stop_event)
        except StopRequested:
            out.print(f"Worker stopped: {run_dir}", markup=False)
            return EXIT_STOPPED
    out.print(f"Worker done: every group of {run_dir} is finished", markup=False)
    return EXIT_OK


# --------------------------------------------------------------------------- stop


@app.command()
def stop(
    ctx: typer.Context,
    run_dir: Optional[Path] = typer.Argument(None, help="Run to stop (default: the latest running run)."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the owner to exit."),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Stop a running run gracefully and wait until its process has exited.

    Signals only the verified owner of the run (its lock is held and its pid and start
    time match the pidfile). Exits 7 when nothing is running.

    Example: hyperopt stop runs/20261127_215832
    """
    from hyperopt_cli.control import latest_running, stop_run

    runs_dir = _state(ctx, runs_dir, debug).runs_dir

    target = run_dir
    if target is None:
        target = latest_running(runs_dir)
        if target is None:
            raise NothingRunningError(f"no running run under {runs_dir}")
    outcome = stop_run(target, timeout_s=timeout)
    pids = ", ".join(str(p) for p in outcome.pids) or "none here"
    if not outcome.stopped:
        raise CommandFailed(f"pid(s) {pids} still running after {timeout:g} s; try again or kill them", 1)
    if outcome.status == "completed":
        out.print(f"{target} finished before the stop took effect; nothing to resume.", markup=False)
        return EXIT_OK
    remote = "; workers on other machines see the stop flag within a heartbeat" if outcome.flagged else ""
    out.print(
        f"Stopped {target} (pid {pids}) in {outcome.seconds:.1f} s; status: {outcome.status}{remote}.\n"
        f"Resume with: hyperopt resume {target}",
        markup=False,
    )
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
    run_dir: Optional[Path] = typer.Argument(None, help="Run to describe (default: a table of all runs)."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Show a run's status, progress per group, elapsed time and ETA, and whether its owner is alive.

    Reads state.json only (never locks the live studies), so it is instant and safe while
    the run is going. Without RUN_DIR, lists every run under --runs-dir.

    Example: hyperopt status runs/20261127_215832 --json
    """
    from hyperopt_cli.control import run_status
    from hyperopt_cli.run import rundir

    runs_dir = _state(ctx, runs_dir, debug).runs_dir

    if run_dir is None:
        rows = [run_status(p) for p in rundir.list_runs(runs_dir)]
        if as_json:
            print(json.dumps(rows, indent=2, default=str))
        else:
            _print_runs_table(rows, runs_dir)
        return EXIT_OK
    state = run_status(run_dir)
    if as_json:
        print(json.dumps(state, indent=2, default=str))
    else:
        _print_status(state)
    return EXIT_OK


def _print_runs_table(rows: list[dict[str, Any]], runs_dir: Path) -> None:
    if not rows:
        out.print(f"No runs under {runs_dir}.", markup=False)
        return
    table = Table(title=f"Runs in {runs_dir}")
    for col in ("job id", "status", "mode", "group", "groups done", "elapsed", "owner"):
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
    run_dir: Optional[Path] = typer.Argument(None, help="Run to report (default: the latest run)."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print only JSON on stdout (schema in the README)."),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Show the best params, per-group results, test metrics and baselines of a run.

    Works on an unfinished run too (with what is finished so far, `complete: false`).

    Example: hyperopt results runs/20261127_215832 --json
    """
    from hyperopt_cli.control import latest_run, results_of
    from hyperopt_cli.errors import RunStateError

    runs_dir = _state(ctx, runs_dir, debug).runs_dir

    target = run_dir or latest_run(runs_dir)
    if target is None:
        raise RunStateError(f"no runs under {runs_dir}")
    res = results_of(target)
    if as_json:
        print(json.dumps(res, indent=2, default=str))
    else:
        _print_results(res, target)
    return EXIT_OK


def _print_results_summary(res: dict[str, Any], run_dir: Path) -> None:
    out.print(f"Run completed: {run_dir}", markup=False)
    _print_results(res, run_dir)
    out.print(f"Charts and the per-trial table: hyperopt report {run_dir}", markup=False)


def _print_results(res: dict[str, Any], run_dir: Path) -> None:
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
        scores = Table(title="Test segment (never seen by the search)")
        for col in ("model", "macro F1", "precision", "recall", "accuracy", "trading score"):
            scores.add_column(col)
        rows = [("tuned LSTM", test)] + list((res.get("baselines") or {}).items())
        for name, m in rows:
            scores.add_row(
                name, _fmt(m.get("macro_f1")), _fmt(m.get("macro_precision")), _fmt(m.get("macro_recall")),
                _fmt(m.get("accuracy")), _fmt(m.get("trading_score")),
            )
        out.print(scores)
    pooled = (res.get("walk_forward") or {}).get("pooled")
    if pooled:
        blocks = len(res["walk_forward"].get("blocks", []))
        walk = Table(title=f"Walk-forward over {blocks} test blocks (each trained on all bars before it)")
        for col in ("model", "macro F1", "trading score"):
            walk.add_column(col)
        for name, m in pooled.items():
            walk.add_row("tuned LSTM" if name == "model" else name, _fmt(m.get("macro_f1")), _fmt(m.get("trading_score")))
        out.print(walk)
    verdict = res.get("verdict")
    if verdict:
        out.print(f"Verdict: {verdict.get('wording')}", markup=False)


@app.command()
def report(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="The run to report on (finished, paused or running)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Write here instead of RUN_DIR/report/."),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Write an HTML report (one self-contained file, opens offline) and PNG figures for a run.

    Optimisation history and parameter importances per group, the best trials' learning
    curves, confusion matrices on validation and test, labels per segment, test scores
    next to the baselines, and the fixed params carried from group to group. Works on a
    paused or running run too (with what exists so far) and never disturbs a live run.

    Example: hyperopt report runs/20261127_215832
    """
    from hyperopt_cli.errors import RunStateError
    from hyperopt_cli.report import write_report

    _state(ctx, debug=debug)

    if not run_dir.is_dir():
        raise RunStateError(f"run directory not found: {run_dir}")
    made = write_report(run_dir, out_dir)
    out.print(f"Report: {made.html} ({len(made.figures)} figures beside it)", markup=False)
    for section, why in made.missing.items():
        out.print(f"  {section}: {why}", markup=False)
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
    debug: bool = DEBUG_OPTION,
) -> int:
    """Load and check the data: bars, date range, features, label balance per segment, purge gaps.

    Example: hyperopt data --data prices.csv --set labels.horizon=24 --export labels.csv
    """
    from hyperopt_cli.control import resolve_config
    from hyperopt_cli.data.summary import data_summary, export_labels

    _state(ctx, debug=debug)

    cfg = resolve_config(config, list(set_ or []), data_path=data_file)
    summary, ohlcv = data_summary(cfg)
    if export is not None:
        n = export_labels(ohlcv, cfg.labels, export)
        summary["exported"] = {"path": str(export), "rows": n}
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
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
        None, "--token", envvar="HYPEROPT_TOKEN", help="Require `Authorization: Bearer TOKEN` on every request."
    ),
    debug: bool = DEBUG_OPTION,
) -> int:
    """Serve the original HTTP API (/api/hyperopt/...) and a web page at / over the runs directory.

    Runs started over HTTP are ordinary `hyperopt start` processes in runs/<job_id>/: stop
    them from the shell or the page alike; stopping the server never stops a run. Needs the
    serve extra: pip install 'hyperopt-cli[serve]'. Exits 2 for a non-loopback --host
    without a token.

    Example: hyperopt serve --port 8000 --runs-dir runs --config configs/quick.yaml
    """
    runs_dir = _state(ctx, runs_dir, debug).runs_dir
    try:
        from hyperopt_cli.server import app as server
    except ImportError as exc:
        raise CommandFailed(
            f"hyperopt serve needs FastAPI and uvicorn ({exc}); install: pip install 'hyperopt-cli[serve]'", 1
        ) from None
    refused = server.bind_error(host, token)
    if refused is not None:
        raise CommandFailed(refused, 2)
    server.serve(host, port, runs_dir, config, token)
    return EXIT_OK


def main() -> None:
    """The console script and `python -m hyperopt_cli`: errors were mapped to exit codes by the group."""
    app()


if __name__ == "__main__":
    main()
