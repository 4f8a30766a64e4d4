"""What reaches the terminal and run.log: no Optuna chatter, one level per line, news that is not a warning."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from cli_helpers import env
from hyperopt_cli.cli.progress import PlainLog
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.run.events import LogSink
from hyperopt_cli.run.local_workers import LocalWorkers
from hyperopt_cli.run.logfile import attached_log
from hyperopt_cli.search.events import Event, Note, RunWarning


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)


def test_reopening_a_study_prints_nothing(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom pathlib import Path\nfrom hyperopt_cli.config import config_from_dict\n"
        "from hyperopt_cli.search.storage import control_study\n"
        "cfg = config_from_dict({'storage_url': 'journal'})\n"
        "control_study(cfg, Path(sys.argv[1])); control_study(cfg, Path(sys.argv[1]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == ""


def test_run_log_names_the_level_once(tmp_path: Path) -> None:
    with attached_log(tmp_path):
        sink = LogSink()
        sink.emit(RunWarning(group="regularization", trial=3, message="mode collapse at epoch 2"))
        sink.emit(Note(message="started 2 local worker process(es): 11, 12"))
    lines = (tmp_path / "run.log").read_text().splitlines()
    assert lines[0].endswith(" WARNING [regularization] trial 3: mode collapse at epoch 2")
    assert lines[0].count("WARNING") == 1
    assert lines[1].endswith(" INFO started 2 local worker process(es): 11, 12")


def test_the_plain_log_still_marks_warnings_and_not_notes() -> None:
    stream = io.StringIO()
    log = PlainLog(stream)
    log.emit(RunWarning(message="time budget used up"))
    log.emit(Note(message="started 1 local worker process(es): 5"))
    first, second = stream.getvalue().splitlines()
    assert first.endswith(" WARNING time budget used up") and second.endswith(" started 1 local worker process(es): 5")
    assert "WARNING" not in second


def test_starting_local_workers_is_a_note_not_a_warning(tmp_path: Path) -> None:
    events = Recorder()
    workers = LocalWorkers(config_from_dict({}), tmp_path, events)
    workers.spawn(1)  # `hyperopt worker` on a folder that is no run: it exits at once
    workers.wait()
    assert [type(event) for event in events.events] == [Note]
    assert events.events[0].message.startswith("started 1 local worker")
