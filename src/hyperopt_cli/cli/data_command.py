"""`hyperopt data`: load and check the data a config would train on, and export its labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from hyperopt_cli.cli.app import (
    CONFIG_OPTION,
    DATA_OPTION,
    DEBUG_OPTION,
    QUIET_OPTION,
    SET_OPTION,
    app,
    checked_sets,
    cli_state,
    out,
    print_json,
)
from hyperopt_cli.cli.run_selection import absolute
from hyperopt_cli.cli.targets import check_target, writing_to
from hyperopt_cli.core.errors import EXIT_OK
from hyperopt_cli.core.quote import printable


@app.command()
def data(
    ctx: typer.Context,
    config: Optional[Path] = CONFIG_OPTION,
    data_file: Optional[list[Path]] = DATA_OPTION,
    set_: Optional[list[str]] = SET_OPTION,
    export: Optional[Path] = typer.Option(
        None, "--export", help="Write timestamp,label for every labelled bar (symbol,timestamp,label for several)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = QUIET_OPTION,
    debug: bool = DEBUG_OPTION,
) -> int:
    """Load and check the data: bars, date range, features, label balance per segment, purge gaps.

    Several --data files (or a folder, or a glob) are one symbol each, checked together.

    Example: hyperopt data --data prices.csv --set labels.horizon=24 --export labels.csv
    """
    from hyperopt_cli.control import resolve_config
    from hyperopt_cli.data.summary import data_summary, export_labels

    cli = cli_state(ctx, debug=debug, quiet=quiet)
    if export is not None:
        check_target(export, "--export")

    cfg = resolve_config(config, checked_sets(set_), data_path=data_file)
    summary, ohlcv = data_summary(cfg)
    if export is not None:
        with writing_to(export, "--export"):
            n = export_labels(ohlcv, cfg.labels, export)
        summary["exported"] = {"path": str(absolute(export)), "rows": n}
    if as_json:
        print_json(summary)
    elif not cli.quiet:
        _print_data_summary(summary)
    return EXIT_OK


def _print_data_summary(s: dict[str, Any]) -> None:
    out.print(
        f"{printable(str(s.get('source')))}: {s.get('bars')} bars, {s.get('first_timestamp')} .. {s.get('last_timestamp')} "
        f"(bar size {s.get('bar_size')}, {s.get('gaps', 0)} gaps)",
        markup=False,
    )
    out.print(f"{s.get('n_features')} features; purge {s.get('purge_bars')} bars before each boundary", markup=False)
    from hyperopt_cli.data.summary import feature_family_lines

    for line in feature_family_lines(s):
        out.print(f"  {line}", markup=False)
    table = Table(title="Labels per segment")
    for col in ("segment", "samples", "from", "to", "SELL", "HOLD", "BUY"):
        table.add_column(col)
    for name, seg in (s.get("segments") or {}).items():
        shares = seg.get("label_shares") or {}
        counts = seg.get("label_counts") or {}
        table.add_row(
            name,
            str(seg.get("samples")),
            str(seg.get("first_timestamp", "-")),
            str(seg.get("last_timestamp", "-")),
            *(f"{counts.get(c, 0)} ({shares.get(c, 0.0):.1%})" for c in ("SELL", "HOLD", "BUY")),
        )
    out.print(table)
    symbols = s.get("symbols") or []
    if len(symbols) > 1:
        out.print(_symbol_table(symbols, s.get("scaling")))
    for warning in s.get("warnings") or []:
        out.print(f"warning: {warning}", markup=False)
    if s.get("exported"):
        out.print(f"Exported {s['exported']['rows']} labels to {s['exported']['path']}", markup=False)


def _symbol_table(symbols: list[dict[str, Any]], scaling: str | None) -> Table:
    """One row per symbol (bars, range, spacing, samples per segment, label shares) and the pooled totals."""
    table = Table(title=f"Symbols (scaled {str(scaling or 'per_symbol').replace('_', ' ')})")
    for col in ("symbol", "bars", "from", "to", "bar size", "gaps", "train/val/test", "SELL", "HOLD", "BUY"):
        table.add_column(col)
    totals = {"bars": 0, "gaps": 0, "train": 0, "val": 0, "test": 0}
    for row in symbols:
        samples = row.get("samples") or {}
        shares = row.get("label_shares") or {}
        totals["bars"] += int(row.get("bars") or 0)
        totals["gaps"] += int(row.get("gaps") or 0)
        for name in ("train", "val", "test"):
            totals[name] += int(samples.get(name) or 0)
        table.add_row(
            printable(str(row.get("symbol"))),
            str(row.get("bars")),
            str(row.get("first_timestamp")),
            str(row.get("last_timestamp")),
            str(row.get("bar_size")),
            str(row.get("gaps", 0)),
            "/".join(str(samples.get(n, 0)) for n in ("train", "val", "test")),
            *(f"{shares.get(c, 0.0):.1%}" for c in ("SELL", "HOLD", "BUY")),
        )
    table.add_row(
        "pooled",
        str(totals["bars"]),
        "",
        "",
        "",
        str(totals["gaps"]),
        "/".join(str(totals[n]) for n in ("train", "val", "test")),
        "",
        "",
        "",
        end_section=True,
    )
    return table
