"""The commands that run a search: `start`, `resume`, `worker`, `stop`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional

import typer

from hyperopt_cli.cli.app import (
    CONFIG_OPTION,
    DATA_OPTION,
    DEBUG_OPTION,
    QUIET_OPTION,
    RUNS_DIR_OPTION,
    SET_OPTION,
    CliState,
    CommandFailed,
    app,
    checked_sets,
    cli_state,
    err,
    out,
    pick_run,
    print_json,
    run_argument,
    say,
)
from hyperopt_cli.cli.render import print_results
from hyperopt_cli.cli.run_selection import absolute
from hyperopt_cli.config import GROUPS, MODES
from hyperopt_cli.core.errors import EXIT_OK, EXIT_STOPPED
from hyperopt_cli.search.study_records import MAX_MORE_TRIALS

if TYPE_CHECKING:
    from hyperopt_cli.run.results import RunResults

# Closed sets as Literal types: --help and shell completion list the choices, a typo is a usage error (exit 2).
ModeName = Literal[MODES]  # type: ignore[valid-type]
GroupName = Literal[GROUPS]  # type: ignore[valid-type]


def _run(optimizer: Any, display: Any, run_dir: Path, state: CliState, as_json: bool, more_trials: int = 0) -> int:
    """Run an optimizer (built with `events=display`) under the two-stage stop handler; returns the exit code."""
    from hyperopt_cli.core.errors import StopRequested
    from hyperopt_cli.run.results import RunResults
    from hyperopt_cli.run.signals import StopController

    with StopController(on_force=lambda: _mark_forced(run_dir), notify=lambda m: err.print(m, markup=False)) as ctl:
        start = getattr(display, "start", None)
        if start is not None:
            start()
        try:
            results = optimizer.optimize(ctl.stop_event, more_trials=more_trials)
        except StopRequested:
            _stop_display(display)
            say(state, f"Run paused: {run_dir}\nResume with: hyperopt resume {run_dir}", as_json)
            if as_json:
                print_json(run_outcome(run_dir, "paused", EXIT_STOPPED))
            return EXIT_STOPPED
        finally:
            _stop_display(display)
    if as_json:
        print_json(run_outcome(run_dir, "completed", EXIT_OK, RunResults.from_json(results)))
    elif not state.quiet:
        _print_results_summary(RunResults.from_json(results), run_dir)
    return EXIT_OK


def run_outcome(run_dir: Path, status: str, exit_code: int, results: RunResults | None = None) -> dict[str, Any]:
    """What `start --json` / `resume --json` print at the end."""
    outcome: dict[str, Any] = {
        "run": str(run_dir),
        "run_dir": str(run_dir),
        "job_id": run_dir.name,
        "status": status,
        "exit_code": exit_code,
    }
    if status == "paused":
        outcome["resume_with"] = f"hyperopt resume {run_dir}"
    if results is not None:
        verdict = results.verdict or {}
        outcome.update(
            best_params=results.best_params,
            verdict=verdict.get("wording"),
            beats_best_baseline=verdict.get("beats_best_baseline"),
        )
    return outcome


def _display(state: CliState) -> Any:
    """The live display on stderr, or nothing at all under --quiet."""
    if state.quiet:
        from hyperopt_cli.run.events import NullSink

        return NullSink()
    from hyperopt_cli.cli.progress import make_display

    return make_display(err)


def _stop_display(display: Any) -> None:
    stop = getattr(display, "stop", None)
    if stop is not None:
        stop()


def _mark_forced(run_dir: Path) -> None:
    from hyperopt_cli.run import rundir
    from hyperopt_cli.run.state_record import read_run_state

    state = read_run_state(run_dir)
    if state is not None:
        forced = "forced stop (second Ctrl-C); resume continues from the last checkpoint"
        rundir.write_json(run_dir / rundir.STATE_FILE, state.updated(status="paused", message=forced).to_json())


JSON_RUN_HELP = "At the end print only JSON on stdout: run_dir, job_id, status, exit_code, best_params, verdict."


@app.command()
def start(
    ctx: typer.Context,
    config: Optional[Path] = CONFIG_OPTION,
    mode: Optional[ModeName] = typer.Option(
        None, "--mode", "-m", help="Which groups to search (default: the config's, else full)."
    ),
    target: Optional[GroupName] = typer.Option(None, "--target", "-t", help="The group of --mode group (implies it)."),
    data: Optional[list[Path]] = DATA_OPTION,
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

    Several --data files (or a folder, or a glob) tune one model on all of them, one symbol
    per file; the run's config.yaml keeps the files they named at start (docs/data.md).

    Example: hyperopt start --mode quick --data prices.csv --set epochs_per_trial=2
    """
    from hyperopt_cli.config import families_for
    from hyperopt_cli.control import new_run_dir, owner_only_files, resolve_config
    from hyperopt_cli.core.errors import ConfigError
    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer, check_storage_is_fresh

    owner_only_files()  # the run's files (journals, logs, lock) are the user's alone, as serve's children's are
    state = cli_state(ctx, runs_dir, debug, quiet)
    runs_dir = state.runs_dir
    _check_target(mode, target, list(set_ or []))

    try:
        cfg = resolve_config(
            config, checked_sets(set_), mode=mode, target=target, data_path=data, n_workers=n_workers, exact=exact
        )
    except ConfigError as exc:
        if mode == "group" and target is None and "needs target_group" in str(exc):  # the flag is what is missing
            raise typer.BadParameter(
                f"--mode group needs --target GROUP (one of {', '.join(GROUPS)}), or target_group in the config",
                param_hint="'--target'",
            ) from None
        raise
    preparer = DataPreparer.for_run(load_data(cfg), cfg)
    preparer.prepare(
        cfg.labels, families_for(cfg, {})
    )  # validates the data (and its families) before anything is written
    check_storage_is_fresh(cfg, run_dir or runs_dir)
    path = absolute(new_run_dir(runs_dir, run_dir))
    say(state, f"Run directory: {path}", as_json)
    display = _display(state)
    return _run(HyperparameterOptimizer(cfg, path, events=display, preparer=preparer), display, path, state, as_json)


