"""The typed events: every sink has a case for every class of `Event`, and none is left unhandled."""

from __future__ import annotations

import ast
import inspect
import io
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hyperopt_cli.cli.progress import LiveDisplay, PlainLog
from hyperopt_cli.run.events import FanOut, LogSink, NullSink, describe, plain_line
from hyperopt_cli.run.logfile import attached_log
from hyperopt_cli.run.tracking import MlflowSink
from hyperopt_cli.search.events import (
    EVENT_TYPES,
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
)

ESTIMATE = {"estimated_hours": 2.0, "remaining_hours": 1.5, "total_trials": 12, "remaining_trials": 9}
SAMPLES: list[Event] = [
    RunStart(
        job_id="j",
        run_dir="runs/j",
        mode="quick",
        groups=("learning_rate",),
        time_estimate=ESTIMATE,
        pid=1,
        max_trials=12,
        data="synthetic (6,000 bars)",
        parallel="1 worker x 1 thread",
    ),
    GroupStart(group="learning_rate", finished=0, direction="maximize", complete=0, pruned=0, failed=0),
    TrialStart(group="learning_rate", trial=0, params={"learning_rate": 0.001}),
    EpochEnd(group="learning_rate", trial=0, epoch=0, epochs=2, value=0.5, metrics={"val_f1": 0.5, "val_loss": 1.0}),
    TrialEnd(group="learning_rate", trial=0, state="COMPLETE", value=0.5),
    GroupKept(group="learning_rate", trial=0, challenger={"trial": 1}, message="kept the incumbent (trial 0)"),
    GroupEnd(group="learning_rate", reason="budget", best_value=0.5, best_params={"learning_rate": 0.001}),
    RunWarning(group="learning_rate", trial=0, message="mode collapse at epoch 1"),
    Note(message="started 1 local worker process beside this one"),
    EvaluationNote(message="model saved to runs/j/model"),
    EstimateUpdate(time_estimate=ESTIMATE),
    RunEnd(status="completed", message="all groups finished", results={"best_params": {}}),
]
LINELESS = {EstimateUpdate}  # the live header shows it; run.log would repeat it at every trial
MLFLOW_TRACKED = {RunStart, GroupStart, TrialStart, EpochEnd, TrialEnd, GroupEnd, RunEnd}  # runs, params, metrics


def test_there_is_a_sample_of_every_event_and_each_kind_names_one_class() -> None:
    assert sorted(type(e).__name__ for e in SAMPLES) == sorted(t.__name__ for t in EVENT_TYPES)
    kinds = [t.kind for t in EVENT_TYPES]
    assert len(set(kinds)) == len(kinds)


def cased_classes(function: Callable[..., Any]) -> set[str]:
    """The classes named in the `case` patterns of a function's `match` statements."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        node.cls.id for node in ast.walk(tree) if isinstance(node, ast.MatchClass) and isinstance(node.cls, ast.Name)
    }


@pytest.mark.parametrize(
    "sink_switch",
    [describe, LiveDisplay.emit, MlflowSink._handler],
    ids=["run.log and plain log (describe)", "live view", "MLflow"],
)
def test_every_sink_has_a_case_for_every_event_class(sink_switch: Callable[..., Any]) -> None:
    """A new event class without a case fails here (and in mypy, at the sink's `unhandled`)."""
    assert cased_classes(sink_switch) == {t.__name__ for t in EVENT_TYPES}


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_gets_its_log_line(event: Event) -> None:
    line = describe(event)
    assert (line is None) == (type(event) in LINELESS)
    if isinstance(event, RunWarning):
        assert plain_line(event) == f"WARNING {line}"


def test_a_warning_says_where_it_happened_and_no_more() -> None:
    assert describe(RunWarning(message="m", group="g", trial=3)) == "[g] trial 3: m"
    assert describe(RunWarning(message="m", group="g")) == "[g]: m"  # a group's warning, not "trial None"
    assert describe(RunWarning(message="m")) == "m"


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_mlflow_tracks_the_runs_params_and_metrics_and_skips_the_messages(event: Event) -> None:
    sink = object.__new__(MlflowSink)  # no MLflow needed: only which handler an event gets
    assert (sink._handler(event) is not None) == (type(event) in MLFLOW_TRACKED)


def test_every_sink_takes_every_event(tmp_path: Path) -> None:
    display = LiveDisplay(Console(file=io.StringIO(), width=100), clock=lambda: 0.0)
    stream = io.StringIO()
    with attached_log(tmp_path):
        sink = FanOut(LogSink(), NullSink(), display, PlainLog(stream))
        for event in SAMPLES:
            sink.emit(event)
    logged = (tmp_path / "run.log").read_text().splitlines()
    assert len(logged) == len(stream.getvalue().splitlines()) == len(SAMPLES) - len(LINELESS)
    assert [line.split(" WARNING ")[1] for line in logged if " WARNING " in line] == [
        "[learning_rate] trial 0: mode collapse at epoch 1"
    ]


def test_something_that_is_no_event_is_refused() -> None:
    with pytest.raises(TypeError, match="no case for event"):
        describe("trial_end")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        LiveDisplay(Console(file=io.StringIO())).emit("trial_end")  # type: ignore[arg-type]
