"""What a run tells whoever watches it: one frozen dataclass per event, and the sink protocol.

It lives below run/ so that search/ can emit without importing run/. A sink switches on the
event's class (``match event:``) and ends with ``case _: unhandled(event)``, so mypy fails on a
sink that forgets a class of `Event`. `kind` is the event's name in words (log lines, timers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn, Protocol, TypeAlias, get_args


@dataclass(frozen=True, kw_only=True)
class RunStart:
    """The run (re)started: what it is, where it lives, what it will do."""

    kind: ClassVar[str] = "run_start"
    job_id: str
    run_dir: str
    mode: str
    groups: tuple[str, ...]
    time_estimate: dict[str, Any] = field(default_factory=dict)  # state.json's "time_estimate"
    action: str = "started"  # "started" or "resumed"
    pid: int | None = None
    max_trials: int | None = None  # per group
    data: str | None = None  # what it trains on, in words
    parallel: str | None = None  # processes x threads, in words


@dataclass(frozen=True, kw_only=True)
class GroupStart:
    """A group's search began, or a group finished before this session is shown again."""

    kind: ClassVar[str] = "group_start"
    group: str
    finished: int = 0  # trials already finished
    direction: str | None = None
    # The study's own counts and best so far; None: unknown, `finished` stands for them.
    complete: int | None = None
    pruned: int | None = None
    failed: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class TrialStart:
    kind: ClassVar[str] = "trial_start"
    group: str
    trial: int
    params: dict[str, Any]
    resumed: bool = False


@dataclass(frozen=True, kw_only=True)
class EpochEnd:
    """One epoch of one fold of a trial finished (or was replayed from its checkpoint)."""

    kind: ClassVar[str] = "epoch"
    group: str
    trial: int
    epoch: int  # counted from 0
    epochs: int  # per fold
    value: float  # what the objective sees
    fold: int = 0
    folds: int = 1
    metrics: dict[str, Any] = field(default_factory=dict)  # EpochMetrics.as_dict()
    replayed: bool = False  # re-announced from a checkpoint after a resume: storage has it already


@dataclass(frozen=True, kw_only=True)
class TrialEnd:
    kind: ClassVar[str] = "trial_end"
    group: str
    trial: int
    state: str  # Optuna's TrialState name: COMPLETE, PRUNED or FAIL
    value: float | None = None
    collapsed: bool = False


@dataclass(frozen=True, kw_only=True)
class GroupEnd:
    kind: ClassVar[str] = "group_end"
    group: str
    reason: str | None = None  # "budget", "converged", "time_budget"
    best_value: float | None = None
    best_params: dict[str, Any] | None = None
    kept: str | None = None  # why the incumbent was kept over a better-looking challenger
    epochs: int | None = None  # the epoch count the frozen trial's folds chose


@dataclass(frozen=True, kw_only=True)
class GroupKept:
    """A group froze its incumbent over a better-looking challenger."""

    kind: ClassVar[str] = "group_kept"
    group: str
    trial: int | None
    challenger: dict[str, Any] | None
    message: str


@dataclass(frozen=True, kw_only=True)
class RunWarning:
    """Something went wrong or was refused; `group` and `trial` say where, when it was in one."""

    kind: ClassVar[str] = "warning"
    message: str
    group: str | None = None
    trial: int | None = None


@dataclass(frozen=True, kw_only=True)
class Note:
    """News that is not a warning (workers started, a check's outcome)."""

    kind: ClassVar[str] = "note"
    message: str


@dataclass(frozen=True, kw_only=True)
class EvaluationNote:
    """A step of the final evaluation."""

    kind: ClassVar[str] = "evaluation"
    message: str


@dataclass(frozen=True, kw_only=True)
class EstimateUpdate:
    kind: ClassVar[str] = "estimate"
    time_estimate: dict[str, Any] | None  # state.json's "time_estimate"


@dataclass(frozen=True, kw_only=True)
class RunEnd:
    kind: ClassVar[str] = "run_end"
    status: str  # "completed", "paused", "worker done"
    message: str = ""
    results: dict[str, Any] | None = None  # results.json, when completed


Event: TypeAlias = (
    RunStart
    | GroupStart
    | TrialStart
    | EpochEnd
    | TrialEnd
    | GroupEnd
    | GroupKept
    | RunWarning
    | Note
    | EvaluationNote
    | EstimateUpdate
    | RunEnd
)
EVENT_TYPES: tuple[type[Event], ...] = get_args(Event)


def unhandled(event: NoReturn) -> NoReturn:
    """A sink's last case: mypy reports a class of `Event` that reaches it; at run time it raises."""
    raise TypeError(f"no case for event {event!r}")


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...
