"""The commands that read a run: `status`, `results`, `report`. They never disturb a live run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from hyperopt_cli.cli.app import (
    DEBUG_OPTION,
    QUIET_OPTION,
    RUNS_DIR_OPTION,
    app,
    cli_state,
    out,
    pick_run,
    print_json,
    run_argument,
    say,
)
from hyperopt_cli.cli.render import describe_times, fmt, group_status, hours, print_results
from hyperopt_cli.cli.run_selection import absolute, runs_oldest_first
from hyperopt_cli.cli.runs_overview import best_label, value_with_metric
from hyperopt_cli.cli.screen import Col, fit_table
from hyperopt_cli.cli.targets import check_target, writing_to
from hyperopt_cli.core.errors import EXIT_OK, HyperoptError
from hyperopt_cli.core.quote import printable
from hyperopt_cli.run.rate import describe_rates


@app.command()
def status(
    ctx: typer.Context,
    run: Optional[str] = run_argument("a table of all runs"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Show a run's status, progress per group, elapsed time, ETA, trials per hour and whether its owner is alive.

    Reads state.json only (never locks the live studies), so it is instant and safe while
    the run is going. Without RUN, lists every run under --runs-dir.

    Example: hyperopt status 20261127_215832 --json
    """
    from hyperopt_cli.control import run_status

    cli = cli_state(ctx, runs_dir, debug, quiet)

    if run is None:
        from hyperopt_cli.cli.runs_overview import with_scores

        rows = [with_scores(_status_row(run_status, p), p) for p in runs_oldest_first(cli.runs_dir)]
        if as_json:
            print_json(rows)
        elif not cli.quiet:
            _print_runs_table(rows, absolute(cli.runs_dir))
        return EXIT_OK
    path = pick_run(run, cli.runs_dir)
    state = run_status(path)
    if as_json:
        print_json({"run": str(path), **state})
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
    cols = (
        Col("job id"),
        Col("status"),
        Col("mode", drop=3),
        Col("group", drop=5),
        Col("groups done", "right", drop=4),
        Col("elapsed", "right", drop=2),
        Col("owner", drop=6),
        Col("best", "right", drop=1),
        Col("test F1", "right", drop=1),
        Col("verdict", prose=True, drop=7, least=48),
    )
    cells = []
    for row in rows:
        progress = row.get("progress") or {}
        groups = row.get("groups") or {}
        cells.append(
            [
                printable(str(row.get("job_id"))),
                str(row.get("status")),
                str(row.get("mode", "-")),
                str(progress.get("current_group") or "-"),
                f"{len(progress.get('groups_completed') or [])}/{len(groups)}",
                hours(row.get("elapsed_s")),
                f"pid {row['owner_pid']}" if row.get("owner_alive") else "-",
                best_label(row),
                fmt(row.get("test_macro_f1")),
                str(row.get("verdict") or "-"),
            ]
        )
    table, dropped = fit_table(cols, cells, out.width, title=f"Runs in {runs_dir}")
    out.print(table)
    if "verdict" in dropped:  # one line a run, wrapped at spaces, under the table
        for row in rows:
            if row.get("verdict"):
                out.print(f"{printable(str(row.get('job_id')))}: {row['verdict']}", markup=False)


def _line(text: str) -> None:
    """A line of `status` wrapped at spaces to the terminal (never mid-number); one line in a pipe."""
    out.print(text, markup=False, soft_wrap=False)


