"""Several symbols in one run: the final evaluation per symbol, and how every reader shows it.

One home for what results.json's `symbols` holds and for the rows of the per-symbol table
that `hyperopt results`, the report and the web page show under the pooled verdict. A
single-file run has no per-symbol content: `symbol_results` gives {} and results.json leaves
`symbols` and `scaling` out (run/results.py), so it keeps exactly the keys it always had.

Torch- and optuna-free (the verdict is imported only where a result is judged), so
`hyperopt results` and `status` stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hyperopt_cli.data.sources import symbol_of

if TYPE_CHECKING:
    from hyperopt_cli.evaluation.walkforward import WalkForwardResult

SYMBOL_HEADER: tuple[str, ...] = (
    "symbol",
    "test samples",
    "LSTM macro F1",
    "best baseline",
    "its macro F1",
    "Δ macro F1 [95% interval]",
    "LSTM trading score",
    "verdict",
)
POOLED_INTERVAL_NOTE = (
    "The pooled interval resamples blocks of time across all symbols: a drawn time brings every "
    "symbol's test sample at that time, so correlated symbols cannot pass for independent evidence. "
    "Each symbol's own interval resamples blocks of that symbol's samples, against the baseline "
    "that is best on that symbol."
)
HEADER_NAMES = 6  # symbols named in a one-line label before "…"


def data_label(path: str | list[str] | None, limit: int | None = HEADER_NAMES) -> str | None:
    """How a run names its data: the file, or '3 symbols (A, B, C)' for a list; None: synthetic."""
    if path is None:
        return None
    if isinstance(path, str):
        return path
    names = [symbol_of(p) for p in path]
    shown = names if limit is None or len(names) <= limit else [*names[:limit], "…"]
    return f"{len(names)} symbols ({', '.join(shown)})"


def symbol_results(result: WalkForwardResult, *, seed: int) -> dict[str, dict[str, Any]]:
    """Per symbol, in the run's symbol order: its test metrics, baselines and own verdict; {} for one symbol.

    The keys mirror the pooled ones of results.json (`test_metrics` is the LSTM's). A symbol
    with no test samples (its calendar ended before the test segment) is listed with nulls.
    """
    if len(result.symbol_names) < 2:
        return {}
    from hyperopt_cli.evaluation.verdict import symbol_verdicts
    from hyperopt_cli.evaluation.walkforward import MODEL

    metrics = result.by_symbol()
    verdicts = symbol_verdicts(result, seed=seed)
    out: dict[str, dict[str, Any]] = {}
    for name in result.symbol_names:
        mine = metrics.get(name) or {}
        judged = verdicts.get(name)
        out[name] = {
            "test_metrics": mine.get(MODEL),
            "baselines": {k: m for k, m in mine.items() if k != MODEL} or None,
            "verdict": judged.as_dict() if judged is not None else None,
        }
    return out


def verdict_word(verdict: dict[str, Any] | None) -> str:
    """'beats', 'worse' or 'no evidence' (', collapsed' added when most predictions fall in one class)."""
    if not verdict:
        return "-"
    word = (
        "beats"
        if verdict.get("beats_best_baseline")
        else "worse"
        if verdict.get("worse_than_best_baseline")
        else "no evidence"
    )
    return word + (", collapsed" if verdict.get("collapsed") else "")


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _signed(value: Any) -> str:
    return f"{value:+.3f}".replace("-", "\u2212") if isinstance(value, (int, float)) else "-"


def symbol_rows(symbols: Mapping[str, Any] | None) -> list[list[str]]:
    """The per-symbol table's rows (SYMBOL_HEADER's columns) from results.json `symbols`, as text; [] for one symbol."""
    rows = []
    for name, entry in (symbols or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        test = entry.get("test_metrics") or {}
        verdict = entry.get("verdict") or {}
        baseline = verdict.get("baseline")
        base_f1 = ((entry.get("baselines") or {}).get(baseline) or {}).get("macro_f1") if baseline else None
        lo, hi = (list(verdict.get("interval_macro_f1") or []) + [None, None])[:2]
        delta = (
            f"{_signed(verdict.get('delta_macro_f1'))} [{_signed(lo)}, {_signed(hi)}]"
            if verdict.get("delta_macro_f1") is not None
            else "-"
        )
        samples = test.get("n_samples")
        rows.append(
            [
                str(name),
                str(samples) if samples is not None else "0",
                _number(test.get("macro_f1")),
                str(baseline or "-"),
                _number(base_f1),
                delta,
                _number(test.get("trading_score")),
                verdict_word(verdict),
            ]
        )
    return rows
