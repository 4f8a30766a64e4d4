"""Trials per hour (run/rate.py): what it counts, when it is "—", and that a stopped night is not in it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hyperopt_cli.cli import app
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.run import rundir
from hyperopt_cli.run.rate import NO_RATE, format_rate, mark_spans, span_seconds, state_rates, trials_per_hour
from hyperopt_cli.run.state import GroupsProgress, StateWriter
from hyperopt_cli.run.state_record import EMPTY, read_run_state
from hyperopt_cli.run.status import run_status
from hyperopt_cli.search.events import RunStart
from hyperopt_cli.search.group import TimeBudget
from hyperopt_cli.search.summary import StudySummary
from terminal_helpers import assert_fits


def row(complete: int = 0, pruned: int = 0, failed: int = 0) -> dict[str, Any]:
    """A group row as state.json has it (summarize already left surplus trials out of these counts)."""
    return {
        "n_trials": {
            "complete": complete,
            "pruned": pruned,
            "failed": failed,
            "running": 1,
            "finished": complete + pruned + failed,
        }
    }


def test_finished_trials_per_hour_count_complete_pruned_and_failed() -> None:
    state = {
        "elapsed_s": 5000.0,
        "groups": {"learning_rate": row(3, 2, 1), "regularization": row(2), "scheduler": row()},
        "group_spans": {"learning_rate": [[100.0, 1900.0]], "regularization": [[1900.0, None]]},
    }
    rates = state_rates(state)
    assert rates.groups["learning_rate"] == 12.0  # 6 trials in 30 min; the running trial is not one
    assert rates.groups["regularization"] == pytest.approx(2 * 3600 / 3100, abs=0.01)  # open span: to elapsed_s
    assert rates.groups["scheduler"] is None
    assert rates.search_s == 4900.0  # the 100 s of set-up before the first group are not search time
    assert rates.run == pytest.approx(8 * 3600 / 4900, abs=0.01)


@pytest.mark.parametrize("finished, seconds", [(1, 3600.0), (0, 3600.0), (5, 59.0), (5, None)])
def test_too_few_trials_or_under_a_minute_is_no_rate(finished: int, seconds: float | None) -> None:
    assert trials_per_hour(finished, seconds) is None
    assert format_rate(trials_per_hour(finished, seconds)) == NO_RATE == "\N{EM DASH}"


def test_a_run_without_spans_is_rated_over_its_elapsed_time() -> None:
    """Written before spans were kept, or rebuilt from the studies: no group rate, the run's over elapsed_s."""
    rates = state_rates(
        {
            "elapsed_s": 1800.0,
            "groups": {"learning_rate": row(4), "regularization": row(2)},
            "group_spans": {"regularization": [[900.0, None]]},
        }
    )
    assert rates.groups == {"learning_rate": None, "regularization": 8.0}
    assert rates.run == 12.0
    assert state_rates({"status": "starting"}).run is None
    assert state_rates({"elapsed_s": "junk", "groups": {"g": "junk"}, "group_spans": {"g": "junk"}}).run is None


def test_spans_open_close_and_reopen() -> None:
    spans = mark_spans(None, "learning_rate", 10.0)
    assert spans == {"learning_rate": [[10.0, None]]}
    assert mark_spans(spans, "learning_rate", 50.0) == spans  # still current (or resumed): one span goes on
    spans = mark_spans(spans, "regularization", 70.0)
    assert spans == {"learning_rate": [[10.0, 70.0]], "regularization": [[70.0, None]]}
    spans = mark_spans(spans, None, 90.0)  # between groups, or the final evaluation
    spans = mark_spans(spans, "regularization", 200.0)  # reopened by --more-trials
    assert spans["regularization"] == [[70.0, 90.0], [200.0, None]]
    assert span_seconds(spans["regularization"], 260.0) == 80.0
    assert mark_spans({"g": "junk", "h": [[1, 2], ["x", None]]}, None, 5.0) == {"g": [], "h": [[1.0, 2.0]]}


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeSearch:
    group = "learning_rate"
    current_trial: int | None = None
    current_epoch: int | None = None

    def __init__(self) -> None:
        self.finished = 0

    def summary(self) -> StudySummary:
        return StudySummary(group=self.group, metric="val_f1", direction="maximize", n_complete=self.finished)


