"""With several workers the screen shows every worker's trials, and its header agrees with itself (issue 33, item 5)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from hyperopt_cli.cli.progress import LiveDisplay, PlainLog
from hyperopt_cli.search.events import Event, Note, RunStart, TrialEnd, TrialStart


class Clock:
    t = 10.0

    def __call__(self) -> float:
        return self.t


def write_state(run: Path, history: list[list[float]], workers: dict[str, dict[str, object]] | None = None) -> None:
    run.mkdir(exist_ok=True)
    state = {
        "status": "running",
        "groups": {
            "learning_rate": {
                "status": "running",
                "n_trials": {"complete": len(history)},
                "best_value": min(v for _, v in history),
                "best_trial": int(min(history, key=lambda h: h[1])[0]),
                "best_params": {"learning_rate": 0.00626},
                "history": history,
            }
        },
        "workers": workers or {},
    }
    (run / "state.json").write_text(json.dumps(state))


def test_the_plain_log_tells_the_trials_other_workers_finished(tmp_path: Path) -> None:
    run, clock, stream = tmp_path / "run", Clock(), io.StringIO()
    write_state(run, [[0, 1.09]])
    log = PlainLog(stream, clock=clock)
    log.emit(
        RunStart(
            job_id="j",
            run_dir=str(run),
            mode="quick",
            groups=("learning_rate",),
            parallel="2 workers x 1 thread, journal files",
            time_estimate={},
        )
    )
    log.emit(TrialEnd(group="learning_rate", trial=1, state="COMPLETE", value=1.08, collapsed=False))
    write_state(run, [[0, 1.09], [1, 1.08], [2, 1.0711]])  # trial 2 ran in the other worker
    clock.t += 2
    log.emit(TrialStart(group="learning_rate", trial=3, params={}, resumed=False))
    text = stream.getvalue()
    assert "[learning_rate] trial 2 finished by another worker: value 1.0711" in text
    assert "trial 0 finished by another" not in text and "trial 1 finished by another" not in text


def test_the_live_view_shows_the_other_workers_and_the_best_trial_of_any(tmp_path: Path) -> None:
    run, clock = tmp_path / "run", Clock()
    write_state(
        run,
        [[0, 1.09], [2, 1.0711]],
        workers={
            "h:1:1.0": {"pid": 1, "alive": True, "role": "owner", "group": "learning_rate", "trial": 3},
            "h:2:1.0": {"pid": 2, "alive": True, "role": "worker", "group": "learning_rate", "trial": 4},
            "h:3:1.0": {"pid": 3, "alive": False, "role": "worker", "group": "learning_rate", "trial": 1},
        },
    )
    display = LiveDisplay(Console(file=io.StringIO(), width=120), clock=clock)
    display.emit(
        RunStart(
            job_id="j",
            run_dir=str(run),
            mode="quick",
            groups=("learning_rate",),
            pid=1,
            parallel="2 workers x 1 thread, journal files",
            time_estimate={},
        )
    )
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(display.renderable())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "worker pid 2 (worker): [learning_rate] trial 4" in text
    assert "worker pid 1" not in text and "worker pid 3" not in text  # this process; a dead one
    assert "#2" in text and "1.0711" in text  # the winning trial, run by the other worker


def test_the_started_note_counts_as_the_header_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hyperopt_cli.run import local_workers
    from hyperopt_cli.search.workers import OWNER_ENV

    notes: list[str] = []
    envs: list[dict[str, str]] = []

    class Sink:
        def emit(self, event: Event) -> None:
            notes.append(event.message if isinstance(event, Note) else repr(event))

    class FakePopen:
        pid = 4242

        def __init__(self, *args: object, env: dict[str, str], **kwargs: object) -> None:
            envs.append(env)

    monkeypatch.setattr(local_workers.subprocess, "Popen", FakePopen)
    local_workers.LocalWorkers(None, tmp_path, Sink()).spawn(1)  # type: ignore[arg-type]
    # The header says `parallel 2 workers`: this process and the one it started.
    assert notes == ["started 1 local worker process beside this one (2 workers in all): pid 4242"]
    assert envs[0][OWNER_ENV].split(":")[1] == str(__import__("os").getpid())  # the child watches this process
