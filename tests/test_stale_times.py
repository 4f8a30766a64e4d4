"""Times and states that say what is true now: no ETA for a run that is not running (issue 33, item 4)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cli_helpers import hyperopt
from hyperopt_cli.cli.progress import LiveDisplay
from hyperopt_cli.cli.render import describe_times
from hyperopt_cli.run.status import settle
from hyperopt_cli.search.events import RunStart

ESTIMATE = {
    "estimated_hours": 65 / 3600,
    "remaining_hours": 20 / 3600,
    "total_trials": 4,
    "remaining_trials": 1,
    "eta": "2026-05-09T18:30:00+00:00",
    "based_on": "measured trials",
}


@pytest.fixture(scope="module")
def run(quick_csv_run: tuple[Path, Path, dict[str, Any]]) -> tuple[Path, Path, dict[str, Any]]:
    return quick_csv_run  # shared: this module only reads the run


def state_of(status: str, group_status: str = "running") -> dict[str, Any]:
    return {
        "status": status,
        "elapsed_s": 45.0,
        "time_estimate": dict(ESTIMATE),
        "groups": {"learning_rate": {"status": group_status}},
    }


def test_a_completed_run_has_nothing_remaining_and_no_eta() -> None:
    state = settle(state_of("completed", "completed"))
    line = describe_times(state)
    assert "remaining" not in line and "ETA" not in line and "finished" in line
    assert state["time_estimate"]["eta"] is None and state["time_estimate"]["remaining_hours"] == 0.0


@pytest.mark.parametrize("status, group", [("interrupted", "interrupted"), ("paused", "paused")])
def test_a_run_that_is_not_running_has_no_eta_nor_a_running_group(status: str, group: str) -> None:
    state = settle(state_of(status))
    line = describe_times(state)
    assert "ETA" not in line and "not running" in line and "once resumed" in line
    assert state["groups"]["learning_rate"]["status"] == group


def test_status_of_a_completed_run_prints_no_remaining_time(run: Any, tmp_path: Path) -> None:
    run_dir, _, _ = run
    shown = hyperopt("status", run_dir, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "remaining" not in shown.stdout and "ETA" not in shown.stdout, shown.stdout
    assert json.loads(hyperopt("status", run_dir, "--json", cwd=tmp_path).stdout)["time_estimate"]["eta"] is None


def test_status_of_a_killed_run_says_interrupted_everywhere(run: Any, tmp_path: Path) -> None:
    run_dir, _, _ = run
    killed = tmp_path / "killed"
    shutil.copytree(run_dir, killed)
    state = json.loads((killed / "state.json").read_text())
    state["status"] = "running"  # what the owner left when kill -9 hit it mid-group
    state["groups"]["learning_rate"]["status"] = "running"
    state["progress"]["current_group"], state["progress"]["current_trial"] = "learning_rate", 1
    (killed / "state.json").write_text(json.dumps(state))
    shown = hyperopt("status", killed, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "[interrupted]" in shown.stdout and "ETA" not in shown.stdout, shown.stdout
    assert "stopped at: learning_rate" in shown.stdout
    group_line = next(line for line in shown.stdout.splitlines() if "learning_rate" in line and "│" in line)
    assert "interrupted" in group_line and "running" not in group_line


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_live_remaining_counts_down_through_a_long_final_evaluation() -> None:
    clock = Clock()
    display = LiveDisplay(Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None), clock=clock)
    display.emit(
        RunStart(
            job_id="j",
            run_dir="r",
            mode="quick",
            groups=("learning_rate",),
            time_estimate={**ESTIMATE, "remaining_hours": 600 / 3600, "estimated_hours": 0.5},
            action="started",
        )
    )

    def header() -> str:
        console = Console(file=io.StringIO(), width=120, color_system=None)
        console.print(display.renderable())
        return console.file.getvalue()  # type: ignore[attr-defined]

    assert "remaining 10 min" in header()
    clock.t += 300  # nothing rewrote the estimate: the final evaluation is running
    assert "remaining 5 min" in header()
    clock.t += 900
    assert "past the estimate by 10 min" in header() and "ETA" not in header()