def session(run_dir: Path, clock: Clock, search: FakeSearch) -> StateWriter:
    """A session's writer as the optimizer makes one: its TimeBudget starts from state.json's elapsed_s."""
    progress = GroupsProgress()
    progress.current = search  # type: ignore[assignment]
    writer = StateWriter(config_from_dict({"mode": "quick", "workers": 1}), run_dir, progress)
    writer.state = read_run_state(run_dir) or EMPTY
    writer.frozen_hash = "h"
    writer.clock = clock
    writer.budget = TimeBudget(1000.0, float(writer.state.elapsed_s or 0.0), clock=clock)
    return writer


@pytest.fixture
def stopped_overnight(tmp_path: Path) -> Path:
    """A run of 8 trials in 2 h over two sessions, stopped for a night between them."""
    (tmp_path / rundir.CONFIG_FILE).write_text("mode: quick\n")
    clock, search = Clock(), FakeSearch()
    first = session(tmp_path, clock, search)
    first.write("running")
    clock.t += 3600
    search.finished = 4
    first.write("paused")  # stopped
    clock.t += 10 * 3600  # the night: no process runs, no time passes for the run
    second = session(tmp_path, clock, search)
    second.write("running")
    clock.t += 3600
    search.finished = 8
    second.write("running")
    return tmp_path


def test_a_stopped_night_is_not_counted(stopped_overnight: Path) -> None:
    state = run_status(stopped_overnight)
    assert state["elapsed_s"] == 7200.0
    assert state["group_spans"] == {"learning_rate": [[0.0, None]]}  # the resumed group's span went on
    assert state["trials_per_hour"] == 4.0  # 8 trials in the run's 2 h, not in the 12 h on the wall clock
    assert state["groups"]["learning_rate"]["trials_per_hour"] == 4.0


def test_status_shows_it_in_words_and_json(stopped_overnight: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["status", str(stopped_overnight), "--json"])
    assert shown.exit_code == 0, shown.output
    answer = json.loads(shown.output)
    assert answer["trials_per_hour"] == 4.0 and answer["groups"]["learning_rate"]["trials_per_hour"] == 4.0
    words = runner.invoke(app, ["status", str(stopped_overnight)])
    assert "trials/h: run 4.0, learning_rate 4.0" in words.output, words.output
    results = json.loads(runner.invoke(app, ["results", str(stopped_overnight), "--json"]).output)
    assert results["trials_per_hour"] == 4.0 and results["complete"] is False


@pytest.mark.parametrize("columns", [80, 120])
def test_the_live_view_shows_it_and_fits(stopped_overnight: Path, columns: int) -> None:
    from hyperopt_cli.cli.progress import LiveDisplay

    console = Console(file=io.StringIO(), force_terminal=True, width=columns, color_system=None, soft_wrap=True)
    display = LiveDisplay(console, clock=Clock())
    display.emit(
        RunStart(
            job_id="job-42",
            run_dir=str(stopped_overnight),
            mode="quick",
            groups=("learning_rate",),
            time_estimate={},
            action="resumed",
            pid=123,
            data="synthetic (6,000 bars)",
            parallel="1 worker x 1 thread",
        )
    )
    console.print(display.renderable())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert_fits(text, columns)
    assert "trials/h: run 4.0, learning_rate 4.0" in text, text


def test_the_live_view_says_dash_before_there_is_a_rate() -> None:
    from hyperopt_cli.cli.progress import LiveDisplay

    console = Console(file=io.StringIO(), force_terminal=True, width=80, color_system=None)
    display = LiveDisplay(console, clock=Clock())
    display.emit(
        RunStart(
            job_id="j",
            run_dir="no/such/run",
            mode="quick",
            groups=("learning_rate",),
            time_estimate={},
            action="started",
        )
    )
    console.print(display.renderable())
    assert f"trials/h: run {NO_RATE}" in console.file.getvalue()  # type: ignore[attr-defined]
