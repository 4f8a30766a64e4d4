"""The live view with several workers: counts and elapsed times from the storage, estimates only once measured."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from hyperopt_cli.cli.progress import LiveDisplay
from hyperopt_cli.run.estimate import describe_remaining, estimate_hours, format_duration
from hyperopt_cli.search.events import GroupEnd, GroupStart, RunStart, TrialEnd, TrialStart
from hyperopt_cli.search.summary import summarize

T0 = dt.datetime(2026, 12, 1, 12, 0, 0)
UNMEASURED = {
    "estimated_hours": 2.82,
    "remaining_hours": 2.82,
    "total_trials": 6,
    "remaining_trials": 6,
    "eta": "2026-12-01T15:00:00+00:00",
    "based_on": "timed batches",
}


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def _render(display: LiveDisplay) -> str:
    console = Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)
    console.print(display.renderable())
    return console.file.getvalue()  # type: ignore[attr-defined]


def _row(text: str, group: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"│ {group} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


def _state(run_dir: Path, groups: dict[str, dict[str, object]], estimate: dict[str, object]) -> None:
    (run_dir / "state.json").write_text(json.dumps({"status": "running", "groups": groups, "time_estimate": estimate}))


def test_counts_and_elapsed_come_from_the_storage_not_from_this_process(tmp_path: Path) -> None:
    clock = Clock()
    display = LiveDisplay(Console(file=io.StringIO()), clock=clock)
    display.emit(
        RunStart(
            job_id="j",
            run_dir=str(tmp_path),
            mode="quick",
            groups=("learning_rate", "regularization"),
            time_estimate=UNMEASURED,
            max_trials=6,
        )
    )
    display.emit(GroupStart(group="learning_rate", finished=0))  # finished by workers before this owner saw it
    display.emit(GroupEnd(group="learning_rate", reason="budget", best_value=0.41, best_params={"lr": 0.01}))
    display.emit(GroupStart(group="regularization", finished=0))
    display.emit(TrialStart(group="regularization", trial=0, params={}))
    display.emit(TrialEnd(group="regularization", trial=0, state="COMPLETE", value=0.3))  # this process: 1 trial
    _state(
        tmp_path,
        {
            "learning_rate": {
                "status": "completed",
                "max_trials": 6,
                "wall_s": 78.0,
                "best_value": 0.41,
                "n_trials": {"complete": 3, "pruned": 3, "failed": 0},
            },
            "regularization": {
                "status": "running",
                "max_trials": 6,
                "wall_s": 12.0,
                "best_value": 0.3,
                "n_trials": {"complete": 2, "pruned": 1, "failed": 0},
            },  # 3 of them, by three workers
        },
        UNMEASURED,
    )
    text = _render(display)
    assert _row(text, "learning_rate")[2:5] == ["6/6", "3", "0"] and _row(text, "learning_rate")[-1] == "0:01:18"
    assert _row(text, "regularization")[2:4] == ["3/6", "1"] and _row(text, "regularization")[-1] == "0:00:12"


def test_an_unmeasured_estimate_is_not_shown_as_a_number(tmp_path: Path) -> None:
    display = LiveDisplay(Console(file=io.StringIO()), clock=Clock())
    display.emit(
        RunStart(job_id="j", run_dir=str(tmp_path), mode="quick", groups=("learning_rate",), time_estimate=UNMEASURED)
    )
    text = _render(display)
    assert "remaining: measured once the first trials finish (6 trials to go)" in text
    assert "2.8" not in text and "ETA" not in text


@pytest.mark.parametrize("seconds, shown", [(45, "45 s"), (600, "10 min"), (10152, "2.8 h"), (None, "?")])
def test_durations_in_the_unit_that_fits(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_a_measured_estimate_in_minutes() -> None:
    est = {"based_on": "measured trials", "remaining_hours": 0.2, "estimated_hours": 0.5, "remaining_trials": 4}
    assert describe_remaining(est) == "remaining 12 min of 30 min (4 trials)"


def test_trials_on_several_workers_run_at_once_and_the_final_evaluation_alone() -> None:
    seconds = estimate_hours(10, 2, [10.0, 10.0], 999.0, parallel=2, serial_trainings=3) * 3600
    assert seconds == pytest.approx(10 * 10 / 2 + 3 * 10)


def _trial(number: int, start_s: float, end_s: float) -> FrozenTrial:
    return FrozenTrial(
        number=number,
        state=TrialState.COMPLETE,
        value=0.1,
        values=None,
        datetime_start=T0 + dt.timedelta(seconds=start_s),
        datetime_complete=T0 + dt.timedelta(seconds=end_s),
        params={},
        distributions={},
        user_attrs={"train_seconds": end_s - start_s},
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def test_a_groups_wall_time_spans_its_workers_trials_instead_of_adding_them() -> None:
    summary = summarize("learning_rate", [_trial(0, 0, 5), _trial(1, 1, 6)], "val_f1", "maximize", 0.0)
    assert summary.wall_s == pytest.approx(6.0) and summary.duration_s == pytest.approx(10.0)
    assert summary.as_dict()["wall_s"] == pytest.approx(6.0)
