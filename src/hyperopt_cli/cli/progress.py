"""What a person watching a run sees: a live table on a terminal, plain log lines elsewhere.

Both are event sinks (see ``events``): the search emits, they only listen. ``LiveDisplay``
keeps its own per-group counters from the events and redraws one rich ``Live`` on stderr
from Live's refresh thread at a bounded rate (never on the thread that emits);
``PlainLog`` prints one timestamped ``plain_line()`` per event (nohup, CI, pipes).
``make_display()`` picks one from the console.

With several workers the events only tell what this process did, so the live view also
reads the owner's state.json (written from the studies at every epoch and trial) at most
once a second: trial counts, bests, each group's elapsed time, the estimate and the trials
per hour come from the storage, not from this process's own trials.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from hyperopt_cli.cli.screen import Col, EscapingConsole, fit_path, fit_table, flow
from hyperopt_cli.run.estimate import MEASURED, describe_remaining, format_duration, trials
from hyperopt_cli.run.events import plain_line, short_params
from hyperopt_cli.run.rate import Rates, describe_rates, state_rates
from hyperopt_cli.run.state_record import GroupState, Progress, RunState, read_run_state
from hyperopt_cli.search.events import (
    EpochEnd,
    EstimateUpdate,
    EvaluationNote,
    Event,
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

STATUS_STYLE = {"pending": "dim", "running": "bold yellow", "paused": "magenta", "completed": "green"}
MAX_WARNINGS = 3  # warnings kept on screen, most recent last
# Redraws per second, all on Live's own thread: emit() only updates counters, so the
# training thread never waits on rendering (it cost ~20 ms an event on the run's thread).
REFRESH_PER_SECOND = 2
STATE_READ_S = 1.0  # how often the live view re-reads state.json (the storage's counts)


def _hms(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _local_time(iso: str | None) -> str:
    """An ISO timestamp (state.json's UTC "eta") as local `YYYY-mm-dd HH:MM`."""
    try:
        return dt.datetime.fromisoformat(str(iso)).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(iso)


def _better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _best(row: _GroupRow) -> str:
    """The best value and the trial that has it (any worker's): `1.0711 #4`."""
    if row.best_value is None:
        return "-"
    return _value(row.best_value) + (f" #{row.best_trial}" if row.best_trial is not None else "")


BAR_WIDTH = 20
# The live table's columns; `drop`: which goes first when the screen is narrow (best params: shown under it).
TABLE_COLUMNS = (
    Col("group"),
    Col("status"),
    Col("trials", "right"),
    Col("pruned", "right", drop=3),
    Col("failed", "right", drop=4),
    Col("best", "right"),
    Col("best params", prose=True, drop=5),
    Col("elapsed", "right", drop=2),
)


def other_workers(state: RunState, own_pid: Any) -> list[str]:
    """One line per other live worker of the run (state.json's heartbeats): where it is now."""
    lines = []
    for info in (state.workers or {}).values():
        if not isinstance(info, dict) or not info.get("alive") or info.get("pid") == own_pid:
            continue
        where = (
            f"[{info['group']}] trial {info['trial']}"
            if info.get("group") and info.get("trial") is not None
            else "between trials"
        )
        lines.append(f"worker pid {info.get('pid')} ({info.get('role') or 'worker'}): {where}")
    return lines


def finished_elsewhere(state: RunState, seen: set[tuple[str, int]]) -> list[tuple[str, int, float]]:
    """Complete trials in state.json's groups (every worker's) not in `seen`; adds them to it."""
    new = []
    for group, info in (state.groups or {}).items():
        for item in (info.history or []) if isinstance(info, GroupState) else []:
            try:
                number, value = int(item[0]), float(item[1])
            except (TypeError, ValueError, IndexError):
                continue
            if (group, number) not in seen:
                seen.add((group, number))
                new.append((group, number, value))
    return new


@dataclass
class _GroupRow:
    """One group as the events describe it."""

    status: str = "pending"
    direction: str = "maximize"
    done_before: int = 0  # trials already finished when a resumed group started
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    best_value: float | None = None
    best_params: dict[str, Any] | None = None
    best_trial: int | None = None  # the storage's word (state.json): any worker's trial
    started: float | None = None  # clock time of group_start
    ended: float | None = None  # clock time of group_end / pause
    wall_s: float = 0.0  # from state.json: first trial start to last trial end, over every worker
    max_trials: int | None = None  # from state.json

    @property
    def finished(self) -> int:
        return self.done_before + self.complete + self.pruned + self.failed


@dataclass
class _Trial:
    """The trial in flight."""

    group: str
    number: int
    params: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0  # epochs done
    epochs: int | None = None
    value: float | None = None


class LiveDisplay:
    """A rich ``Live`` view of a run: header, group table, current trial, last warnings."""

    def __init__(self, console: Console | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console or EscapingConsole(stderr=True)
        self.clock = clock
        self._lock = threading.Lock()  # emit() runs in the search thread, renderable() in Live's
        self._live: Live | None = None
        self._run: RunStart | None = None
        self._status = "starting"
        self._started = clock()
        self._estimate: dict[str, Any] = {}
        self._estimate_at: float | None = None  # clock time the estimate arrived (the countdown's start)
        self._max_trials: int | None = None
        self._groups: dict[str, _GroupRow] = {}
        self._trial: _Trial | None = None
        self._warnings: deque[str] = deque(maxlen=MAX_WARNINGS)
        self._note = "no trial running"  # shown when no trial is: the final evaluation's progress
        self._state_read: float | None = None  # clock time state.json was last read
        self._others: list[str] = []  # the other live workers' trials, from state.json's heartbeats
        self._rates = Rates()  # trials per hour, from state.json (run/rate.py): the run's time over its sessions
        self._rated_group: str | None = None  # the group state.json says is current

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._live is None:
            self._live = Live(
                console=self.console,
                transient=False,
                refresh_per_second=REFRESH_PER_SECOND,
                get_renderable=self.renderable,
            )
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()  # draws the final state once more
            self._live = None

    def __enter__(self) -> LiveDisplay:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ events

    def update_estimate(self, time_estimate: dict[str, Any]) -> None:
        """Replace the run's time estimate (state.json's "time_estimate" shape)."""
        with self._lock:
            self._set_estimate(time_estimate)

    def emit(self, event: Event) -> None:
        with self._lock:
            match event:
                case RunStart():
                    self._on_run_start(event)
                case GroupStart():
                    self._on_group_start(event)
                case TrialStart():
                    self._on_trial_start(event)
                case EpochEnd():
                    self._on_epoch(event)
                case TrialEnd():
                    self._on_trial_end(event)
                case GroupEnd():
                    self._on_group_end(event)
                case RunWarning():
                    self._on_warning(event)
                case EstimateUpdate():
                    self._set_estimate(event.time_estimate)
                case EvaluationNote():
                    self._note = plain_line(event) or self._note
                case RunEnd():
                    self._on_run_end(event)
                case GroupKept() | Note():
                    pass  # run.log and the plain log tell them; the view has no place for them
                case _:
                    unhandled(event)

    def _row(self, group: str) -> _GroupRow:
        return self._groups.setdefault(group, _GroupRow())

    def _on_run_start(self, event: RunStart) -> None:
        self._run = event
        self._status = "running"
        self._started = self.clock()
        self._set_estimate(event.time_estimate)
        groups = list(event.groups)
        total = self._estimate.get("total_trials")
        self._max_trials = event.max_trials or (total // len(groups) if total and groups else None)
        for group in groups:
            self._row(group)

    def _on_group_start(self, event: GroupStart) -> None:
        row = self._row(event.group)
        row.status, row.started, row.ended = "running", self.clock(), None
        row.done_before = event.finished
        row.direction = event.direction or row.direction
        if event.complete is not None:  # a resumed group: the study's own counts and best so far
            row.complete, row.pruned, row.failed = event.complete, event.pruned or 0, event.failed or 0
            row.done_before = 0
            row.best_value, row.best_params = event.best_value, event.best_params

    def _on_trial_start(self, event: TrialStart) -> None:
        self._row(event.group).status = "running"
        self._trial = _Trial(event.group, event.trial, dict(event.params))

    def _on_epoch(self, event: EpochEnd) -> None:
        trial = self._trial
        if trial is None or (trial.group, trial.number) != (event.group, event.trial):
            trial = self._trial = _Trial(event.group, event.trial)
        trial.epoch, trial.epochs, trial.value = event.epoch + 1, event.epochs, event.value

    def _on_trial_end(self, event: TrialEnd) -> None:
        row = self._row(event.group)
        state, value = event.state, event.value
        if state == "COMPLETE":
            row.complete += 1
            if value is not None and (row.best_value is None or _better(value, row.best_value, row.direction)):
                row.best_value = value
                row.best_trial = event.trial
                if self._trial is not None and self._trial.number == event.trial:
                    row.best_params = self._trial.params
        elif state == "PRUNED":
            row.pruned += 1
        elif state == "FAIL":
            row.failed += 1
        self._trial = None

    def _on_group_end(self, event: GroupEnd) -> None:
        row = self._row(event.group)
        row.status, row.ended = "completed", self.clock()
        row.best_value, row.best_params = event.best_value, event.best_params  # the study's word is final

    def _on_warning(self, event: RunWarning) -> None:
        self._warnings.append(plain_line(event) or event.message)

    def _on_run_end(self, event: RunEnd) -> None:
        self._status = event.status
        for row in self._groups.values():
            if row.status == "running":
                row.status, row.ended = "paused", self.clock()
        self._trial = None

    # ------------------------------------------------------------------ rendering

    def sync_from_state(self, force: bool = False) -> None:
        """Take counts, bests, elapsed times and the estimate from the run's state.json (the storage's word)."""
        now = self.clock()
        if not force and self._state_read is not None and now - self._state_read < STATE_READ_S:
            return
        self._state_read = now
        run_dir = self._run.run_dir if self._run is not None else None
        state = read_run_state(Path(run_dir)) if run_dir else None
        if state is None or not isinstance(state.groups, dict):
            return
        with self._lock:
            for name, info in state.groups.items():
                if not isinstance(info, GroupState):
                    continue
                row = self._row(name)
                n = info.n_trials or {}
                if n:
                    row.done_before = 0
                    row.complete, row.pruned, row.failed = (
                        int(n.get(k) or 0) for k in ("complete", "pruned", "failed")
                    )
                if info.best_value is not None:
                    row.best_value, row.best_params = info.best_value, info.best_params
                    row.best_trial = info.best_trial
                row.wall_s = float(info.wall_s or 0.0)
                row.max_trials = info.max_trials or row.max_trials
                if info.status == "completed" and row.status != "completed":
                    row.status, row.ended = "completed", now
            if isinstance(state.time_estimate, dict):
                self._set_estimate(state.time_estimate)
            self._others = other_workers(state, self._run.pid if self._run is not None else None)
            self._rates = state_rates(state.to_json())  # run/rate.py reads state.json's keys and run_status's alike
            current = state.progress.current_group if isinstance(state.progress, Progress) else None
            self._rated_group = current if isinstance(current, str) else None

    def renderable(self) -> RenderableType:
        """The whole view as one renderable (what Live draws; tests print it), fitted to the console's width."""
        self.sync_from_state()
        width = max(40, self.console.width)
        with self._lock:
            table, dropped = self._table(width)
            parts: list[RenderableType] = [self._header(width), table]
            if "best params" in dropped:
                parts += [Text(line) for line in self._best_params_lines(width)]
            parts.append(self._trial_line(width))
            # Wrapped here, between words: the console may soft-wrap (a terminal would cut or split mid-number).
            parts += [Text(line, style="cyan") for other in self._others for line in flow(other.split(), width, " ")]
            parts += [Text(line, style="yellow") for w in self._warnings for line in flow(w.split(), width, " ")]
            return Group(*parts)

    def _header(self, width: int = 120) -> Text:
        """Three lines, each broken only between its pieces: run, times, what it runs on."""
        run, est = self._run, self._estimate
        job = run.job_id if run is not None else "?"
        first = flow(
            [
                f"hyperopt {job}",
                f"mode {run.mode if run is not None else '?'}",
                fit_path(run.run_dir if run is not None else "", width),
                self._status,
            ],
            width,
        )
        times = [f"elapsed {_hms(self.clock() - self._started)}"]
        if est and self._status in ("running", "starting"):
            est = self._counted_down(est)  # between state.json writes too (a final evaluation longer than the search)
            if est.get("overdue_s"):
                times.append(f"past the estimate by {format_duration(float(est['overdue_s']))}")
            else:
                times.append(describe_remaining(est))
                if est.get("based_on") == MEASURED:
                    times.append(f"ETA {_local_time(est.get('eta'))}")
        elif (
            est
            and self._status == "paused"
            and est.get("based_on") == MEASURED
            and isinstance(est.get("remaining_hours"), (int, float))
        ):  # no ETA: nothing runs
            times.append(
                f"about {format_duration(float(est['remaining_hours']) * 3600)} of work left "
                f"({trials(est.get('remaining_trials', '?'))}) once resumed"
            )
        group = self._rated_group
        times.append(describe_rates(self._rates.run, group, self._rates.groups.get(group) if group else None))
        lines = first + flow(times, width)
        if run is not None and (run.data or run.parallel):  # what it trains on and how many processes x threads
            lines += flow(
                [
                    f"data {'?' if run.data is None else run.data}",
                    f"parallel {'?' if run.parallel is None else run.parallel}",
                ],
                width,
            )
        text = Text("\n".join(lines))
        text.stylize("bold", 0, len("hyperopt"))
        text.stylize("bold cyan", len("hyperopt "), len("hyperopt ") + len(job))
        return text

    def _counted_down(self, est: dict[str, Any]) -> dict[str, Any]:
        """The estimate with `remaining` less the time since it arrived; past zero, `overdue_s`."""
        left_h = est.get("remaining_hours")
        if not isinstance(left_h, (int, float)) or self._estimate_at is None:
            return est
        since = max(0.0, self.clock() - self._estimate_at)
        left = float(left_h) * 3600.0 - since
        est = {**est, "remaining_hours": max(0.0, left) / 3600.0}
        if left < 0:
            est["overdue_s"] = -left
        return est

    def _set_estimate(self, est: dict[str, Any] | None) -> None:
        """A new estimate starts the countdown; the same one read again from state.json does not."""
        est = dict(est or {})
        if est != self._estimate or self._estimate_at is None:
            self._estimate, self._estimate_at = est, self.clock()

    def _table(self, width: int = 120) -> tuple[Table, list[str]]:
        """The groups table fitted to `width`: best params go first (shown under it), then failed, pruned, elapsed."""
        now = self.clock()
        rows = [
            [
                name,
                Text(row.status, style=STATUS_STYLE.get(row.status, "")),
                f"{row.finished}/{row.max_trials or self._max_trials or '?'}",
                str(row.pruned),
                str(row.failed),
                _best(row),
                short_params(row.best_params),
                self._elapsed(row, now),
            ]
            for name, row in self._groups.items()
        ]
        return fit_table(TABLE_COLUMNS, rows, width)

    def _best_params_lines(self, width: int) -> list[str]:
        """The best params of the group in flight (else the last with any), when the table had no room for them."""
        named = [(name, row) for name, row in self._groups.items() if row.best_params]
        if not named:
            return []
        name, row = next(((n, r) for n, r in named if r.status == "running"), named[-1])
        return flow([f"best params of {name}:", *short_params(row.best_params).split()], width, sep=" ")

    @staticmethod
    def _elapsed(row: _GroupRow, now: float) -> str:
        """This session's span of the group, or the storage's (every worker's trials) when that is longer.

        A group finished before a resume, or finished by other workers while this process
        waited, spans 0 s here; its trials' own times say how long it took.
        """
        own = None if row.started is None else (now if row.ended is None else row.ended) - row.started
        seconds = max(own or 0.0, row.wall_s)
        return "-" if own is None and not row.wall_s else _hms(seconds)

    def _trial_line(self, width: int = 120) -> RenderableType:
        """The trial in flight: name, progress bar, epoch and value; its params beside them, or under them if narrow."""
        trial = self._trial
        if trial is None:
            return Text(self._note, style="dim")
        epochs = trial.epochs or 0
        title = f"[{trial.group}] trial {trial.number}"
        tail = [f"epoch {trial.epoch}/{epochs or '?'}", f"value {_value(trial.value)}"]
        params = short_params(trial.params)
        line = Table.grid(padding=(0, 1))
        bar = ProgressBar(total=max(epochs, 1), completed=trial.epoch, width=BAR_WIDTH)
        beside = cell_len(title) + cell_len(params) + BAR_WIDTH + sum(cell_len(t) for t in tail) + 4
        if beside <= width:
            line.add_row(Text(title, style="bold"), params, bar, *tail)
            return line
        line.add_row(Text(title, style="bold"), bar, *tail)
        return Group(line, *(Text("  " + text) for text in flow(params.split(), width - 2, sep=" ")))


class PlainLog:
    """One timestamped plain line per event, flushed at once: for logs that are not a terminal."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.now = now
        self.clock = clock
        self._run_dir: Path | None = None  # with several workers: whose state.json lists every worker's trials
        self._seen: set[tuple[str, int]] | None = None  # trials already told (own or another worker's)
        self._state_read: float | None = None

    def emit(self, event: Event) -> None:
        if isinstance(event, RunStart) and event.parallel and not event.parallel.startswith("1 worker "):
            self._run_dir = Path(event.run_dir) if event.run_dir else None
        if isinstance(event, TrialEnd) and self._seen is not None:
            self._seen.add((event.group, event.trial))
        line = plain_line(event)
        if line is not None:
            self._write(line)
        self._other_workers_trials()

    def _write(self, line: str) -> None:
        self.stream.write(f"{self.now():%Y-%m-%d %H:%M:%S} {line}\n")
        self.stream.flush()

    def _other_workers_trials(self) -> None:
        """Trials other workers finished, read from the owner's state.json at most once a second."""
        if self._run_dir is None:
            return
        now = self.clock()
        if self._state_read is not None and now - self._state_read < STATE_READ_S:
            return
        self._state_read = now
        state = read_run_state(self._run_dir)
        if state is None or not state.keys():
            return
        first = self._seen is None
        self._seen = self._seen if self._seen is not None else set()
        new = finished_elsewhere(state, self._seen)
        if first:
            return  # what was finished before this session is history
        for group, number, value in new:
            self._write(f"[{group}] trial {number} finished by another worker: value {value:.4f}")

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def __enter__(self) -> PlainLog:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def make_display(console: Console | None = None) -> LiveDisplay | PlainLog:
    """A live display when the console (stderr by default) is a terminal, plain log lines otherwise."""
    console = console or EscapingConsole(stderr=True)
    if console.is_terminal:
        return LiveDisplay(console)
    return PlainLog(console.file)
