"""The model group (issue 31): hidden size, layers and window searched like any other group."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from cli_helpers import TINY_CONFIG, tiny
from hyperopt_cli.config import (
    GROUPS,
    DataConfig,
    LabelsConfig,
    OptimizationConfig,
    config_from_dict,
    default_search_space,
    dump_config,
    load_config,
    model_for,
    sample_window,
)
from hyperopt_cli.core.errors import ConfigError, DataError
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.run import rundir
from hyperopt_cli.run.events import NullSink
from hyperopt_cli.run.records import load_run_config
from hyperopt_cli.search import group as group_module
from hyperopt_cli.search.group import GroupSearch, TimeBudget
from hyperopt_cli.search.incumbent import current_values, incumbent_params
from hyperopt_cli.search.space import FINE_TUNE, study_space
from hyperopt_cli.search.workers import WORKER_ATTR

MODEL = ("hidden_size", "num_layers", "window")

# ----------------------------------------------------------------- the group and its ranges


def test_the_model_group_searches_the_architecture_and_the_window_after_the_features() -> None:
    space = default_search_space()["model"]
    assert tuple(space) == MODEL and GROUPS[:3] == ("features", "model", "learning_rate")
    assert space["hidden_size"].choices == [16, 32, 64, 128] and space["window"].choices == [16, 32, 64]
    assert (space["num_layers"].type, space["num_layers"].low, space["num_layers"].high) == ("int", 1.0, 3.0)


def test_the_incumbent_of_the_model_group_is_the_current_architecture_and_window() -> None:
    cfg = OptimizationConfig()
    current = current_values(cfg, {}, list(MODEL))
    assert current == {"hidden_size": 64, "num_layers": 2, "window": 32}
    assert incumbent_params(cfg.search_space["model"], current) == current  # the defaults lie inside the ranges
    later = current_values(cfg, {"hidden_size": 16, "window": 64}, list(MODEL))  # fixed params win
    assert later == {"hidden_size": 16, "num_layers": 2, "window": 64}


def test_a_trials_params_give_its_architecture_and_window() -> None:
    cfg = tiny()
    model_cfg, window = model_for(cfg, {"hidden_size": 8, "num_layers": 2, "window": 16, "learning_rate": 0.01})
    assert (model_cfg.hidden_size, model_cfg.num_layers, window) == (8, 2, 16)
    assert model_for(cfg, {}) == (cfg.model, cfg.data.window)


def test_model_ranges_must_propose_whole_numbers_their_fields_accept() -> None:
    with pytest.raises(ConfigError, match=r"search_space.model.window: every value must be a whole number >= 2, got 1"):
        load_config(None, ["search_space.model.window.choices=[1,8]"])
    with pytest.raises(ConfigError, match="search_space.model.hidden_size must be of type int or categorical"):
        load_config(
            None,
            [
                "search_space.model.hidden_size.type=float",
                "search_space.model.hidden_size.low=1",
                "search_space.model.hidden_size.high=8",
            ],
        )
    with pytest.raises(ConfigError, match="search_space.model.num_layers: every value must be a whole number"):
        load_config(None, ["search_space.model.num_layers.high=100"])


# ----------------------------------------------------------------- windows and samples


def test_the_samples_are_the_bars_the_longest_candidate_window_can_score() -> None:
    assert sample_window(OptimizationConfig()) == 64
    assert sample_window(load_config(None, ["data.window=100"])) == 100  # the configured window is a candidate too
    assert sample_window(tiny()) == 16


def test_every_window_trains_and_scores_the_same_samples() -> None:
    """The rule that makes the plain objective comparable across windows (docs/decisions.md, issue 31)."""
    cfg = tiny("selection_folds=2")
    preparer = DataPreparer.for_run(synthetic_ohlcv(1500, seed=3), cfg)
    short, long = (preparer.prepare_folds(LabelsConfig(), 2, None, w) for w in (8, 16))
    assert len(short) == len(long) == 2
    for a, b in zip(short, long):
        for name in ("train", "val", "test"):
            sa, sb = getattr(a, name), getattr(b, name)
            np.testing.assert_array_equal(sa.end_rows, sb.end_rows)
            np.testing.assert_array_equal(sa.labels, sb.labels)
            assert (sa.window, sb.window) == (8, 16)
            assert sb.windows(np.arange(3)).shape == (3, 16, a.n_features)
            assert int(sb.end_rows.min()) - 15 >= preparer.warmup_bars  # every window has its history
    # without the rule each window has its own samples, so its validation units differ
    apart = [DataPreparer(synthetic_ohlcv(1500, seed=3), DataConfig(window=w)).prepare(LabelsConfig()) for w in (8, 16)]
    assert not np.array_equal(apart[0].val.end_rows, apart[1].val.end_rows)


def test_a_window_longer_than_the_samples_allow_is_refused() -> None:
    preparer = DataPreparer(synthetic_ohlcv(1500, seed=3), DataConfig(window=8))
    with pytest.raises(DataError, match="window 16 is outside 1..8"):
        preparer.prepare(LabelsConfig(), None, 16)


# ----------------------------------------------------------------- a trial


def test_a_model_trial_trains_its_own_architecture_on_its_own_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny("selection_folds=2")
    seen: list[tuple[int, int, int, int]] = []
    real = group_module.train_model

    def spy(data: Any, trainer_cfg: Any, model_cfg: Any, **kwargs: Any) -> Any:
        result = real(data, trainer_cfg, model_cfg, **kwargs)
        seen.append((data.train.window, data.val.window, result.model.lstm.hidden_size, result.model.lstm.num_layers))
        return result

    monkeypatch.setattr(group_module, "train_model", spy)
    preparer = DataPreparer.for_run(synthetic_ohlcv(1500, seed=3), cfg)
    search = GroupSearch(
        cfg,
        tmp_path,
        "model",
        dict(cfg.search_space["model"]),
        {},
        preparer,
        NullSink(),
        threading.Event(),
        TimeBudget(1.0, 0.0),
        on_progress=lambda: None,
        checkpoints=tmp_path / "checkpoints",
    )
    search.study.enqueue_trial({"hidden_size": 8, "num_layers": 2, "window": 16})
    asked = search.study.ask()
    asked.set_user_attr(WORKER_ATTR, search.me.key)  # as the group's loop does: this worker's trial
    search._run_trial(asked, reported=set(), resumed=False)
    (trial,) = search.study.get_trials(deepcopy=False)
    assert trial.state == TrialState.COMPLETE
    assert seen == [(16, 16, 8, 2), (16, 16, 8, 2)]  # both folds


# ----------------------------------------------------------------- the final model


@pytest.fixture(scope="module")
def model_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A model-group run whose only candidate (8 units, 2 layers, window 16) is not the configured one."""
    from model_helpers import finished_run

    return finished_run(
        tmp_path_factory.mktemp("model_group"),
        "mode=group",
        "target_group=model",
        "search_space.model.hidden_size.choices=[8]",
        "search_space.model.num_layers.low=2",
        "search_space.model.window.choices=[16]",
        "run_check=false",
        "pbo_keep_level=null",
    )