def _print_status(state: dict[str, Any]) -> None:
    progress = state.get("progress") or {}
    owner = f"alive (pid {state['owner_pid']})" if state.get("owner_alive") else "not running"
    _line(
        f"Run {printable(str(state.get('job_id')))}  [{state.get('status')}]  mode {state.get('mode')}  owner {owner}"
    )
    if state.get("message"):
        _line(f"  {state['message']}")
    if state.get("note"):
        _line(f"  note: {state['note']}")
    trial = progress.get("current_trial")
    epoch = progress.get("current_epoch")
    if progress.get("current_group"):
        where = f"trial {trial}" if trial is not None else "between trials"
        if epoch is not None:
            where += f", epoch {epoch + 1}/{progress.get('epochs_per_trial')}"
        label = "current" if state.get("status") in ("running", "starting") else "stopped at"
        _line(f"  {label}: {progress['current_group']}, {where}")
    _line(f"  {describe_times(state)}")
    group = progress.get("current_group")
    group_rate = ((state.get("groups") or {}).get(group) or {}).get("trials_per_hour") if group else None
    _line(f"  {describe_rates(state.get('trials_per_hour'), group, group_rate)}")
    from hyperopt_cli.run.events import short_params

    cols = (
        Col("group"),
        Col("status", prose=True, least=30),
        Col("trials", "right"),
        Col("pruned", "right", drop=2),
        Col("failed", "right", drop=3),
        Col("best", "right"),
        Col("best params", prose=True, drop=4),
    )
    cells = []
    for name, row in (state.get("groups") or {}).items():
        n = row.get("n_trials") or {}
        cells.append(
            [
                name,
                group_status(row),
                f"{n.get('finished', 0)}/{row.get('max_trials', '-')}",
                str(n.get("pruned", 0)),
                str(n.get("failed", 0)),
                value_with_metric(row.get("best_value"), row.get("metric")),
                short_params(row.get("best_params")),
            ]
        )
    table, dropped = fit_table(cols, cells, out.width)
    out.print(table)
    if "best params" in dropped:
        for name, row in (state.get("groups") or {}).items():
            if row.get("best_params"):
                out.print(f"  {name}: {short_params(row['best_params'])}", markup=False)
    if state.get("workers"):
        cols = (
            Col("host", drop=2),
            Col("pid"),
            Col("role"),
            Col("group"),
            Col("trial", "right"),
            Col("last heartbeat", "right", drop=1),
            Col("state"),
        )
        cells = [
            [
                str(info.get("host")),
                str(info.get("pid")),
                str(info.get("role", "-")),
                str(info.get("group") or "-"),
                str(info.get("trial") if info.get("trial") is not None else "-"),
                f"{info.get('heartbeat_age_s', '?')} s ago",
                str(info.get("state") or ("alive" if info.get("alive") else "DEAD")),
            ]
            for info in state["workers"].values()
        ]
        workers_table, _ = fit_table(cols, cells, out.width, title=f"Workers (storage: {state.get('storage')})")
        out.print(workers_table)


@app.command()
def results(
    ctx: typer.Context,
    run: Optional[str] = run_argument("the newest run"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print only JSON on stdout (schema in docs/json-output.md)."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Show the best params, per-group results, test metrics, baselines and the verdict of a run.

    Works on an unfinished run too (with what is finished so far, `complete: false`). A run
    on several symbols adds a table per symbol (its scores and its own verdict) under the
    pooled verdict.

    Example: hyperopt results 20261127_215832 --json
    """
    from hyperopt_cli.control import results_of
    from hyperopt_cli.run.results import RunResults

    cli = cli_state(ctx, runs_dir, debug, quiet)

    target = pick_run(run, cli.runs_dir)
    res = results_of(target)
    if as_json:
        print_json({"run": str(target), **res})
    elif not cli.quiet:
        print_results(RunResults.from_json(res), target, unfinished=None if res["complete"] else res["status"])
    return EXIT_OK


@app.command()
def report(
    ctx: typer.Context,
    run: Optional[str] = run_argument("the newest run", "Finished, paused or running."),
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
    the fixed params carried from group to group. With several symbols, the verdict section
    adds each symbol's scores and own verdict. Works on a paused or running run too
    (with what exists so far) and never disturbs a live run.

    Example: hyperopt report 20261127_215832
    """
    from hyperopt_cli.report.page import write_report

    state = cli_state(ctx, runs_dir, debug, quiet)
    run_dir = pick_run(run, state.runs_dir)
    if out_dir is not None:
        check_target(out_dir, "--out", folder=True)
    with writing_to(out_dir or run_dir, "--out"):
        made = write_report(run_dir, absolute(out_dir) if out_dir is not None else None)
    if as_json:
        print_json(
            {
                "run": str(run_dir),
                "run_dir": str(run_dir),
                "html": str(made.html),
                "figures": [str(f) for f in made.figures],
                "missing": made.missing,
            }
        )
        return EXIT_OK
    say(state, f"Report: {made.html} ({len(made.figures)} figures beside it)")
    for section, why in made.missing.items():
        say(state, f"  {section}: {why}")
    return EXIT_OK
