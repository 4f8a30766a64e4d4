from __future__ import annotations

import datetime as dt
import io

import pytest
from rich.console import Console

from hyperopt_cli.cli.progress import LiveDisplay, PlainLog, make_display
from hyperopt_cli.search.events import (
    EpochEnd,
    EstimateUpdate,
    EvaluationNote,
    GroupEnd,
    GroupStart,
    Note,
    RunEnd,
    RunStart,
    RunWarning,
    TrialEnd,
    TrialStart,
)

GROUPS = ["learning_rate", "regularization", "class_balance", "augmentation", "scheduler", "triple_barrier"]
ESTIMATE = {
    "estimated_hours": 2.0,
    "remaining_hours": 1.5,
    "total_trials": 120,
    "remaining_trials": 90,
    "eta": "2026-05-09T18:30:00+00:00",
    "based_on": "measured trials",
}


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120, color_system=None)


def render(display: LiveDisplay) -> str:
    console = terminal()
    console.print(display.renderable())
    return console.file.getvalue()  # type: ignore[attr-defined]


def cells(text: str, group: str) -> list[str]:
    """The cells of a group's table row, with the lines of a folded cell joined."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"│ {group} "))
    row = [[cell.strip()] for cell in lines[start].strip("│").split("│")]
    for line in lines[start + 1 :]:
        more = [cell.strip() for cell in line.strip("│").split("│")]
        if not line.startswith("│") or more[0]:
            break
        for parts, cell in zip(row, more):
            parts.append(cell)
    return [" ".join(part for part in parts if part) for parts in row]


def feed_run(display: LiveDisplay, clock: FakeClock) -> None:
    """A resumed run: learning_rate finished, regularization mid-trial with a collapse warning."""
    clock.t = 1000.0  # the display was made earlier; elapsed counts from run_start
    display.emit(
        RunStart(
            job_id="job-42",
            run_dir="runs/job-42",
            mode="full",
            groups=tuple(GROUPS),
            time_estimate=ESTIMATE,
            action="started",
            pid=123,
        )
    )
    display.emit(GroupStart(group="learning_rate", finished=0))
    for number, state, value in [
        (0, "COMPLETE", 0.40),
        (1, "COMPLETE", 0.4321),
        (2, "PRUNED", None),
        (3, "FAIL", None),
    ]:
        display.emit(TrialStart(group="learning_rate", trial=number, params={"learning_rate": 0.001}, resumed=False))
        display.emit(TrialEnd(group="learning_rate", trial=number, state=state, value=value, collapsed=False))
    clock.t += 125
    display.emit(
        GroupEnd(
            group="learning_rate",
            reason="budget",
            best_value=0.4321,
            best_params={"learning_rate": 0.00123, "batch_size": 64},
        )
    )
    display.emit(GroupStart(group="regularization", finished=2))
    display.emit(
        TrialStart(group="regularization", trial=4, params={"dropout": 0.2, "weight_decay": 1e-4}, resumed=False)
    )
    display.emit(TrialEnd(group="regularization", trial=4, state="COMPLETE", value=0.39, collapsed=False))
    display.emit(
        TrialStart(group="regularization", trial=5, params={"dropout": 0.35, "weight_decay": 0.01}, resumed=True)
    )
    for epoch, value in [(0, 0.31), (1, 0.3777)]:
        display.emit(
            EpochEnd(
                group="regularization",
                trial=5,
                epoch=epoch,
                epochs=4,
                value=value,
                metrics={"val_f1": value, "val_loss": 1.02},
            )
        )
    display.emit(RunWarning(group="regularization", trial=5, message="mode collapse: 93% of predictions are HOLD"))
    display.emit(Note(message="started 1 local worker process beside this one"))  # not the view's to show
    clock.t = 1000 + 3723


def test_live_display_renders_groups_trial_and_warnings() -> None:
    clock = FakeClock(900.0)
    display = LiveDisplay(terminal(), clock=clock)
    feed_run(display, clock)
    text = render(display)

    assert "job-42" in text and "mode full" in text and "runs/job-42" in text
    eta = dt.datetime(2026, 5, 9, 18, 30, tzinfo=dt.timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")
    # The estimate came with run_start, 1:02:03 ago: its 1.5 h have counted down to 28 min since.
    assert f"elapsed 1:02:03  remaining 28 min of 2.0 h (90 trials)  ETA {eta}" in text

    # group, status, trials, pruned, failed, best, best params, elapsed
    assert cells(text, "learning_rate") == [
        "learning_rate",
        "completed",
        "4/20",
        "1",
        "1",
        "0.4321 #1",
        "learning_rate=0.00123 batch_size=64",
        "0:02:05",
    ]
    assert cells(text, "regularization") == [
        "regularization",
        "running",
        "3/20",
        "0",
        "0",
        "0.3900 #4",
        "dropout=0.2 weight_decay=0.0001",
        "0:59:58",
    ]
    for group in GROUPS[2:]:
        assert cells(text, group) == [group, "pending", "0/20", "0", "0", "-", "-", "-"]
    rows = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│ ") and "/20" in line]
    assert rows == GROUPS  # run_start's order

    trial_line = next(line for line in text.splitlines() if "trial 5" in line)
    assert "[regularization] trial 5" in trial_line and "dropout=0.35 weight_decay=0.01" in trial_line
    assert "epoch 2/4" in trial_line and "value 0.3777" in trial_line
    assert "WARNING [regularization] trial 5: mode collapse: 93% of predictions are HOLD" in text


def test_best_value_follows_direction_and_warnings_keep_the_last_three() -> None:
    display = LiveDisplay(terminal(), clock=FakeClock())
    display.emit(
        RunStart(job_id="j", run_dir="r", mode="group", groups=("scheduler",), time_estimate={}, action="started")
    )
    display.emit(GroupStart(group="scheduler", finished=0, direction="minimize"))
    for number, value in enumerate([0.9, 0.5, 0.7]):
        display.emit(TrialStart(group="scheduler", trial=number, params={"scheduler_T_0": 10 + number}, resumed=False))
        display.emit(TrialEnd(group="scheduler", trial=number, state="COMPLETE", value=value, collapsed=False))
    for n in range(5):
        display.emit(RunWarning(message=f"note {n}"))
    text = render(display)
    assert cells(text, "scheduler")[2:7] == ["3/?", "0", "0", "0.5000 #1", "scheduler_T_0=11"]
    assert "no trial running" in text
    assert [line for line in text.splitlines() if "WARNING" in line] == [
        "WARNING note 2",
        "WARNING note 3",
        "WARNING note 4",
    ]


def test_run_end_pauses_the_running_group_and_update_estimate_replaces_it() -> None:
    clock = FakeClock(900.0)
    display = LiveDisplay(terminal(), clock=clock)
    feed_run(display, clock)
    display.emit(RunEnd(status="paused", message="resume with: hyperopt resume runs/job-42"))
    clock.t += 600  # a paused group's elapsed time stops
    display.update_estimate({**ESTIMATE, "remaining_hours": 0.25, "remaining_trials": 12})
    text = render(display)
    assert cells(text, "regularization")[1] == "paused"
    assert cells(text, "regularization")[-1] == "0:59:58"
    assert "no trial running" in text and text.splitlines()[0].endswith("runs/job-42  paused")
    assert "about 15 min of work left (12 trials) once resumed" in text and "ETA" not in text
    display.emit(EvaluationNote(message="test macro-F1 0.4100"))
    assert "final evaluation: test macro-F1 0.4100" in render(display)


def test_live_start_stop_draws_the_final_frame() -> None:
    console = terminal()
    with LiveDisplay(console, clock=FakeClock()) as display:
        display.emit(
            RunStart(
                job_id="j",
                run_dir="r",
                mode="quick",
                groups=("learning_rate",),
                time_estimate=ESTIMATE,
                action="started",
            )
        )
        display.emit(GroupStart(group="learning_rate", finished=0))
    assert "learning_rate" in console.file.getvalue()  # type: ignore[attr-defined]


class FlushCounter(io.StringIO):
    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_plain_log_writes_one_timestamped_line_per_event() -> None:
    stream = FlushCounter()
    log = PlainLog(stream, now=lambda: dt.datetime(2026, 5, 9, 12, 34, 56))
    log.emit(
        RunStart(
            job_id="job-42",
            run_dir="runs/job-42",
            mode="full",
            groups=tuple(GROUPS),
            time_estimate=ESTIMATE,
            action="resumed",
            pid=1,
        )
    )
    log.emit(TrialStart(group="learning_rate", trial=3, params={"learning_rate": 0.00123}, resumed=False))
    log.emit(EstimateUpdate(time_estimate=ESTIMATE))  # no line of its own
    log.emit(
        EpochEnd(group="learning_rate", trial=3, epoch=1, epochs=4, value=0.5, metrics={"val_f1": 0.5, "val_loss": 1.0})
    )
    log.emit(TrialEnd(group="learning_rate", trial=3, state="PRUNED", value=None, collapsed=False))
    lines = stream.getvalue().splitlines()
    assert lines == [
        "2026-05-09 12:34:56 run job-42 resumed in runs/job-42: mode full, groups "
        + ", ".join(GROUPS)
        + "; 120 trials, remaining 1.5 h of 2.0 h (90 trials)",
        "2026-05-09 12:34:56 [learning_rate] trial 3 started: learning_rate=0.00123",
        "2026-05-09 12:34:56 [learning_rate] trial 3 epoch 2/4: value 0.5000 (val_f1 0.5000, val_loss 1.0000)",
        "2026-05-09 12:34:56 [learning_rate] trial 3 PRUNED",
    ]
    assert stream.flushes == 4


@pytest.mark.parametrize("force_terminal, kind", [(True, LiveDisplay), (False, PlainLog)])
def test_make_display_follows_the_terminal(force_terminal: bool, kind: type) -> None:
    console = Console(file=io.StringIO(), force_terminal=force_terminal)
    display = make_display(console)
    assert isinstance(display, kind)
    if isinstance(display, PlainLog):
        assert display.stream is console.file


def test_estimate_events_from_the_run_refresh_the_header() -> None:
    clock = FakeClock(900.0)
    display = LiveDisplay(terminal(), clock=clock)
    feed_run(display, clock)
    display.emit(EstimateUpdate(time_estimate={**ESTIMATE, "remaining_hours": 0.5, "remaining_trials": 30}))
    assert "remaining 30 min of 2.0 h (30 trials)" in render(display)


def test_the_live_table_updates_on_its_own_thread_never_on_the_emitting_one() -> None:
    import threading
    import time

    from hyperopt_cli.cli.progress import REFRESH_PER_SECOND

    console = terminal()
    display = LiveDisplay(console)
    drawn_on: list[str] = []
    build = display.renderable

    def recording_renderable() -> object:
        drawn_on.append(threading.current_thread().name)
        return build()

    display.renderable = recording_renderable  # type: ignore[method-assign]
    with display:
        display.emit(
            RunStart(
                job_id="j",
                run_dir="r",
                mode="quick",
                groups=("learning_rate",),
                time_estimate=ESTIMATE,
                action="started",
                data="synthetic (6,000 bars)",
                parallel="2 workers x 1 thread, journal files",
            )
        )
        me = threading.current_thread().name
        before = drawn_on.count(me)
        started = time.monotonic()
        for epoch in range(200):  # a burst of events costs no rendering on this thread
            display.emit(EpochEnd(group="learning_rate", trial=7, epoch=epoch, epochs=200, value=0.5))
        assert time.monotonic() - started < 1.0
        assert drawn_on.count(me) == before  # no render on the emitting thread
        deadline = time.monotonic() + 10 / REFRESH_PER_SECOND
        while "epoch 200/200" not in console.file.getvalue() and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "epoch 200/200" in text  # the refresh thread drew the latest state
    assert "data synthetic (6,000 bars)  parallel 2 workers x 1 thread, journal files" in text
    assert any(name != me for name in drawn_on)
