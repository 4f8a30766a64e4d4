"""What a finished run found, as typed records: results.json, a group's result, the final evaluation.

`RunResults` is results.json (`hyperopt results --json` and the server add status keys
around it), `GroupResult` one entry of its `group_results`, `FinalResult` the final
evaluation as the last group's study keeps it (user attr `final_evaluation`). The run
builds them in run/records.py `build_results`; status, the CLI, the report and the server
read them, never the raw keys.

Each record reads back exactly what it was written from: `from_json` keeps the keys it was
read from, in their order (`layout`), and the ones it does not know (`extra`), so
`to_json(from_json(x)) == x`. A key an older run lacks reads as the default its readers
always used (None, or an empty mapping), and is still left out when written back.
Torch- and optuna-free, like run/records.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

__all__ = ["FinalResult", "GroupResult", "RunResults", "panel_of"]

JsonObject = dict[str, Any]  # a JSON object as read or written: the nested parts these records do not type
_R = TypeVar("_R", bound="JsonRecord")
_BOOKKEEPING = ("extra", "layout")  # fields of every record that are no JSON keys


class JsonRecord(Protocol):
    """What `read_record` and `write_record` need of a record: its unknown keys and its layout."""

    @property
    def extra(self) -> JsonObject: ...

    @property
    def layout(self) -> tuple[str, ...] | None: ...


def record_keys(cls: type) -> tuple[str, ...]:
    """A record's JSON keys: its fields in declaration order, less the bookkeeping ones."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _BOOKKEEPING)


def read_record(cls: type[_R], raw: Mapping[str, Any], **converted: Any) -> _R:
    """`cls` from a JSON object: known keys as fields (`converted` overriding), the rest in `extra`."""
    known = record_keys(cls)
    values = {key: raw[key] for key in known if key in raw}
    values.update({key: value for key, value in converted.items() if key in raw})
    extra = {key: value for key, value in raw.items() if key not in known}
    return cls(**values, extra=extra, layout=tuple(raw))  # type: ignore[call-arg]


def write_record(record: JsonRecord, converted: Mapping[str, Any] | None = None) -> JsonObject:
    """The JSON object of `record`: its layout's keys in order (all fields, then `extra`, if it has none)."""
    layout = record.layout if record.layout is not None else (*record_keys(type(record)), *record.extra)
    converted = converted or {}
    out: JsonObject = {}
    for key in layout:
        if key in record.extra:
            out[key] = record.extra[key]
        elif key in converted:
            out[key] = converted[key]
        else:
            out[key] = getattr(record, key)
    return out


@dataclass(frozen=True)
class GroupResult:
    """One group in results.json `group_results`: its study's summary (search/summary.py) and how it ended.

    An unfinished run's partial results hold state.json's group rows instead; their other keys
    (`status`, `max_trials`, `trials_per_hour`) stay in `extra`.
    """

    metric: str | None = None
    direction: str | None = None
    best_value: float | None = None
    best_params: JsonObject | None = None
    best_trial: int | None = None
    best_metrics: JsonObject | None = None
    best_epochs: int | None = None
    kept: str | None = None  # why the group kept its start values ("not confirmed", ...), None: it did not
    challenger: JsonObject | None = None
    pbo: float | None = None
    n_trials: dict[str, int] = field(default_factory=dict)  # complete, pruned, failed, running, finished
    collapsed_trials: list[int] = field(default_factory=list)
    failed_trials: list[Any] = field(default_factory=list)
    duration_s: float | None = None
    wall_s: float | None = None
    history: list[list[Any]] = field(default_factory=list)  # [trial number, value] of the complete trials
    completed: bool = False
    converged: bool = False
    reason: str | None = None  # why it ended (budget, converged, ...); None while it runs
    extra: JsonObject = field(default_factory=dict)
    # The keys as read, in order (None: every field); how it is written, not what it says.
    layout: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, summary: JsonObject, reason: str | None) -> GroupResult:
        """A group's result from its summary (`StudySummary.as_dict()`) and the reason it ended (None: it has not)."""
        return cls.from_json(
            {**summary, "completed": reason is not None, "converged": reason == "converged", "reason": reason}
        )

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> GroupResult:
        return read_record(cls, raw)

    def to_json(self) -> JsonObject:
        return write_record(self)


