"""Progress events: the search emits them, displays and the run log consume them.

The search never imports rich; it only calls ``sink.emit(name, **data)``. Event names:
run_start, group_start, trial_start, epoch, trial_end, group_end, warning, note (news that
is not a warning, e.g. workers started), evaluation, run_end.
"""

from __future__ import annotations

import logging
from typing import Any

from hyperopt_cli.run.estimate import describe_remaining, trials

log = logging.getLogger("hyperopt_cli")


from hyperopt_cli.search.events import EventSink  # noqa: E402,F401 - the protocol lives below run/


class NullSink:
    def emit(self, event: str, **data: Any) -> None:
        pass


class FanOut:
    """Sends every event to several sinks."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: str, **data: Any) -> None:
        for sink in self.sinks:
            sink.emit(event, **data)


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


def describe(event: str, data: dict[str, Any]) -> str | None:
    """One plain log line for an event (None: not worth a line)."""
    group, trial = data.get("group"), data.get("trial")
    if event == "run_start":
        est = data.get("time_estimate") or {}
        return (
            f"run {data.get('job_id')} {data.get('action', 'started')} in {data.get('run_dir')}: mode {data.get('mode')}, "
            f"groups {', '.join(data.get('groups', []))}; {trials(est.get('total_trials', 0))}, {describe_remaining(est)}"
            + (f"; data {data['data']}; parallel {data.get('parallel')}" if data.get("data") else "")
        )
    if event == "group_start":
        return f"[{group}] started ({trials(data.get('finished', 0))} already finished)"
    if event == "trial_start":
        how = "resumed" if data.get("resumed") else "started"
        return f"[{group}] trial {trial} {how}: {short_params(data.get('params'))}"
    if event == "epoch":
        m = data.get("metrics", {})
        fold = f" fold {data['fold'] + 1}/{data['folds']}" if (data.get("folds") or 1) > 1 else ""
        if data.get("replayed"):
            return f"[{group}] trial {trial}{fold} epoch {data['epoch'] + 1}/{data['epochs']}: done before the restart"
        return (
            f"[{group}] trial {trial}{fold} epoch {data['epoch'] + 1}/{data['epochs']}: value {data['value']:.4f} "
            f"(val_f1 {m.get('val_f1', float('nan')):.4f}, val_loss {m.get('val_loss', float('nan')):.4f})"
        )
    if event == "trial_end":
        value = data.get("value")
        shown = f" value {value:.4f}" if isinstance(value, float) else ""
        flag = " [collapsed]" if data.get("collapsed") else ""
        return f"[{group}] trial {trial} {data.get('state')}{shown}{flag}"
    if event == "group_end":
        kept = f", kept: {data['kept']}" if data.get("kept") else ""
        epochs = f", {data['epochs']} epochs" if data.get("epochs") else ""
        return (
            f"[{group}] finished ({data.get('reason')}{kept}): best {data.get('best_value')} "
            f"with {short_params(data.get('best_params'))}{epochs}"
        )
    if event == "group_kept":
        return f"[{group}] {data.get('message')}"
    if event == "warning":  # no "WARNING" here: run.log's formatter prints the level, plain_line adds it
        where = f"[{group}] trial {trial}: " if group is not None else ""
        return f"{where}{data.get('message')}"
    if event == "note":
        return str(data.get("message"))
    if event == "evaluation":
        return f"final evaluation: {data.get('message')}"
    if event == "run_end":
        return f"run {data.get('status')}: {data.get('message', '')}".rstrip(": ")
    return None


def plain_line(event: str, data: dict[str, Any]) -> str | None:
    """describe() for a reader without log levels (plain log, live view): warnings say so."""
    line = describe(event, data)
    return f"WARNING {line}" if line is not None and event == "warning" else line


class LogSink:
    """Writes every event as a plain line to the `hyperopt_cli` logger (run.log)."""

    def emit(self, event: str, **data: Any) -> None:
        line = describe(event, data)
        if line is not None:
            log.log(logging.WARNING if event == "warning" else logging.INFO, line)
