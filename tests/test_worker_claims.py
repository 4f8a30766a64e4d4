"""Several workers on one study: claims on fresh data, ownership at every epoch, runs apart (issue 14, item 9)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import psutil
import pytest
from optuna.trial import TrialState

from _tiny_data import tiny_data
from cli_helpers import TINY_CONFIG
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.run import rundir
from hyperopt_cli.search.events import EpochEnd, Event, RunWarning
from hyperopt_cli.search.group import GroupSearch, TimeBudget
from hyperopt_cli.search.liveness import WorkerId, this_worker
from hyperopt_cli.search.storage import trial_handle
from hyperopt_cli.search.study_records import INCUMBENT_ATTR
from hyperopt_cli.search.workers import WORKER_ATTR, claim

SHARED = {"storage_url": "journal", "workers": 2, "epochs_per_trial": 3}


def live_other_worker() -> WorkerId:
    """A worker key of a live process on this host that is not this one (the test runner's parent)."""
    parent = psutil.Process(os.getppid())
    return WorkerId(this_worker().host, parent.pid, round(parent.create_time(), 2))


def dead_worker() -> WorkerId:
    return WorkerId(this_worker().host, 2**22 + 12345, 1.0)  # beyond pid_max: never alive


def test_claim_rereads_the_trial_before_taking_it(tmp_path: Path) -> None:
    """The snapshot says the trial's worker is dead, but another live worker claimed it since: keep off."""
    cfg = config_from_dict(dict(TINY_CONFIG))
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    study.ask().set_user_attr(WORKER_ATTR, dead_worker().key)
    (stale,) = study.get_trials(deepcopy=False)
    other = live_other_worker()
    trial_handle(study, stale).set_user_attr(WORKER_ATTR, other.key)  # claimed after the snapshot was taken
    assert not claim(study, stale, this_worker(), cfg, heartbeats={}, run_dir=tmp_path)
    assert study.get_trials(deepcopy=False)[0].user_attrs[WORKER_ATTR] == other.key


def test_claim_takes_a_dead_workers_trial(tmp_path: Path) -> None:
    cfg = config_from_dict(dict(TINY_CONFIG))
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    study.ask().set_user_attr(WORKER_ATTR, dead_worker().key)
    (frozen,) = study.get_trials(deepcopy=False)
    assert claim(study, frozen, this_worker(), cfg, heartbeats={}, run_dir=tmp_path)


class _Preparer:
    def prepare(self, labels_cfg: Any, families: Any = None, window: Any = None) -> Any:
        return tiny_data()

    def prepare_folds(self, labels_cfg: Any, n_folds: int, families: Any = None, window: Any = None) -> Any:
        return [tiny_data()]


class _TakeOverAfterFirstEpoch:
    """Plays a second worker that presumes this one dead and claims its trial once epoch 0 is reported."""

    def __init__(self) -> None:
        self.search: GroupSearch | None = None
        self.warnings: list[str] = []

    def emit(self, event: Event) -> None:
        if isinstance(event, EpochEnd) and event.epoch == 0 and self.search is not None:
            frozen = self.search.study.get_trials(deepcopy=False)[event.trial]
            trial_handle(self.search.study, frozen).set_user_attr(WORKER_ATTR, live_other_worker().key)
        if isinstance(event, RunWarning):
            self.warnings.append(event.message)


def test_a_worker_that_lost_its_trial_abandons_it_at_the_next_epoch(tmp_path: Path) -> None:
    cfg = config_from_dict({**TINY_CONFIG, **SHARED})
    events = _TakeOverAfterFirstEpoch()
    search = GroupSearch(
        cfg,
        tmp_path,
        "learning_rate",
        dict(cfg.search_space["learning_rate"]),
        {},
        _Preparer(),
        events,
        threading.Event(),
        TimeBudget(1.0, 0.0),
        on_progress=lambda: None,
        checkpoints=tmp_path / "checkpoints",
    )
    events.search = search
    trial = search.study.ask()
    trial.set_user_attr(WORKER_ATTR, search.me.key)
    search._run_trial(trial, reported=set(), resumed=False)
    (stored,) = search.study.get_trials(deepcopy=False)
    assert stored.state == TrialState.RUNNING  # left to its new owner, not told by this worker
    assert sorted(stored.intermediate_values) == [0]  # nothing reported after losing it
    assert any("took this trial over" in w for w in events.warnings)


def test_a_shared_checkpoint_dir_keeps_runs_apart(tmp_path: Path) -> None:
    cfg = config_from_dict({**TINY_CONFIG, "checkpoint_dir": str(tmp_path / "shared")})
    first, second = tmp_path / "a" / "run", tmp_path / "b" / "run"  # same name, same config and seed
    for run in (first, second):
        run.mkdir(parents=True)

    def checkpoint_dir(cfg: Any, run: Path) -> Path:
        return rundir.checkpoints_of(run, cfg.checkpoint_dir)

    assert checkpoint_dir(cfg, first) != checkpoint_dir(cfg, second)
    assert checkpoint_dir(cfg, first) == checkpoint_dir(cfg, first)  # stable: every worker finds it
    assert checkpoint_dir(cfg, first).parent == tmp_path / "shared"
    assert rundir.run_id(first) == (first / rundir.RUN_ID_FILE).read_text()


@pytest.mark.parametrize("shared", [None, ""])
def test_without_a_checkpoint_dir_checkpoints_stay_in_the_run(tmp_path: Path, shared: str | None) -> None:
    assert rundir.checkpoints_of(tmp_path, shared) == tmp_path / rundir.CHECKPOINT_DIR


_CLAIMER = r"""
import sys, time
import optuna
from cli_helpers import TINY_CONFIG
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.search.liveness import this_worker
from hyperopt_cli.search.workers import claim
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

run_dir, go_at = sys.argv[1], float(sys.argv[2])
path = run_dir + "/s.journal"
storage = JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
study = optuna.load_study(study_name="s", storage=storage)
cfg = config_from_dict({**TINY_CONFIG, "storage_url": "journal", "workers": 4})
(frozen,) = study.get_trials(deepcopy=False)
time.sleep(max(0.0, go_at - time.time()))
print("WON" if claim(study, frozen, this_worker(), cfg, heartbeats={}, run_dir=__import__("pathlib").Path(run_dir)) else "LOST")
"""


def test_local_workers_racing_for_one_dead_workers_trial_give_it_to_exactly_one(tmp_path: Path) -> None:
    """Four real processes claim the same orphaned journal trial at the same instant: one wins, without a settle wait."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = str(tmp_path / "s.journal")
    storage = JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    optuna.create_study(study_name="s", storage=storage).ask().set_user_attr(WORKER_ATTR, dead_worker().key)
    go_at = time.time() + 6.0  # after every child has imported optuna
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(tmp_path), str(go_at)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [child.communicate(timeout=120) for child in children]
    assert all(c.returncode == 0 for c in children), [err[-500:] for _, err in outcomes]
    assert sorted(out.strip() for out, _ in outcomes) == ["LOST", "LOST", "LOST", "WON"]
    (trial,) = optuna.load_study(study_name="s", storage=storage).get_trials(deepcopy=False)
    assert trial.user_attrs[WORKER_ATTR] != dead_worker().key


_ENQUEUER = r"""
import sys, time, types
from pathlib import Path
import optuna
from cli_helpers import TINY_CONFIG
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.run.groups import GroupRunner
from hyperopt_cli.search.storage import RunStorage

run_dir, go_at = Path(sys.argv[1]), float(sys.argv[2])
cfg = config_from_dict({**TINY_CONFIG, "storage_url": "journal", "workers": 4})
study = optuna.create_study(study_name="s", storage=RunStorage(cfg, run_dir).storage("learning_rate"),
                            load_if_exists=True)
runner = GroupRunner(cfg, run_dir, events=None, progress=None, on_progress=lambda: None, heartbeats=dict)
time.sleep(max(0.0, go_at - time.time()))
runner._enqueue_incumbent(types.SimpleNamespace(study=study), {"batch_size": 64})
"""


@pytest.mark.slow  # a full run
def test_local_workers_opening_a_group_at_once_enqueue_its_incumbent_once(tmp_path: Path) -> None:
    """Four real processes open the same fresh group at the same instant: one incumbent trial, not four."""
    go_at = time.time() + 6.0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _ENQUEUER, str(tmp_path), str(go_at)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [child.communicate(timeout=120) for child in children]
    assert all(c.returncode == 0 for c in children), [err[-500:] for _, err in outcomes]
    cfg = config_from_dict({**TINY_CONFIG, "storage_url": "journal", "workers": 4})
    from hyperopt_cli.search.storage import RunStorage

    study = optuna.load_study(study_name="s", storage=RunStorage(cfg, tmp_path).storage("learning_rate"))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 1 and trials[0].user_attrs.get(INCUMBENT_ATTR) is True
