"""run/state_record.py: state.json as typed records, built by run/state.py and read by status and the rest."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.state import rebuild_state
from hyperopt_cli.run.state_record import EMPTY, GroupState, Progress, RunState, read_run_state

# A new run's state.json, key by key as its session added them (run/checks.py, run/optimizer.py,
# StateWriter.write): the order the file had before it was a record.
FRESH_RUN_KEYS = [
    "created_at",
    "sessions",
    "elapsed_s",
    "data",
    "started_at",
    "status",
    "job_id",
    "mode",
    "pid",
    "config_hash",
    "config",
    "storage",
    "updated_at",
    "group_spans",
    "progress",
    "groups",
    "time_estimate",
    "message",
    "finished_at",
]
REBUILT_KEYS = [
    "status",
    "job_id",
    "mode",
    "pid",
    "config_hash",
    "config",
    "rebuilt_at",
    "elapsed_s",
    "sessions",
    "progress",
    "groups",
    "results",
]


@pytest.fixture(scope="module")
def finished(quick_csv_run: tuple[Path, Path, dict[str, Any]]) -> Path:
    return quick_csv_run[0]  # shared: this module only reads the run (a test that changes it takes `copied`)


@pytest.fixture
def copied(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished run, for a test that changes its files."""
    return Path(shutil.copytree(finished, tmp_path / "job"))


def written(state: RunState, tmp_path: Path) -> bytes:
    """The bytes rundir.write_json puts on disk for `state` (as StateWriter writes it)."""
    path = tmp_path / "again.json"
    rundir.write_json(path, state.to_json())
    return path.read_bytes()


def test_a_runs_state_json_reads_back_byte_for_byte(finished: Path, tmp_path: Path) -> None:
    raw = json.loads((finished / rundir.STATE_FILE).read_text())
    state = RunState.from_json(raw)
    assert state.to_json() == raw
    assert written(state, tmp_path) == (finished / rundir.STATE_FILE).read_bytes()


def test_the_writer_keeps_the_files_key_order(finished: Path) -> None:
    state = read_run_state(finished)
    assert state is not None
    assert list(json.loads((finished / rundir.STATE_FILE).read_text())) == FRESH_RUN_KEYS
    assert list(state.to_json()) == FRESH_RUN_KEYS == list(state.keys())


def test_the_file_reads_as_records(finished: Path) -> None:
    state = read_run_state(finished)
    assert state is not None and state.status == "completed" and state.job_id == finished.name
    assert isinstance(state.progress, Progress) and state.progress.current_group is None
    assert state.groups is not None and set(state.groups) == set(state.progress.groups_completed)
    row = next(iter(state.groups.values()))
    assert isinstance(row, GroupState) and row.status == "completed" and row.n_trials["finished"] == 2
    assert list(row.to_json())[:3] == ["status", "reason", "max_trials"]
    assert "metric" in row.extra  # the summary's keys no reader takes one by one


def test_a_rebuilt_state_is_a_record_in_the_rebuilt_order(finished: Path, tmp_path: Path) -> None:
    rebuilt = rebuild_state(finished)
    assert isinstance(rebuilt, RunState) and rebuilt.status == "completed" and rebuilt.results is not None
    raw = json.loads(json.dumps(rebuilt.to_json()))
    assert list(raw) == REBUILT_KEYS
    assert RunState.from_json(raw).to_json() == raw
    assert written(RunState.from_json(raw), tmp_path) == written(rebuilt, tmp_path)


def test_unknown_keys_stay_in_their_place_at_every_level() -> None:
    raw: dict[str, Any] = {
        "status": "paused",
        "from_a_newer_version": {"x": 1},
        "progress": {"current_group": "g", "cursor": 3, "groups_completed": []},
        "groups": {"g": {"status": "paused", "later": True, "n_trials": {"finished": 1}}},
        "job_id": "j",
    }
    state = RunState.from_json(raw)
    assert state.extra == {"from_a_newer_version": {"x": 1}}
    assert state.progress is not None and state.progress.extra == {"cursor": 3}
    assert state.groups is not None and state.groups["g"].extra == {"later": True}
    assert state.to_json() == raw
    assert list(state.to_json()) == list(raw)
    assert list(state.to_json()["progress"]) == ["current_group", "cursor", "groups_completed"]
    assert list(state.to_json()["groups"]["g"]) == ["status", "later", "n_trials"]


def test_an_old_state_lacks_keys_and_gets_none_added() -> None:
    old = {"status": "paused", "job_id": "j", "config_hash": "h", "groups": {}}  # no pid, progress, estimate
    state = RunState.from_json(old)
    assert state.pid is None and state.progress is None and state.time_estimate is None
    assert not state.has("pid") and state.has("groups")
    assert state.to_json() == old


