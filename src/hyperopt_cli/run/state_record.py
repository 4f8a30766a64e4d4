"""state.json as typed records: the run's state, its progress, each group's row; read here once.

`RunState` is state.json, `Progress` its `progress`, `GroupState` one row of its `groups`.
run/state.py builds them (`StateWriter`, `rebuild_state`); status, the checks before a
session, control, export and the CLI's views read them through `read_run_state`, never the
raw keys. The nested parts nobody reads field by field (`config`, `data`, `time_estimate`,
`workers`, `results`) stay JSON objects.

Like run/results.py's records, each reads back exactly what it was written from (`layout`:
the keys as read, in order; `extra`: the ones it does not know), so
`RunState.from_json(x).to_json() == x`, order included. state.json grows key by key as a
session goes (a new run's first keys are `created_at`, `sessions`, `elapsed_s`), so its key
order is its history: `updated` adds keys as `dict.update` does, the known ones in place,
new ones at the end. The values are the file's: `from_json` checks no type (`read_run_state`
with `check` does, run/shapes.py, for the readers that refuse a damaged file). Torch- and optuna-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperopt_cli.run import rundir
from hyperopt_cli.run.results import JsonObject, read_record, record_keys, write_record
from hyperopt_cli.run.shapes import check_state

__all__ = ["GroupState", "Progress", "RunState", "read_run_state"]


@dataclass(frozen=True)
class Progress:
    """state.json's `progress`: the (group, trial, epoch) in flight and the groups finished (run/records.py)."""

    current_group: str | None = None
    current_trial: int | None = None
    current_epoch: int | None = None
    epochs_per_trial: int | None = None
    groups_completed: list[str] = field(default_factory=list)
    extra: JsonObject = field(default_factory=dict)
    layout: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Progress:
        return read_record(cls, raw)

    def to_json(self) -> JsonObject:
        return write_record(self)


@dataclass(frozen=True)
class GroupState:
    """One row of state.json's `groups`: how the group stands, then its study's summary (search/summary.py).

    Only the summary keys that readers use are fields; the others (metric, best_metrics,
    durations, ...) stay in `extra`, in their place, as GroupResult keeps a row's `status`.
    """

    status: str | None = None  # pending, running, paused, completed (status also says interrupted)
    reason: str | None = None  # why it ended (budget, converged, ...); None while it has not
    max_trials: int | None = None  # its trial budget, raised by an extension
    best_value: float | None = None
    best_params: JsonObject | None = None
    best_trial: int | None = None
    n_trials: dict[str, int] = field(default_factory=dict)  # complete, pruned, failed, running, finished
    wall_s: float | None = None  # first trial start to last trial end, over every worker
    history: list[list[Any]] = field(default_factory=list)  # [trial number, value] of the complete trials
    extra: JsonObject = field(default_factory=dict)
    layout: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> GroupState:
        return read_record(cls, raw)

    def to_json(self) -> JsonObject:
        return write_record(self)


def _rows(rows: Any) -> Any:
    """`groups` with each object row a GroupState; anything else (a damaged file's) as it was."""
    if not isinstance(rows, Mapping):
        return rows
    return {name: GroupState.from_json(row) if isinstance(row, Mapping) else row for name, row in rows.items()}


def _json(value: Any) -> Any:
    """A field's JSON: a record's object, a mapping of rows' objects; plain JSON as it is."""
    if isinstance(value, (Progress, GroupState)):
        return value.to_json()
    if isinstance(value, Mapping):
        return {name: _json(row) for name, row in value.items()}
    return value


@dataclass(frozen=True)
class RunState:
    """state.json: who wrote it and when, where the run stands, each group's row and the time left.

    The fields are in the order a new run's file has them; `layout` is what is written.
    """

    created_at: str | None = None
    sessions: int | None = None  # sessions that worked on the run, this one included
    elapsed_s: float | None = None  # search time over all sessions
    data: JsonObject | None = None  # the data's fingerprint (run/checks.py `data_fingerprint`)
    started_at: str | None = None  # this session's start
    status: str | None = None  # running, paused, completed, failed (status adds interrupted)
    job_id: str | None = None
    mode: str | None = None
    pid: int | None = None  # the owner's; None in a rebuilt state
    config_hash: str | None = None  # config.yaml's as written at the run's start
    config: JsonObject | None = None  # the config, its storage_url masked
    storage: str | None = None  # core/storage_kind.py `describe`
    updated_at: str | None = None
    workers: dict[str, JsonObject] | None = None  # worker key -> heartbeat row (several workers only)
    group_spans: dict[str, list[list[float | None]]] | None = None  # run/rate.py's Spans
    progress: Progress | None = None
    groups: dict[str, GroupState] | None = None
    time_estimate: JsonObject | None = None
    message: str | None = None  # how the last session ended
    finished_at: str | None = None
    rebuilt_at: str | None = None  # a state rebuilt from the studies (run/state.py `rebuild_state`)
    results: JsonObject | None = None  # a rebuilt completed run's results.json content
    extra: JsonObject = field(default_factory=dict)
    layout: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RunState:
        progress = raw.get("progress")
        return read_record(
            cls,
            raw,
            progress=Progress.from_json(progress) if isinstance(progress, Mapping) else progress,
            groups=_rows(raw.get("groups")),
        )

    def to_json(self) -> JsonObject:
        return write_record(self, {"progress": _json(self.progress), "groups": _json(self.groups)})

    def updated(self, **changes: Any) -> RunState:
        """This state with `changes` set as `dict.update` would: known keys in place, new ones appended.

        A change may be a record (`progress=Progress(...)`) or its JSON object, which is read into one.
        """
        if isinstance(changes.get("progress"), Mapping):
            changes["progress"] = Progress.from_json(changes["progress"])
        if "groups" in changes:
            changes["groups"] = _rows(changes["groups"])
        known, layout = record_keys(RunState), self.keys()
        return dataclasses.replace(
            self,
            **{key: value for key, value in changes.items() if key in known},
            extra={**self.extra, **{key: value for key, value in changes.items() if key not in known}},
            layout=(*layout, *(key for key in changes if key not in layout)),
        )

    def keys(self) -> tuple[str, ...]:
        """The keys state.json has, in order."""
        return self.layout if self.layout is not None else (*record_keys(RunState), *self.extra)

    def has(self, key: str) -> bool:
        """Whether state.json has `key` (a field left out of the file reads as its default)."""
        return key in self.keys()


EMPTY = RunState(layout=())  # a state.json with no key yet: what a session adds keys to


def read_run_state(run_dir: Path, peek: bool = False, check: bool = False) -> RunState | None:
    """RUN_DIR/state.json as a RunState; None when it is missing or not a valid JSON object.

    A symlink, FIFO, oversized or unreadable file is RunStateError as with `rundir.read_json`,
    or None with `peek` (`rundir.peek_json`: a caller that only peeks, sorting or waiting).
    `check`: a key of a wrong type is RunStateError too (run/shapes.py `check_state`), for the
    readers that refuse a damaged file; without it the values are the file's, whatever they are.
    """
    path = run_dir / rundir.STATE_FILE
    raw = rundir.peek_json(path) if peek else rundir.read_json(path)
    if raw is None:
        return None
    return RunState.from_json(check_state(raw, path) if check else raw)
