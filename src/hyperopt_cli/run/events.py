"""Progress events: the search emits them, displays and the run log consume them.

The search never imports rich; it only calls ``sink.emit(event)`` with one of the dataclasses
of ``search/events.py`` (the union ``Event`` is the list of events). Here: the sinks every
run has (``LogSink`` for run.log, ``FanOut``, ``NullSink``) and ``describe()``, the one plain
line per event that run.log, the plain log and the live view share.
"""

from __future__ import annotations

import logging
from typing import Any

from hyperopt_cli.run.estimate import describe_remaining, trials
from hyperopt_cli.search.events import (  # the events live below run/, so search/ can emit
    EpochEnd,
    EstimateUpdate,
    EvaluationNote,
    Event,
    EventSink,
    GroupEnd,
    GroupKept,
    GroupStart,
    Note,
    RunEnd,
    RunStart,
    RunWarning,
    TrialEnd,
    TrialStart,
    unhandled,
)

log = logging.getLogger("hyperopt_cli")


class NullSink:
    def emit(self, event: Event) -> None:
        pass


class FanOut:
    """Sends every event to several sinks."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


def short_params(params: dict[str, Any] | None, digits: int = 3) -> str:
    """`lr=0.00123 bs=64` style, for tables and log lines."""
    if not params:
        return "-"
    parts = []
    for name, value in params.items():
        if isinstance(value, bool):
            text = "T" if value else "F"
        elif isinstance(value, float):
            text = f"{value:.{digits}g}"
        else:
            text = str(value)
        parts.append(f"{name}={text}")
    return " ".join(parts)


def describe(event: Event) -> str | None:
    """One plain log line for an event (None: not worth a line)."""
    match event:
        case RunStart():
            est = event.time_estimate or {}
            return (
                f"run {event.job_id} {event.action} in {event.run_dir}: mode {event.mode}, "
                f"groups {', '.join(event.groups)}; {trials(est.get('total_trials', 0))}, {describe_remaining(est)}"
                + (f"; data {event.data}; parallel {event.parallel}" if event.data else "")
            )
        case GroupStart():
            return f"[{event.group}] started ({trials(event.finished)} already finished)"
        case TrialStart():
            how = "resumed" if event.resumed else "started"
            return f"[{event.group}] trial {event.trial} {how}: {short_params(event.params)}"
        case EpochEnd():
            m = event.metrics
            fold = f" fold {event.fold + 1}/{event.folds}" if event.folds > 1 else ""
            where = f"[{event.group}] trial {event.trial}{fold} epoch {event.epoch + 1}/{event.epochs}"
            if event.replayed:
                return f"{where}: done before the restart"
            return (
                f"{where}: value {event.value:.4f} "
                f"(val_f1 {m.get('val_f1', float('nan')):.4f}, val_loss {m.get('val_loss', float('nan')):.4f})"
            )
        case TrialEnd():
            shown = f" value {event.value:.4f}" if isinstance(event.value, float) else ""
            flag = " [collapsed]" if event.collapsed else ""
            return f"[{event.group}] trial {event.trial} {event.state}{shown}{flag}"
        case GroupEnd():
            kept = f", kept: {event.kept}" if event.kept else ""
            epochs = f", {event.epochs} epochs" if event.epochs else ""
            return (
                f"[{event.group}] finished ({event.reason}{kept}): best {event.best_value} "
                f"with {short_params(event.best_params)}{epochs}"
            )
        case GroupKept():
            return f"[{event.group}] {event.message}"
        case RunWarning():  # no "WARNING" here: run.log's formatter prints the level, plain_line adds it
            trial = f" trial {event.trial}" if event.trial is not None else ""
            where = f"[{event.group}]{trial}: " if event.group is not None else ""
            return f"{where}{event.message}"
        case Note():
            return event.message
        case EvaluationNote():
            return f"final evaluation: {event.message}"
        case EstimateUpdate():
            return None  # the live view's header shows it; a line per trial would only repeat it
        case RunEnd():
            return f"run {event.status}: {event.message}".rstrip(": ")
        case _:
            unhandled(event)


def plain_line(event: Event) -> str | None:
    """describe() for a reader without log levels (plain log, live view): warnings say so."""
    line = describe(event)
    return f"WARNING {line}" if line is not None and isinstance(event, RunWarning) else line


class LogSink:
    """Writes every event as a plain line to the `hyperopt_cli` logger (run.log)."""

    def emit(self, event: Event) -> None:
        line = describe(event)
        if line is not None:
            log.log(logging.WARNING if isinstance(event, RunWarning) else logging.INFO, line)
