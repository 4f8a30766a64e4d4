"""More trials on a run (`resume --more-trials N`): only the last group reopens, for N more trials."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import hyperopt, read_state, tiny, trial_table, write_config
from hyperopt_cli.config import GROUPS
from hyperopt_cli.core.errors import RunStateError, StopRequested
from hyperopt_cli.run import rundir
from hyperopt_cli.run.events import NullSink
from hyperopt_cli.run.extend import extend_last_group
from hyperopt_cli.run.optimizer import HyperparameterOptimizer, rebuild_state
from hyperopt_cli.search import storage
from hyperopt_cli.search.events import EpochEnd, EvaluationNote, TrialEnd
from test_faults import run_cli
from test_optimizer import Recorder, StopOn


def trials_of(run: Path, cfg: Any, group: str) -> list[tuple[Any, ...]]:
    """(number, state, params, value, fixed params) of every trial of a group."""
    study = storage.load_study(cfg, run, group)
    return [
        (t.number, t.state.name, t.params, t.value, t.user_attrs.get("fixed_params"))
        for t in study.get_trials(deepcopy=False)
    ]


def finished(run: Path, cfg: Any, group: str) -> int:
    return sum(1 for t in storage.load_study(cfg, run, group).get_trials(deepcopy=False) if t.state.is_finished())


def walked_forward(events: Recorder) -> bool:
    return any("walking forward" in e.message for e in events.named(EvaluationNote))


@pytest.mark.slow  # a full run
def test_a_completed_quick_run_gets_exactly_n_more_trials(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny("mode=quick")
    before = HyperparameterOptimizer(cfg, run).optimize()
    config_before = (run / rundir.CONFIG_FILE).read_bytes()
    events = Recorder()
    after = HyperparameterOptimizer.from_run_dir(run, events=events).optimize(more_trials=2)
    assert finished(run, cfg, "learning_rate") == 4
    assert after["group_results"]["learning_rate"]["n_trials"]["finished"] == 4
    assert json.loads((run / rundir.RESULTS_FILE).read_text()) == after  # rewritten
    state = read_state(run)
    assert state["status"] == "completed" and state["groups"]["learning_rate"]["max_trials"] == 4
    assert (run / rundir.CONFIG_FILE).read_bytes() == config_before  # the config stays frozen
    # the final evaluation runs again only when the chosen values (or epochs) changed
    changed = (after["best_params"], after["epochs"]) != (before["best_params"], before["epochs"])
    assert walked_forward(events) == changed
    with pytest.raises(RunStateError, match="already completed.*--more-trials N"):
        HyperparameterOptimizer.from_run_dir(run).optimize()
    # A second extension adds again. Recorded, then killed before state.json said so: a plain resume runs it.
    extend_last_group(cfg, run, 1, NullSink())
    assert read_state(run)["status"] == "completed"
    HyperparameterOptimizer.from_run_dir(run).optimize()
    assert finished(run, cfg, "learning_rate") == 5
    assert rebuild_state(run).status == "completed"


@pytest.mark.slow  # a full run
def test_a_converged_group_runs_exactly_n_more_not_its_whole_budget(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny("mode=quick", "max_trials_per_group=10", "convergence_patience=2", "convergence_threshold=1.0")
    HyperparameterOptimizer(cfg, run).optimize()
    assert finished(run, cfg, "learning_rate") == 3  # converged (tests/test_optimizer.py)
    HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=2)
    assert finished(run, cfg, "learning_rate") == 5  # convergence did not end it before, the budget did not run on


@pytest.mark.slow  # a whole search with its final evaluation and more trials (~9 s)
def test_a_paused_run_gets_n_added_to_its_budget(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny("mode=quick")
    stop = threading.Event()
    with pytest.raises(StopRequested):
        HyperparameterOptimizer(cfg, run, events=StopOn(TrialEnd, stop)).optimize(stop)
    assert finished(run, cfg, "learning_rate") == 1
    results = HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=1)
    assert finished(run, cfg, "learning_rate") == 3  # 2 + 1
    assert results["group_results"]["learning_rate"]["completed"] is True


@pytest.mark.slow  # a whole search with its final evaluation and more trials (~9 s)
def test_a_stop_during_the_extra_trials_resumes_with_a_plain_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny("mode=quick")
    HyperparameterOptimizer(cfg, run).optimize()
    stop = threading.Event()
    with pytest.raises(StopRequested):
        HyperparameterOptimizer.from_run_dir(run, events=StopOn(EpochEnd, stop)).optimize(stop, more_trials=2)
    assert read_state(run)["status"] == "paused"
    assert rebuild_state(run).status == "paused"  # the studies say so too: the last group is open again
    HyperparameterOptimizer.from_run_dir(run).optimize()
    assert finished(run, cfg, "learning_rate") == 4
    assert read_state(run)["status"] == "completed"


@pytest.mark.slow  # a whole search with its final evaluation and more trials (~9 s)
def test_an_extension_with_its_time_budget_used_up_is_refused_untouched(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny("mode=quick", "max_total_time_hours=0.01")
    HyperparameterOptimizer(cfg, run).optimize()
    state = read_state(run)
    state["elapsed_s"] = 36.0
    rundir.write_json(run / rundir.STATE_FILE, state)
    with pytest.raises(RunStateError, match="used up its time budget"):
        HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=2)
    assert read_state(run) == state
    assert "extra_trials" not in storage.load_study(cfg, run, "learning_rate").user_attrs


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, dict[str, list[tuple[Any, ...]]]]:
    run = tmp_path_factory.mktemp("full") / "run"
    cfg = tiny("mode=full")
    HyperparameterOptimizer(cfg, run).optimize()
    return run, cfg, {g: trials_of(run, cfg, g) for g in GROUPS}


@pytest.mark.slow  # a full run
def test_a_full_run_reopens_only_its_last_group(full_run) -> None:
    run, cfg, before = full_run
    last = GROUPS[-1]
    records = {g: storage.load_study(cfg, run, g).user_attrs for g in GROUPS[:-1]}
    results = HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=2)
    for group in GROUPS[:-1]:  # every earlier group, its trials and its decision untouched
        assert trials_of(run, cfg, group) == before[group]
        assert storage.load_study(cfg, run, group).user_attrs == records[group]
    after = trials_of(run, cfg, last)
    assert after[:2] == before[last] and len(after) == 4
    fixed = {row[4] and json.dumps(row[4], sort_keys=True) for row in after}
    assert len(fixed) == 1  # the extra trials ran with exactly the fixed params the first ones had
    assert results["group_results"][last]["n_trials"]["finished"] == 4
    for group in GROUPS[:-1]:
        assert results["group_results"][group]["n_trials"]["finished"] == 2
    assert read_state(run)["status"] == "completed"


@pytest.mark.slow
def test_cli_more_trials_killed_mid_way_then_a_plain_resume_matches_a_straight_extension(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    run = tmp_path / "run"
    started = hyperopt("start", "--config", cfg, "--mode", "quick", "--exact", "--run-dir", run, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    state = (run / rundir.STATE_FILE).read_bytes()
    zero = hyperopt("resume", run, "--more-trials", "0", cwd=tmp_path)
    assert zero.returncode == 2 and "--more-trials" in zero.stderr
    assert (run / rundir.STATE_FILE).read_bytes() == state
    straight = tmp_path / "straight"
    shutil.copytree(run, straight)
    done = hyperopt("resume", straight, "--more-trials", "2", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    killed = run_cli("resume", run, "--more-trials", "2", cwd=tmp_path, fault="after_tell:1")
    assert killed.returncode == -9, killed.stderr
    assert read_state(run)["status"] != "completed"
    resumed = hyperopt("resume", run, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert read_state(run)["status"] == "completed"
    table = [row[1:] for row in trial_table(run)]
    assert table == [row[1:] for row in trial_table(straight)] and len(table) == 4
    assert (
        json.loads((run / rundir.RESULTS_FILE).read_text())["best_params"]
        == json.loads((straight / rundir.RESULTS_FILE).read_text())["best_params"]
    )


def test_study_records_reopen_a_group_only_until_it_finishes_its_extension() -> None:
    from hyperopt_cli.search.study_records import extension_open, group_done_of, trial_limits

    done = {"group_done": {"reason": "budget"}}
    extended = {**done, "extra_trials": [{"n": 3, "at_finished": 2, "limit": 5}]}
    assert group_done_of(done) == {"reason": "budget"} and not extension_open(done)
    assert group_done_of(extended) is None and extension_open(extended)
    assert trial_limits(extended, 2).max_trials == 5 and trial_limits(extended, 2).min_trials == 5
    finished = {**extended, "group_done": {"reason": "budget", "extensions": 1}}
    assert group_done_of(finished) is not None and not extension_open(finished)
    assert trial_limits({}, 2).max_trials == 2


@pytest.mark.slow
def test_two_workers_share_the_extra_trials_and_run_exactly_n(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny("mode=quick", "workers=2", "storage_url=journal")
    HyperparameterOptimizer(cfg, run).optimize()
    results = HyperparameterOptimizer.from_run_dir(run).optimize(more_trials=2)
    assert results["group_results"]["learning_rate"]["n_trials"]["finished"] == 4  # surplus trials count for nothing
    assert read_state(run)["status"] == "completed"