CHOSEN = {"hidden_size": 8, "num_layers": 2, "window": 16}


@pytest.mark.slow  # a whole search with its final evaluation (~12 s)
def test_the_final_model_has_the_chosen_architecture_and_window(model_run: tuple[Path, Path, dict[str, Any]]) -> None:
    from hyperopt_cli.model.artifact import load_model, read_manifest

    run, _, results = model_run
    assert results["fixed_params"] == CHOSEN and results["resolved_params"]["model"] == CHOSEN
    manifest = read_manifest(run / "model")
    assert (manifest["architecture"]["hidden_size"], manifest["architecture"]["num_layers"]) == (8, 2)
    assert manifest["features"]["window"] == 16
    lstm = load_model(run / "model").members[0].lstm
    assert (lstm.hidden_size, lstm.num_layers) == (8, 2)


@pytest.mark.slow  # a whole search with its final evaluation (~12 s)
def test_predict_with_the_chosen_window_reproduces_the_scored_predictions(
    model_run: tuple[Path, Path, dict[str, Any]],
) -> None:
    from hyperopt_cli.model.predict import predict_file

    run, data, results = model_run
    frame = predict_file(run, data).frame.set_index("timestamp")
    block = results["walk_forward"]["blocks"][-1]
    stamps = pd.date_range(block["first_timestamp"], block["last_timestamp"], freq="1h")
    got = frame.loc[frame.index.isin(stamps), "signal"].map({"SELL": 0, "HOLD": 1, "BUY": 2}).tolist()
    assert got == block["predictions"]["model"]


@pytest.mark.slow  # a whole search with its final evaluation (~12 s)
def test_export_writes_the_chosen_architecture_and_window(
    model_run: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    from hyperopt_cli.run.export import export_config

    run, _, _ = model_run
    export_config(run, tmp_path / "best.yaml")
    cfg = load_config(tmp_path / "best.yaml")
    assert (cfg.model.hidden_size, cfg.model.num_layers, cfg.data.window) == (8, 2, 16)


@pytest.mark.slow  # a whole search with its final evaluation (~12 s)
def test_refit_trains_the_chosen_architecture_on_the_chosen_window(
    model_run: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    from hyperopt_cli.model.artifact import load_model, read_manifest
    from hyperopt_cli.run.export import refit

    run, _, _ = model_run
    out = refit(run, tmp_path / "refit")
    manifest = read_manifest(out)
    assert (manifest["architecture"]["hidden_size"], manifest["architecture"]["num_layers"]) == (8, 2)
    assert manifest["features"]["window"] == 16 and load_model(out).members[0].lstm.hidden_size == 8


# ----------------------------------------------------------------- runs started before the group existed


def _legacy_run(tmp_path: Path, *overrides: str) -> Path:
    """A run folder whose config.yaml an older version wrote: its search space has no model group."""
    cfg = tiny(*overrides)
    raw = yaml.safe_load(dump_config(cfg))
    del raw["search_space"]["model"]
    (tmp_path / rundir.CONFIG_FILE).write_text(yaml.safe_dump(raw, sort_keys=False))
    return tmp_path


def test_an_old_run_resumes_without_the_model_group(tmp_path: Path) -> None:
    cfg = load_run_config(_legacy_run(tmp_path, "mode=full"))
    assert "model" not in cfg.groups_to_run() and cfg.groups_to_run() == tuple(g for g in GROUPS if g != "model")
    assert sample_window(cfg) == cfg.data.window  # its samples are the ones it was tuned on
    assert not set(MODEL) & set(study_space(cfg, FINE_TUNE))
    assert "model" in config_from_dict(TINY_CONFIG).groups_to_run()  # a new run searches it


@pytest.mark.slow
def test_an_old_full_run_resumed_runs_every_group_but_the_model_group(tmp_path: Path) -> None:
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    run = _legacy_run(tmp_path, "mode=full", "max_trials_per_group=1")
    results = HyperparameterOptimizer.from_run_dir(run).optimize()  # config.yaml there, no state yet: resumed as frozen
    assert list(results["group_results"]) == [g for g in GROUPS if g != "model"]
    assert not list(run.glob("*_model.*"))
