"""How the commands render what the library returns: numbers, durations, the results tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from hyperopt_cli.cli.app import out
from hyperopt_cli.cli.screen import Col, fit_table
from hyperopt_cli.report.words import check_lines, pbo_meaning, small_sample_note

if TYPE_CHECKING:
    from hyperopt_cli.run.results import RunResults


def line(text: str) -> None:
    """A prose line wrapped at spaces to the terminal (never mid-number); one line in a pipe."""
    out.print(text, markup=False, soft_wrap=False)


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def hours(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def describe_times(state: dict[str, Any]) -> str:
    """status's time line: elapsed, and what remains only while something runs (settled by run.status.settle)."""
    from hyperopt_cli.run.estimate import MEASURED, describe_remaining, format_duration, trials

    status, est = state.get("status"), state.get("time_estimate") or {}
    elapsed = f"elapsed {hours(state.get('elapsed_s'))}"
    if status == "completed":
        return f"{elapsed}, finished" + (f" at {local_time(state['finished_at'])}" if state.get("finished_at") else "")
    if status in ("paused", "interrupted", "failed"):
        left = est.get("remaining_hours")
        if status == "failed" or est.get("based_on") != MEASURED or not isinstance(left, (int, float)):
            return f"{elapsed}, not running"
        return (
            f"{elapsed}, not running; about {format_duration(float(left) * 3600)} of work left "
            f"({trials(est.get('remaining_trials', '?'))}) once resumed"
        )
    text = f"{elapsed}, {describe_remaining(est)}"
    if est.get("overdue_s"):
        return f"{elapsed}, past the estimate by {format_duration(float(est['overdue_s']))} (final evaluation or slower trials)"
    if est.get("based_on") == MEASURED and est.get("eta"):
        text += f", ETA {local_time(est['eta'])}"
    return text


def local_time(iso: Any) -> str:
    """An ISO timestamp as local `YYYY-mm-dd HH:MM` (one token pair, never cut mid-number)."""
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(iso)).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(iso)


def group_status(row: dict[str, Any]) -> str:
    """A group's status (or why it ended), with `kept: within noise` when the incumbent guard kept its start values."""
    text = str(row.get("status") or row.get("reason") or "-")
    return f"{text}; kept: {row['kept']}" if row.get("kept") else text


def print_results(res: RunResults, run_dir: Path, verdict_line: bool = True, unfinished: str | None = None) -> None:
    """`unfinished`: the status of a run that has not finished (its groups so far are shown)."""
    from hyperopt_cli.run.events import short_params

    if unfinished is not None:
        line(f"Run {run_dir} is not finished ({unfinished}); showing finished groups.")
    _print_groups(res)
    line(
        f"Best params: {short_params(res.best_params)}"
        + (f"; the final model trained {res.epochs} epochs" if res.epochs else "")
    )
    if isinstance(res.pbo, (int, float)):
        line(
            f"Probability of backtest overfitting (PBO, CSCV over the trials' fold sub-blocks): {res.pbo:.2f} "
            f"({pbo_meaning(res.pbo)})"
        )
    _print_checks(res)
    _print_scores(res)
    _print_importance(res)
    verdict = res.verdict
    if verdict and verdict_line:
        line(f"Verdict: {verdict.get('wording')}")
    small = small_sample_note((verdict or {}).get("n_samples"))
    if verdict and small:
        line(f"Note: {small}")
    _print_symbols(res)


def _print_groups(res: RunResults) -> None:
    """The Groups table; a screen too narrow for its params column gets them as lines below it."""
    from hyperopt_cli.run.events import short_params

    cells = []
    for name, row in res.group_results.items():
        n = row.n_trials or {}
        cells.append(
            [
                name,
                "-" if row.metric is None else str(row.metric),
                fmt(row.best_value),
                f"{n.get('complete', 0)}/{n.get('pruned', 0)}/{n.get('failed', 0)}",
                group_status({"reason": row.reason, "kept": row.kept}),
                short_params(row.best_params),
            ]
        )
    cols = (
        Col("group"),
        Col("metric", drop=2),
        Col("best", "right"),
        Col("trials c/p/f", "right", drop=1),
        Col("reason", prose=True),
        Col("best params", prose=True, drop=3),
    )
    table, dropped = fit_table(cols, cells, out.width, title="Groups")
    out.print(table)
    if "best params" in dropped:
        for name, row in res.group_results.items():
            if row.best_params:
                line(f"  {name}: {short_params(row.best_params)}")


def _print_scores(res: RunResults) -> None:
    """The out-of-sample scores of the tuned LSTM and its baselines (walk-forward or the test segment)."""
    test = res.test_metrics
    if not test:
        return
    blocks = len((res.walk_forward or {}).get("blocks") or [])
    title = (
        f"Walk-forward over {blocks} test blocks (each trained on all bars before it; never seen by the search)"
        if blocks
        else "Test segment (never seen by the search)"
    )
    rows = [("tuned LSTM", test)] + list((res.baselines or {}).items())
    cells = [
        [
            name,
            fmt(m.get("macro_f1")),
            fmt(m.get("macro_precision")),
            fmt(m.get("macro_recall")),
            fmt(m.get("accuracy")),
            fmt(m.get("trading_score")),
        ]
        for name, m in rows
    ]
    cols = (
        Col("model"),
        Col("macro F1", "right"),
        Col("precision", "right", drop=2),
        Col("recall", "right", drop=1),
        Col("accuracy", "right", drop=3),
        Col("trading score", "right"),
    )
    scores, _ = fit_table(cols, cells, out.width, title=title)
    out.print(scores)


def _print_importance(res: RunResults) -> None:
    from hyperopt_cli.evaluation.importance_table import IMPORTANCE_HEADER, importance_rows

    importance = importance_rows(res.feature_importance)
    if importance:
        families = Table(title="Which inputs the model uses (permutation importance on the last walk-forward block)")
        for col in IMPORTANCE_HEADER:
            families.add_column(col)
        for family in importance:
            families.add_row(*family)
        out.print(families)


def _print_checks(res: RunResults) -> None:
    """The run against the defaults, the epoch count and the decision rule, one line each (docs/selection.md)."""
    for line in check_lines(res):
        out.print(line, markup=False)


def _print_symbols(res: RunResults) -> None:
    """Several symbols: each symbol's scores and own verdict, under the pooled verdict."""
    from hyperopt_cli.run.symbols import POOLED_INTERVAL_NOTE, SYMBOL_HEADER, symbol_rows

    rows = symbol_rows(res.symbols)
    if not rows:
        return
    scaling = f", scaling {res.scaling}" if res.scaling else ""
    table = Table(
        title=f"Per symbol ({len(rows)} symbols{scaling}): each symbol's own verdict; the run's verdict is the pooled one"
    )
    for col in SYMBOL_HEADER:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    out.print(table)
    out.print(POOLED_INTERVAL_NOTE, markup=False)
