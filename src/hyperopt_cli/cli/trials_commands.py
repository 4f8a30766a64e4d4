"""Trial-level views: `trials` lists a run's trials, `show` one trial's epochs (hyperopt_cli.cli.trials reads them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal, Optional

import typer

from hyperopt_cli.cli.app import DEBUG_OPTION, RUNS_DIR_OPTION, app, cli_state, out, pick_run, run_argument
from hyperopt_cli.cli.render import fmt, line
from hyperopt_cli.cli.screen import Col, fit_table
from hyperopt_cli.cli.trials import SORTS, STATES
from hyperopt_cli.core.errors import EXIT_OK

PARTIAL_NOTE = (
    "A value in parentheses is partial: a pruned trial's last report (one fold, one epoch), "
    "not comparable with a complete trial's mean over its folds at its chosen epoch."
)
SortName = Literal[SORTS]  # type: ignore[valid-type]
StateName = Literal[STATES]  # type: ignore[valid-type]


def trial_value(row: dict[str, Any]) -> str:
    """A trial's value, in parentheses when partial (pruned)."""
    text = fmt(row["value"])
    return f"({text})" if row.get("partial") else text


def pruned_where(row: dict[str, Any]) -> str:
    """Where a pruned trial stopped: `fold 2 epoch 1`, or `epoch 3` with one fold."""
    if row.get("pruned_at") is None:
        return "-"
    fold = row.get("pruned_in_fold")
    if row.get("pruned_by") == "race":
        return f"raced, fold {fold}"
    if row.get("pruned_by") == "rung":
        return f"rung, {row['pruned_at']} epochs"
    return f"fold {fold} epoch {row['pruned_at']}" if fold else f"epoch {row['pruned_at']}"