def test_updated_sets_known_keys_in_place_and_appends_new_ones() -> None:
    state = EMPTY.updated(created_at="t0", sessions=1, elapsed_s=0.0)
    assert list(state.to_json()) == ["created_at", "sessions", "elapsed_s"]
    state = state.updated(status="running", elapsed_s=2.5, note="n", progress={"current_group": "g"})
    assert state.to_json() == {
        "created_at": "t0",
        "sessions": 1,
        "elapsed_s": 2.5,
        "status": "running",
        "note": "n",
        "progress": {"current_group": "g"},
    }
    assert isinstance(state.progress, Progress) and state.extra == {"note": "n"}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "", '"a string"'])
def test_a_damaged_state_json_reads_as_missing(copied: Path, text: str) -> None:
    (copied / rundir.STATE_FILE).write_text(text)
    assert read_run_state(copied) is None
    assert read_run_state(copied, check=True) is None


def test_a_missing_state_json_reads_as_none(copied: Path) -> None:
    (copied / rundir.STATE_FILE).unlink()
    assert read_run_state(copied) is None and read_run_state(copied, peek=True) is None


def test_a_wrong_type_is_refused_only_when_checked(copied: Path) -> None:
    (copied / rundir.STATE_FILE).write_text(json.dumps({"status": "running", "groups": [1]}))
    assert read_run_state(copied) is not None  # the values are the file's
    with pytest.raises(RunStateError, match=r"'groups' must be an object or null, got a list; restore the file"):
        read_run_state(copied, check=True)


def test_a_symlinked_state_json_is_refused_unless_peeked(copied: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    (copied / rundir.STATE_FILE).rename(target)
    (copied / rundir.STATE_FILE).symlink_to(target)
    with pytest.raises(RunStateError):
        read_run_state(copied)
    assert read_run_state(copied, peek=True) is None


def test_status_answers_the_file_plus_liveness(finished: Path) -> None:
    from hyperopt_cli.control import run_status

    raw = json.loads((finished / rundir.STATE_FILE).read_text())
    answer = run_status(finished)
    kept = [k for k in raw if k != "config"]
    assert list(answer)[: len(kept)] == kept
    assert list(answer)[len(kept) :] == ["run_dir", "owner_alive", "owner_pid", "trials_per_hour"]
    assert {k: answer[k] for k in ("status", "job_id", "progress", "data", "finished_at")} == {
        k: raw[k] for k in ("status", "job_id", "progress", "data", "finished_at")
    }
    assert answer["time_estimate"] == {
        **raw["time_estimate"],
        "eta": None,
        "remaining_hours": 0.0,
        "remaining_trials": 0,
    }


def test_a_missing_state_json_is_rebuilt_for_status_with_its_note(copied: Path) -> None:
    from hyperopt_cli.control import run_status

    (copied / rundir.STATE_FILE).unlink()
    answer = run_status(copied)
    assert list(answer)[: len(REBUILT_KEYS) - 1] == [k for k in REBUILT_KEYS if k != "config"]
    assert answer["note"] == "state.json missing or corrupt: rebuilt from config.yaml and the studies (not saved)"
    assert answer["status"] == "completed"
    assert not (copied / rundir.STATE_FILE).exists()  # a reader never writes


SAID_BY_THE_RECORD = "said by the record"


@pytest.fixture
def restated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every RunState read from JSON says SAID_BY_THE_RECORD as its message; the files stay as written."""
    real = RunState.from_json.__func__  # type: ignore[attr-defined]

    def from_json(cls: type[RunState], raw: Mapping[str, Any]) -> RunState:
        return dataclasses.replace(real(cls, raw), message=SAID_BY_THE_RECORD)

    monkeypatch.setattr(RunState, "from_json", classmethod(from_json))


def test_status_reads_state_json_through_the_record(finished: Path, restated: None) -> None:
    from typer.testing import CliRunner

    from hyperopt_cli.cli import app

    assert SAID_BY_THE_RECORD not in (finished / rundir.STATE_FILE).read_text()
    answer = CliRunner().invoke(app, ["status", str(finished), "--json"])
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.output)["message"] == SAID_BY_THE_RECORD


def test_a_forced_stop_marks_the_file_and_keeps_the_rest(copied: Path) -> None:
    from hyperopt_cli.cli.run_commands import _mark_forced

    before = json.loads((copied / rundir.STATE_FILE).read_text())
    _mark_forced(copied)
    after = json.loads((copied / rundir.STATE_FILE).read_text())
    assert list(after) == list(before)
    assert after["status"] == "paused" and after["message"].startswith("forced stop (second Ctrl-C)")
    assert {k: v for k, v in after.items() if k not in ("status", "message")} == {
        k: v for k, v in before.items() if k not in ("status", "message")
    }