def _check_target(mode: str | None, target: str | None, overrides: list[str]) -> None:
    """--target with another mode is contradictory: refuse it (exit 2) rather than tune something else."""
    if target is None:
        return
    if mode is not None:
        given = f"--mode {mode}"
    else:
        sets = [s.split("=", 1) for s in overrides if "=" in s]
        modes = [value.strip() for key, value in sets if key.strip() == "mode"]
        mode, given = (modes[-1], f"--set mode={modes[-1]}") if modes else (None, "")
    if mode is not None and mode != "group":
        raise typer.BadParameter(
            f"only --mode group takes --target (--target alone implies it), got {given}", param_hint="'--target'"
        )


def _refuse_completed(cfg: Any, run_dir: Path, extending: bool) -> None:
    from hyperopt_cli.run.checks import completed_refusal
    from hyperopt_cli.run.state_record import EMPTY, read_run_state

    refusal = completed_refusal(cfg, run_dir, read_run_state(run_dir) or EMPTY, extending)
    if refusal is not None:
        raise refusal


@app.command()
def resume(
    ctx: typer.Context,
    run: Optional[str] = run_argument("the newest run"),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    more_trials: Optional[int] = typer.Option(
        None,
        "--more-trials",
        min=1,
        max=MAX_MORE_TRIALS,
        metavar="N",
        help="Reopen the run's last group for N more trials, also on a completed run (docs/stop-resume.md).",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_RUN_HELP),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Continue a paused or interrupted run where it stopped, or give it more trials.

    Finished groups are skipped; the interrupted trial continues from its checkpoint under
    the same trial number. A missing or corrupt state.json is rebuilt from config.yaml and
    the Optuna studies; an edited config.yaml is refused.

    `--more-trials N` reopens only the last group (earlier groups' values stay fixed, as
    every later group was tuned with them) for N more trials, then evaluates again
    if the chosen values changed. A stop during them resumes with a plain `resume`.

    Example: hyperopt resume 20261127_215832 --more-trials 10
    """
    from hyperopt_cli.control import owner_only_files
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    owner_only_files()
    state = cli_state(ctx, runs_dir, debug, quiet)
    run_dir = pick_run(run, state.runs_dir)
    display = _display(state)
    optimizer = HyperparameterOptimizer.from_run_dir(run_dir, events=display)
    _refuse_completed(optimizer.cfg, run_dir, extending=bool(more_trials))  # before `Resuming:`, not after it
    say(
        state,
        f"Resuming: {run_dir}"
        + (f" with {more_trials} more trial{'s' if more_trials != 1 else ''}" if more_trials else ""),
        as_json,
    )
    return _run(optimizer, display, run_dir, state, as_json, more_trials=more_trials or 0)


@app.command()
def worker(
    ctx: typer.Context,
    run: Optional[str] = run_argument("the newest run", "Shared or copied, with config.yaml."),
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
    from hyperopt_cli.cli.progress import PlainLog
    from hyperopt_cli.control import owner_only_files
    from hyperopt_cli.core.errors import StopRequested
    from hyperopt_cli.run.events import NullSink
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer
    from hyperopt_cli.run.signals import StopController

    owner_only_files()
    state = cli_state(ctx, runs_dir, debug, quiet)
    run_dir = pick_run(run, state.runs_dir)
    events = NullSink() if state.quiet else PlainLog(sys.stderr)
    optimizer = HyperparameterOptimizer.from_run_dir(run_dir, events=events)
    from hyperopt_cli.search.workers import OwnerWatch, owner_from_env

    with (
        StopController(notify=lambda m: err.print(m, markup=False)) as ctl,
        OwnerWatch(owner_from_env(), ctl.stop_event, on_gone=lambda m: err.print(m, markup=False)),
    ):
        try:
            optimizer.work(ctl.stop_event)
        except StopRequested:
            say(state, f"Worker stopped: {run_dir}", as_json)
            if as_json:
                print_json(
                    {
                        "run": str(run_dir),
                        "run_dir": str(run_dir),
                        "job_id": run_dir.name,
                        "status": "stopped",
                        "exit_code": EXIT_STOPPED,
                    }
                )
            return EXIT_STOPPED
    say(state, f"Worker done: every group of {run_dir} is finished", as_json)
    if as_json:
        print_json(
            {
                "run": str(run_dir),
                "run_dir": str(run_dir),
                "job_id": run_dir.name,
                "status": "done",
                "exit_code": EXIT_OK,
            }
        )
    return EXIT_OK


# --------------------------------------------------------------------------- stop


@app.command()
def stop(
    ctx: typer.Context,
    run: Optional[str] = run_argument("the newest running run"),
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

    state = cli_state(ctx, runs_dir, debug, quiet)
    target = pick_run(run, state.runs_dir, running=True)
    outcome = stop_run(target, timeout_s=timeout)
    if as_json:
        print_json(
            {
                "run": str(target),
                "run_dir": str(target),
                "job_id": target.name,
                "pids": outcome.pids,
                "stopped": outcome.stopped,
                "seconds": round(outcome.seconds, 3),
                "status": outcome.status,
                "flagged": outcome.flagged,
            }
        )
    pids = ", ".join(str(p) for p in outcome.pids) or "none here"
    if not outcome.stopped:
        raise CommandFailed(f"pid(s) {pids} still running after {timeout:g} s; try again or kill them", 1)
    if outcome.status == "completed":
        say(state, f"{target} finished before the stop took effect; nothing to resume.", as_json)
        return EXIT_OK
    remote = "; workers on other machines see the stop flag within a heartbeat" if outcome.flagged else ""
    if outcome.flag_error:
        remote = (
            f"; the shared stop flag could not be set ({outcome.flag_error}), so stop workers on other machines there"
        )
    say(
        state,
        f"Stopped {target} (pid {pids}) in {outcome.seconds:.1f} s; status: {outcome.status}{remote}.\n"
        f"Resume with: hyperopt resume {target}",
        as_json,
    )
    return EXIT_OK


def _print_results_summary(res: RunResults, run_dir: Path) -> None:
    print_results(res, run_dir, verdict_line=False)
    out.print(f"Charts and the per-trial table: hyperopt report {run_dir}", markup=False)
    out.print(final_summary_line(res, run_dir), markup=False)  # the last line states the verdict


def final_summary_line(res: RunResults, run_dir: Path) -> str:
    """The last line `start`/`resume` print: where the run is and, in words, whether the LSTM won."""
    wording = (res.verdict or {}).get("wording")
    verdict = wording if wording else "none (this run has no walk-forward evaluation)"
    return f"Run completed: {run_dir}. Verdict: {verdict}"