@app.command()
def trials(
    ctx: typer.Context,
    run: Optional[str] = run_argument("the newest run", "Live runs too."),
    group: Optional[str] = typer.Option(None, "--group", help="Only this group's trials."),
    sort: SortName = typer.Option(
        "number", "--sort", help="Order within each group: number, value (best first), duration (longest first)."
    ),
    state: Optional[StateName] = typer.Option(None, "--state", help="Only trials in this state."),
    top: Optional[int] = typer.Option(
        None, "--top", min=1, help="Only the first N trials of each group (after --sort)."
    ),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV only: one row per trial, one column per param."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only (schema in docs/json-output.md)."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """List a run's trials: number, state, value, params, epochs run, pruned at, collapsed, duration, worker.

    Example: hyperopt trials runs/20261127_215832 --group regularization --sort value --top 5

    Example: hyperopt trials --state complete --csv > trials.csv
    """
    from hyperopt_cli.cli.trials import list_trials, trials_csv
    from hyperopt_cli.run.events import short_params

    if as_csv and as_json:
        raise typer.BadParameter("--csv and --json both write to stdout; use one", param_hint="'--csv'")
    run_dir = pick_run(run, cli_state(ctx, runs_dir, debug).runs_dir)
    rows = list_trials(run_dir, group, states=[state] if state else [], sort=sort, top=top)
    if as_json:
        print(json.dumps([{"run": str(run_dir), **r} for r in rows], default=str))
        return EXIT_OK
    if as_csv:
        sys.stdout.write(trials_csv(rows))
        return EXIT_OK
    cols = (
        Col("group", drop=3),
        Col("#", "right"),
        Col("state"),
        Col("value", "right"),
        Col("folds", "right", drop=4),
        Col("epochs", "right", drop=5),
        Col("pruned at", prose=True, drop=6),
        Col("collapsed", drop=7),
        Col("seconds", "right", drop=2),
        Col("worker", drop=8),
        Col("params", prose=True, drop=1),
    )
    cells = [
        [
            r["group"],
            str(r["number"]),
            r["state"],
            trial_value(r),
            str(r["folds_run"]),
            str(r["epochs_run"]),
            pruned_where(r),
            "yes" if r["collapsed"] else "-",
            fmt(r["duration_s"], 1),
            str(r["worker"] or "-"),
            short_params(r["params"]),
        ]
        for r in rows
    ]
    table, dropped = fit_table(cols, cells, out.width, title=f"Trials of {run_dir}")
    out.print(table)  # fits a terminal's window; in a pipe or a file no row is wrapped (app.UNWRAPPED_WIDTH)
    if dropped:
        line(f"(no room for {', '.join(dropped)} at {out.width} columns: a wider terminal, --csv or --json show them)")
    if any(r["partial"] for r in rows):
        line(PARTIAL_NOTE)
    return EXIT_OK


SHOW_USAGE = "show needs GROUP and TRIAL: hyperopt show [RUN] GROUP TRIAL, e.g. hyperopt show learning_rate 3"


def _show_arguments(args: list[str]) -> tuple[str | None, str, int]:
    """(run or None for the newest, group, trial number) from `[RUN] GROUP TRIAL`; a usage error names what is missing."""
    if len(args) not in (2, 3):
        got = f"got {len(args)} argument{'s' if len(args) != 1 else ''}" + (f" ({' '.join(args)})" if args else "")
        raise typer.BadParameter(f"{SHOW_USAGE}; {got}", param_hint="'[RUN] GROUP TRIAL'")
    *run, group, trial = args
    try:
        number = int(trial)
    except ValueError:
        raise typer.BadParameter(
            f"TRIAL must be a trial number, got {trial!r}; {SHOW_USAGE}", param_hint="'TRIAL'"
        ) from None
    return (run[0] if run else None), group, number


@app.command()
def show(
    ctx: typer.Context,
    args: Optional[list[str]] = typer.Argument(
        None,
        metavar="[RUN] GROUP TRIAL",
        help="The run (a directory or a job id under --runs-dir; default: the newest run), the trial's group "
        "(e.g. learning_rate) and its number in that group.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only (schema in docs/json-output.md)."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Show one trial: its params and every epoch's metrics.

    Without RUN, the newest run.

    Example: hyperopt show runs/20261127_215832 learning_rate 3
    """
    from hyperopt_cli.cli.trials import show_trial
    from hyperopt_cli.run.events import short_params

    run, group, trial = _show_arguments(args or [])
    run_dir = pick_run(run, cli_state(ctx, runs_dir, debug).runs_dir)
    detail = show_trial(run_dir, group, trial)
    if as_json:
        print(json.dumps({"run": str(run_dir), **detail}, default=str))
        return EXIT_OK
    partial = " (partial: a pruned trial's last report)" if detail["partial"] else ""
    chosen = (
        f"; the mean over {detail['folds']} folds at epoch {detail['chosen_epochs']}"
        if detail.get("chosen_epochs") and detail["state"] == "COMPLETE"
        else ""
    )
    line(
        f"{group} trial #{trial}: {detail['state']}, {detail['metric']} {fmt(detail['value'])}{partial}{chosen}"
        f"{' (collapsed, penalised)' if detail['collapsed'] else ''}"
    )
    line(f"params: {short_params(detail['params'])}")
    names = (
        "fold",
        "epoch",
        "value",
        "train_loss",
        "val_loss",
        "val_f1",
        "val_precision",
        "val_recall",
        "trading_score",
    )
    drops = {"val_precision": 3, "val_recall": 2, "trading_score": 1}
    cols = tuple(Col(n, "right", drop=drops.get(n, 0)) for n in names)
    table, dropped = fit_table(
        cols,
        [[fmt(e.get(n)) for n in names] for e in detail["epochs"]],
        out.width,
        title="Epochs (value: this fold's objective at this epoch)",
    )
    out.print(table)
    if dropped:
        line(f"(no room for {', '.join(dropped)} at {out.width} columns: --json has every metric)")
    if detail["folds"] > 1:
        line(
            f"Only fold {detail['folds']} (the configured split) keeps every metric; the earlier folds "
            "report their objective value alone."
        )
    line(
        "train_loss is the training objective (focal or weighted cross-entropy as configured); "
        "val_loss is plain cross-entropy on the validation part."
    )
    return EXIT_OK
