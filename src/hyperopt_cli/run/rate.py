"""Trials per hour, the figure users compare between tools (issue 31): defined here once.

A rate is finished trials (complete + pruned + failed; a surplus trial, closed unrun, never
counts) per hour of the run's own search time. Search time is the run's elapsed time (the
`TimeBudget`'s, summed over sessions: a stopped night does not count) while one of its
groups was being searched. state.json keeps it as `group_spans`: per group, the
[from_s, to_s] stretches of the run's elapsed time it was current (to_s null while it is).
The run's rate counts every group's trials over every group's spans, so a session's
set-up and the final evaluation are not in it. A run without spans (written before
issue 31, or a state.json rebuilt from the studies) is rated over its `elapsed_s`.

Pure functions of state.json's content: status, results, the live view and the bench read
the figure through `state_rates`. No torch, no optuna.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

MIN_TRIALS = 2  # fewer finished trials than this: no rate (one trial says nothing of a pace)
MIN_SECONDS = 60.0  # under a minute of search time: no rate (a silly number from a few seconds)
NO_RATE = "\N{EM DASH}"  # what a screen shows where there is no rate

Spans = dict[str, list[list[float | None]]]  # group -> [[from_s, to_s or None while current], ...]


def trials_per_hour(finished: int, seconds: float | None) -> float | None:
    """`finished` trials per hour of `seconds`; None with fewer than MIN_TRIALS or under MIN_SECONDS."""
    if seconds is None or finished < MIN_TRIALS or seconds < MIN_SECONDS:
        return None
    return round(finished * 3600.0 / seconds, 2)


def format_rate(rate: float | None) -> str:
    """A rate for a screen: `38.2` (three figures or so), `412`, or NO_RATE."""
    if rate is None:
        return NO_RATE
    return f"{rate:.1f}" if rate < 100 else f"{rate:.0f}"


def mark_spans(spans: Spans | None, current: str | None, elapsed_s: float) -> Spans:
    """`spans` as of `elapsed_s` with `current` the group being searched (None: none is).

    Every other group's open span closes at `elapsed_s`; `current` opens one unless its last
    span is still open (a resumed group goes on where its stopped session left off, and the
    time between the sessions was never elapsed time). A group reopened by an extension gets
    a second span.
    """
    out: Spans = {str(group): valid_spans(rows) for group, rows in (spans or {}).items()}
    for group, rows in out.items():
        if group != current and rows and rows[-1][1] is None:
            rows[-1][1] = elapsed_s
    if current is not None:
        rows = out.setdefault(current, [])
        if not rows or rows[-1][1] is not None:
            rows.append([elapsed_s, None])
    return out


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def valid_spans(rows: Any) -> list[list[float | None]]:
    """The well-formed [from_s, to_s or None] pairs of a group's spans (a hand-edited file may hold anything)."""
    if not isinstance(rows, list):
        return []
    return [
        [float(span[0]), float(span[1]) if _number(span[1]) else None]
        for span in rows
        if isinstance(span, list) and len(span) == 2 and _number(span[0]) and (span[1] is None or _number(span[1]))
    ]


def span_seconds(rows: Any, elapsed_s: float) -> float | None:
    """Seconds of search time in a group's spans (an open span runs to `elapsed_s`); None for no valid span."""
    spans = valid_spans(rows)
    if not spans:
        return None
    return sum(max(0.0, (elapsed_s if end is None else end) - float(start or 0.0)) for start, end in spans)


@dataclass(frozen=True)
class Rates:
    """Trials per hour of a run and of each of its groups (None: too few trials or too little time)."""

    run: float | None = None
    groups: dict[str, float | None] = field(default_factory=dict)
    search_s: float | None = None  # the search time the run's rate is over


def _finished(row: Any) -> int:
    n = row.get("n_trials") if isinstance(row, dict) else None
    value = n.get("finished") if isinstance(n, dict) else None
    return int(value) if _number(value) else 0


def state_rates(state: dict[str, Any]) -> Rates:
    """The rates of a run from state.json's (or run_status's) `groups`, `group_spans` and `elapsed_s`."""
    elapsed = state.get("elapsed_s")
    elapsed_s = float(elapsed) if _number(elapsed) else 0.0
    groups: dict[str, Any] = state["groups"] if isinstance(state.get("groups"), dict) else {}
    spans: dict[str, Any] = state["group_spans"] if isinstance(state.get("group_spans"), dict) else {}
    finished = {name: _finished(row) for name, row in groups.items()}
    seconds = {name: span_seconds(spans.get(name), elapsed_s) for name in groups}
    per_group = {name: trials_per_hour(finished[name], seconds[name]) for name in groups}
    # A group with trials but no span ran before spans were kept: the run is rated over all its time.
    if any(seconds[name] is None for name in groups if finished[name]) or not groups:
        search_s: float | None = elapsed_s if _number(elapsed) else None
    else:
        search_s = sum(s for s in seconds.values() if s is not None)
    return Rates(trials_per_hour(sum(finished.values()), search_s), per_group, search_s)


def describe_rates(run: float | None, group: str | None = None, group_rate: float | None = None) -> str:
    """One piece for a screen: `trials/h: run 38.2, regularization 41.0` (the group only while one is current)."""
    text = f"trials/h: run {format_rate(run)}"
    return text + (f", {group} {format_rate(group_rate)}" if group else "")
