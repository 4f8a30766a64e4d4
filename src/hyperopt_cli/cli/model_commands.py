"""The commands around the tuned model: `predict` with it, `export` what a run found.

Thin like the others: parse, call hyperopt_cli.model, render. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from hyperopt_cli.cli.app import (
    DEBUG_OPTION,
    RUNS_DIR_OPTION,
    CommandFailed,
    app,
    cli_state,
    err,
    out,
    pick_run,
    run_argument,
)
from hyperopt_cli.cli.targets import check_target, writing_to
from hyperopt_cli.core.errors import EXIT_OK

if TYPE_CHECKING:
    import pandas as pd


@app.command()
def predict(
    ctx: typer.Context,
    run: Optional[str] = run_argument("the newest run", "A model folder (e.g. an export --refit) works too."),
    data_files: list[Path] = typer.Option(
        ...,
        "--data",
        metavar="<path>",
        help="OHLCV CSV or Parquet file, read as "
        "`start` reads it; a folder or a glob, or repeat it, for several symbols "
        "(one per file, named by its stem).",
    ),
    out_file: Optional[Path] = typer.Option(
        None, "--out", help="Write the signals to FILE.csv or FILE.parquet; - writes CSV to stdout."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only: a summary and one object per bar."),
    last: Optional[int] = typer.Option(
        None, "--last", min=0, help="Only the latest N bars that have a signal (of each symbol)."
    ),
    timestamp_column: Optional[str] = typer.Option(None, "--timestamp-column", help="Default: auto-detect."),
    timezone: Optional[str] = typer.Option(
        None, "--timezone", help="Zone of naive timestamps (default: the training data's)."
    ),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Predict SELL/HOLD/BUY with a run's saved model: one row per bar that has a full window of history.

    Columns: timestamp (UTC), signal, p_sell, p_hold, p_buy. Features are scaled with the
    statistics saved with the model (refitted only for a symbol it never saw, below). Warns
    when the file's bar spacing differs from the training data's or its bars overlap the
    training range (in-sample).
    Without --out or --json, prints the latest signals.

    Several files (--data repeated, a folder or a glob) give one table with a `symbol`
    column first (the file stem). A model trained on several symbols scales each with its
    own saved statistics; a symbol it never saw, under per-symbol scaling, with the
    statistics of its own bars, and says so in a warning.

    Example: hyperopt predict runs/20261127_215832 --data new_bars.csv --out signals.csv

    Example: hyperopt predict runs/20261127_215832 --data prices/ --out signals.csv
    """
    from hyperopt_cli.model.predict import predict_paths, prediction_json, signals_csv, write_signals

    to_stdout = out_file is not None and str(out_file) == "-"
    if to_stdout and as_json:
        raise typer.BadParameter("--out - and --json both write to stdout; use one", param_hint="'--out'")
    if out_file is not None and not to_stdout:
        check_target(out_file, "--out")
    run_dir = pick_run(run, cli_state(ctx, runs_dir, debug).runs_dir)
    prediction = predict_paths(run_dir, data_files, last=last, timestamp_column=timestamp_column, timezone=timezone)
    if to_stdout:
        sys.stdout.write(signals_csv(prediction))  # stdout is the CSV alone; warnings stay on stderr
        for warning in prediction.warnings:
            err.print(f"warning: {warning}", markup=False)
        return EXIT_OK
    if out_file is not None:
        with writing_to(out_file, "--out"):
            write_signals(prediction, out_file)
    if as_json:
        print(json.dumps({"run": str(run_dir), **prediction_json(prediction)}))
        return EXIT_OK
    for warning in prediction.warnings:
        err.print(f"warning: {warning}", markup=False)
    s = prediction.summary()
    where = f" to {out_file}" if out_file is not None else ""
    of_symbols = f" for {len(s['symbols'])} symbols" if "symbols" in s else ""
    out.print(
        f"{s['predicted']} signals{of_symbols}{where} ({s['bars']} bars; {s['skipped']} without a full "
        f"window of history, {s['lacking_history']} of them leading)",
        markup=False,
    )
    if out_file is None:
        out.print(_latest_table(prediction.frame))
    return EXIT_OK


def _latest_table(frame: pd.DataFrame) -> Table:
    """The latest 10 signals; for several symbols, each symbol's latest one."""
    several = "symbol" in frame
    latest = frame.groupby("symbol", sort=False).tail(1) if several else frame.tail(10)
    table = Table(title="Latest signal per symbol" if several else "Latest signals")
    for col in latest.columns:
        table.add_column(col)
    for row in latest.itertuples(index=False):
        cells = [row.symbol] if several else []
        table.add_row(
            *cells, row.timestamp.isoformat(), row.signal, f"{row.p_sell:.3f}", f"{row.p_hold:.3f}", f"{row.p_buy:.3f}"
        )
    return table


@app.command()
def export(
    ctx: typer.Context,
    run: Optional[str] = run_argument("the newest run"),
    config_out: Optional[Path] = typer.Option(
        None,
        "--config",
        help="Write a complete config with the best "
        "params filled in (YAML): `start --config` with it trains and "
        "evaluates them once, without a new search.",
    ),
    refit: bool = typer.Option(
        False,
        "--refit",
        help="Train the final configuration on every labelled bar into its own folder (never over RUN_DIR/model/).",
    ),
    refit_out: Optional[Path] = typer.Option(
        None, "--out", help="Folder of --refit (default: RUN_DIR/model_refit_all_bars)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --config file."),
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Export what a run found: a best-params config (--config FILE) and/or a model refitted on all bars (--refit).

    Example: hyperopt export runs/20261127_215832 --config best.yaml
    Example: hyperopt export runs/20261127_215832 --refit
    """
    run_dir = pick_run(run, cli_state(ctx, runs_dir, debug).runs_dir)
    if config_out is None and not refit:
        raise CommandFailed("export needs --config FILE, --refit, or both", 2)
    if config_out is not None:
        check_target(config_out, "--config")
    if refit and refit_out is not None:
        check_target(refit_out, "--out", folder=True)
    if config_out is not None:
        from hyperopt_cli.run.export import export_config

        with writing_to(config_out, "--config"):
            params = export_config(run_dir, config_out, force=force)
        out.print(
            f"Config with {len(params)} best params: {config_out}. `hyperopt start --config {config_out}` trains "
            "them once and evaluates them, without a new search; its header says how to re-tune instead.",
            markup=False,
        )
    if refit:
        from hyperopt_cli.run.export import refit as refit_model

        with writing_to(refit_out or run_dir, "--out"):
            made = refit_model(run_dir, refit_out)
        out.print(
            f"Refitted on every labelled bar: {made} (predict with: hyperopt predict {made} --data FILE)", markup=False
        )
    return EXIT_OK