@dataclass(frozen=True)
class FinalResult:
    """The final evaluation as the last group's study keeps it (run/final.py): pooled walk-forward scores, verdict."""

    params_tag: str | None = None  # the params (and epochs) it evaluated: a stored result is reused only for them
    epochs: int | None = None
    precision: str | None = None
    test_metrics: JsonObject | None = None
    validation_metrics: JsonObject | None = None
    baselines: JsonObject | None = None
    test_range: list[Any] | None = None
    confusion_matrices: JsonObject | None = None  # "val" (last block) and "test": rows true, columns predicted
    walk_forward: JsonObject | None = None
    verdict: JsonObject | None = None
    feature_importance: JsonObject | None = None
    decision: JsonObject | None = None
    symbols: JsonObject | None = None  # several symbols only (run/symbols.py)
    scaling: str | None = None
    extra: JsonObject = field(default_factory=dict)
    layout: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FinalResult:
        return read_record(cls, raw)

    def to_json(self) -> JsonObject:
        return write_record(self)


PANEL_KEYS = ("symbols", "scaling")  # results.json holds them only for a run on several symbols


@dataclass(frozen=True)
class RunResults:
    """results.json: the best params, each group's result, and what the final evaluation found."""

    job_id: str | None = None
    mode: str | None = None
    best_params: JsonObject = field(default_factory=dict)
    best_value: float | None = None
    best_value_metric: str | None = None
    fixed_params: JsonObject | None = None
    resolved_params: JsonObject | None = None  # the trainer, labels and model the final evaluation used
    group_results: dict[str, GroupResult] = field(default_factory=dict)
    test_metrics: JsonObject | None = None
    validation_metrics: JsonObject | None = None
    baselines: JsonObject | None = None
    test_range: list[Any] | None = None
    precision: str | None = None  # what the final model trained in
    walk_forward: JsonObject | None = None
    epochs: int | None = None  # what the final model trained for (selection's choice)
    verdict: JsonObject | None = None
    pbo: float | None = None
    decision: JsonObject | None = None  # how probabilities became signals
    run_check: JsonObject | None = None
    epoch_check: JsonObject | None = None
    search_changed: bool | None = None
    feature_importance: JsonObject | None = None
    symbols: JsonObject | None = None  # several symbols only: per-symbol metrics and verdicts
    scaling: str | None = None
    extra: JsonObject = field(default_factory=dict)
    layout: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RunResults:
        rows = raw.get("group_results")
        groups = {name: GroupResult.from_json(row) for name, row in rows.items()} if isinstance(rows, Mapping) else rows
        return read_record(cls, raw, group_results=groups)

    def to_json(self) -> JsonObject:
        return write_record(self, {"group_results": {name: row.to_json() for name, row in self.group_results.items()}})

    @property
    def has_panel(self) -> bool:
        """Whether the run was on several symbols (results.json then holds `symbols` and `scaling`)."""
        return bool(self.symbols)


def results_layout(panel: bool) -> tuple[str, ...]:
    """results.json's keys as the run writes them: `symbols` and `scaling` only for several symbols."""
    keys = record_keys(RunResults)
    return keys if panel else tuple(k for k in keys if k not in PANEL_KEYS)


def panel_of(results: RunResults | None, final: FinalResult | None) -> RunResults | FinalResult | None:
    """Where a run's per-symbol results are: results.json, else the study's final evaluation; None for one symbol."""
    if results is not None and results.symbols:
        return results
    return final if final is not None and final.symbols else None
