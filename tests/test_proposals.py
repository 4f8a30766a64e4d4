"""A trial's proposal depends on its number and the finished trials only (issue 14, items 9 and 12)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from _tiny_data import tiny_data
from cli_helpers import TINY_CONFIG
from hyperopt_cli.config import ParamSpec, config_from_dict
from hyperopt_cli.run.events import NullSink
from hyperopt_cli.search import group as group_module
from hyperopt_cli.search.group import GroupSearch, TimeBudget
from hyperopt_cli.search.outcome import TrialOutcome
from hyperopt_cli.search.sampler import make_sampler
from hyperopt_cli.search.space import sample_params, suggest
from hyperopt_cli.search.storage import trial_handle

SPACE = {
    "learning_rate": ParamSpec(type="float", low=1e-4, high=1e-1, log=True),
    "dropout": ParamSpec(type="float", low=0.0, high=0.5),
    "batch_size": ParamSpec(type="categorical", choices=[32, 64, 128]),
}


def cfg(**overrides: Any) -> Any:
    return config_from_dict({**TINY_CONFIG, "n_startup_trials": 2, **overrides})


def straight_proposals(n: int) -> list[dict[str, Any]]:
    study = optuna.create_study(direction="maximize")
    out = []
    for number in range(n):
        trial = study.ask()
        study.sampler = make_sampler(cfg(), "g", number)
        params = sample_params(trial, SPACE)
        study.tell(trial, params["learning_rate"] * 10 + params["dropout"])
        out.append(params)
    return out


@pytest.mark.parametrize("number", [0, 1, 3])  # random startup trials (0, 1) and a TPE one (3)
@pytest.mark.parametrize("stored", [0, 1, 2])  # parameters written before the kill
def test_resumed_trial_gets_the_straight_proposal(number: int, stored: int) -> None:
    expected = straight_proposals(number + 1)
    study = optuna.create_study(direction="maximize")
    for earlier in expected[:number]:
        study.enqueue_trial(earlier)
        trial = study.ask()
        sample_params(trial, SPACE)
        study.tell(trial, earlier["learning_rate"] * 10 + earlier["dropout"])
    trial = study.ask()
    study.sampler = make_sampler(cfg(), "g", number)
    for name in list(SPACE)[:stored]:  # the process died after `stored` parameter writes
        suggest(trial, name, SPACE[name])
    # A new process: a fresh sampler and a fresh handle on the RUNNING trial.
    study.sampler = make_sampler(cfg(), "g", number)
    resumed = trial_handle(study, study.get_trials(deepcopy=False)[number])
    assert sample_params(resumed, SPACE) == expected[number]


class _Preparer:
    def prepare(self, labels_cfg: Any, families: Any = None, window: Any = None) -> Any:
        return tiny_data()

    def prepare_folds(self, labels_cfg: Any, n_folds: int, families: Any = None, window: Any = None) -> Any:
        return [tiny_data()]


def _search(run_dir: Path, config: Any) -> GroupSearch:
    return GroupSearch(
        config,
        run_dir,
        "learning_rate",
        SPACE,
        {},
        _Preparer(),
        NullSink(),
        threading.Event(),
        TimeBudget(1.0, 0.0),
        on_progress=lambda: None,
        checkpoints=run_dir / "checkpoints",
    )


def test_two_workers_asking_at_once_propose_different_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both read the same trial count before asking; their proposals must still differ."""
    monkeypatch.setattr(GroupSearch, "_train", lambda self, *args: TrialOutcome(TrialState.COMPLETE, 0.5))
    config = cfg(n_startup_trials=5)
    first, second = _search(tmp_path, config), _search(tmp_path, config)
    for search in (first, second):  # what each would do after reading "0 trials so far"
        search.study.sampler = make_sampler(config, "learning_rate", 0)
    asked = [first.study.ask(), second.study.ask()]
    first._run_trial(asked[0], reported=set(), resumed=False)
    second._run_trial(asked[1], reported=set(), resumed=False)
    params = [t.params for t in first.study.get_trials(deepcopy=False)]
    assert len(params) == 2 and params[0] != params[1]


def test_make_sampler_is_still_importable_from_group() -> None:
    assert group_module.make_sampler is make_sampler  # bench_search_quality and bench_overhead use it there
