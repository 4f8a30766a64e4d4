"""Feature families: config, data preparation, the `features` search group, and the model's recorded inputs (issue 26)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from optuna.trial import TrialState

from cli_helpers import TINY_CONFIG
from hyperopt_cli.config import (
    FEATURE_PARAMS,
    GROUPS,
    DataConfig,
    LabelsConfig,
    config_from_dict,
    families_for,
    family_params,
    load_config,
    with_params,
)
from hyperopt_cli.core.errors import ConfigError, NoFeaturesError
from hyperopt_cli.data.features import FAMILIES, FAMILY_NAMES, compute_features, family_columns, feature_names
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.data.summary import feature_family_rows
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.run.events import NullSink
from hyperopt_cli.search.group import GroupSearch, TimeBudget
from hyperopt_cli.search.incumbent import current_values, incumbent_params
from hyperopt_cli.search.space import study_space

LABELS = LabelsConfig()


@pytest.fixture(scope="module")
def preparer() -> DataPreparer:
    return DataPreparer(synthetic_ohlcv(1500, seed=3), DataConfig(window=8))


def daily_bars(n: int = 600, constant_volume: bool = False) -> pd.DataFrame:
    frame = synthetic_ohlcv(n, seed=5).copy()
    frame.index = pd.date_range("2015-01-01", periods=n, freq="1D", tz="UTC", name=frame.index.name)
    if constant_volume:
        frame["volume"] = 1000.0
    return frame


# ----------------------------------------------------------------- the families


def test_every_feature_column_is_in_exactly_one_family() -> None:
    columns = [c for cols in FAMILIES.values() for c in cols]
    assert sorted(columns) == sorted(feature_names()) and len(columns) == len(set(columns))
    assert FAMILY_NAMES == ("returns", "volatility", "candle", "volume", "oscillators", "calendar")
    assert FAMILIES["returns"] == ("ret_1", "ret_2", "ret_4", "ret_8", "ret_16")
    assert FAMILIES["calendar"] == ("hour_sin", "hour_cos", "dow_sin", "dow_cos")


def test_family_columns_keep_the_feature_order_whatever_the_family_order() -> None:
    assert (
        family_columns(["candle", "returns"])
        == family_columns(["returns", "candle"])
        == ("ret_1", "ret_2", "ret_4", "ret_8", "ret_16", "range", "body", "upper_wick", "lower_wick")
    )


# ----------------------------------------------------------------- config


def test_set_features_families_parses_a_yaml_list() -> None:
    cfg = load_config(None, ["features.families=[returns,candle]"])
    assert cfg.features.families == ["returns", "candle"]
    assert families_for(cfg, {}) == ("returns", "candle")


def test_default_families_are_all_six_and_the_yaml_agrees() -> None:
    assert load_config(None).features.families == list(FAMILY_NAMES)
    assert load_config(Path("configs/default.yaml")).features.families == load_config(None).features.families


def test_unknown_family_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError,
        match="unknown family 'candles'; valid families: returns, volatility, candle, volume, oscillators, calendar",
    ):
        load_config(None, ["features.families=[returns,candles]"])


def test_empty_family_list_is_refused() -> None:
    with pytest.raises(ConfigError, match="features.families must be a non-empty list"):
        load_config(None, ["features.families=[]"])


def test_trial_params_switch_families_over_the_config() -> None:
    cfg = load_config(None, ["features.families=[returns,candle]"])
    assert families_for(cfg, {"use_candle": False, "use_calendar": True}) == ("returns", "calendar")
    with pytest.raises(NoFeaturesError, match="every feature family is switched off"):
        families_for(cfg, {f"use_{f}": False for f in FAMILY_NAMES})


def test_with_params_accepts_the_feature_switches() -> None:
    trainer, labels = with_params(load_config(None), {"use_returns": False, "learning_rate": 0.01})
    assert trainer.learning_rate == 0.01 and labels == LabelsConfig()


# ----------------------------------------------------------------- search space


def test_features_group_runs_first_with_one_switch_per_family() -> None:
    cfg = load_config(None)
    assert GROUPS[0] == "features" and cfg.groups_to_run()[0] == "features"
    assert FEATURE_PARAMS == tuple(f"use_{f}" for f in FAMILY_NAMES)
    assert all(spec.type == "bool" for spec in cfg.search_space["features"].values())
    assert load_config(None, ["mode=quick"]).groups_to_run() == ("learning_rate",)


def test_fine_tune_searches_the_feature_switches() -> None:
    cfg = load_config(None, ["mode=fine_tune", "fine_tune_from=x"])
    assert set(FEATURE_PARAMS) <= set(study_space(cfg, "fine_tune", {}))


def test_incumbent_of_the_features_group_is_the_configured_families() -> None:
    cfg = load_config(None, ["features.families=[returns,candle]"])
    current = current_values(cfg, {}, list(FEATURE_PARAMS))
    assert current == family_params(["returns", "candle"])
    assert incumbent_params(cfg.search_space["features"], current) == {
        "use_returns": True,
        "use_volatility": False,
        "use_candle": True,
        "use_volume": False,
        "use_oscillators": False,
        "use_calendar": False,
    }
    # a later group's fixed params (the features group's best) win over the config
    assert current_values(cfg, {"use_volume": True}, ["use_volume"]) == {"use_volume": True}


# ----------------------------------------------------------------- preparation


def test_prepare_selects_the_families_columns_bit_for_bit(preparer: DataPreparer) -> None:
    every = preparer.prepare(LABELS)
    some = preparer.prepare(LABELS, ("candle", "returns"))
    assert some.feature_names == family_columns(["returns", "candle"]) and some.families == ("returns", "candle")
    cols = [every.feature_names.index(n) for n in some.feature_names]
    assert np.array_equal(some.train.features, every.train.features[:, cols])
    for name in ("train", "val", "test"):  # the same samples whatever the families
        assert np.array_equal(getattr(some, name).end_rows, getattr(every, name).end_rows)
    assert some.info["feature_families"] == {"returns": list(FAMILIES["returns"]), "candle": list(FAMILIES["candle"])}


def test_prepare_caches_by_labels_and_families(preparer: DataPreparer) -> None:
    assert preparer.prepare(LABELS, ("returns",)) is preparer.prepare(LABELS, ["returns"])
    assert preparer.prepare(LABELS, ("returns",)) is not preparer.prepare(LABELS, ("candle",))
    assert preparer.prepare(LABELS) is preparer.prepare(LABELS, FAMILY_NAMES)


def test_constant_columns_are_dropped_per_column_with_a_note(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hyperopt_cli"):
        prep = DataPreparer(daily_bars(), DataConfig(window=8))
    data = prep.prepare(LABELS)
    assert "hour_sin" not in data.feature_names and "hour_cos" not in data.feature_names
    assert "dow_sin" in data.feature_names and "calendar" in data.families  # the weekday varies on daily bars
    note = "feature family 'calendar': hour_sin, hour_cos constant on this data; dropped from the family"
    assert note in data.info["warnings"] and note in caplog.text
    assert data.n_features == len(feature_names()) - 2


def test_a_family_constant_on_the_data_is_dropped_and_alone_leaves_no_input() -> None:
    prep = DataPreparer(daily_bars(constant_volume=True), DataConfig(window=8))
    data = prep.prepare(LABELS)
    assert "volume" not in data.families and "volume_z" not in data.feature_names
    assert any(
        "feature family 'volume': volume_z constant on this data; the family is dropped" in w
        for w in data.info["warnings"]
    )
    with pytest.raises(NoFeaturesError, match="the feature families volume are constant on this data"):
        prep.prepare(LABELS, ("volume",))


def test_data_summary_rows_show_every_family(preparer: DataPreparer) -> None:
    rows = feature_family_rows(preparer.prepare(LABELS, ("returns",)).info)
    assert [r["family"] for r in rows] == list(FAMILY_NAMES)
    assert rows[0] == {"family": "returns", "columns": list(FAMILIES["returns"]), "used": True, "dropped": []}
    assert not rows[1]["used"]
    daily = feature_family_rows(DataPreparer(daily_bars(), DataConfig(window=8)).prepare(LABELS).info)
    assert daily[-1]["dropped"] == ["hour_sin", "hour_cos"] and daily[-1]["used"]


# ----------------------------------------------------------------- the search


class _Preparer:
    def __init__(self) -> None:
        self.inner = DataPreparer(synthetic_ohlcv(1500, seed=3), DataConfig(window=8))
        self.asked: list[Any] = []

    def prepare(self, labels_cfg: Any, families: Any = None, window: Any = None) -> Any:
        self.asked.append(families)
        return self.inner.prepare(labels_cfg, families, window)

    def prepare_folds(self, labels_cfg: Any, n_folds: int, families: Any = None, window: Any = None) -> Any:
        self.asked.append(families)
        return self.inner.prepare_folds(labels_cfg, n_folds, families, window)


def _features_search(run_dir: Path, preparer: _Preparer, monkeypatch: pytest.MonkeyPatch) -> tuple[GroupSearch, list]:
    cfg = config_from_dict({**TINY_CONFIG, "data": {"window": 8}})
    trained: list[Any] = []
    from hyperopt_cli.search.outcome import TrialOutcome

    def fake_train(self: GroupSearch, trial: Any, folds: Any, *args: Any) -> TrialOutcome:
        trained.append(folds[-1].feature_names)
        return TrialOutcome(TrialState.COMPLETE, 0.5)

    monkeypatch.setattr(GroupSearch, "_train", fake_train)
    search = GroupSearch(
        cfg,
        run_dir,
        "features",
        dict(cfg.search_space["features"]),
        {},
        preparer,
        NullSink(),
        threading.Event(),
        TimeBudget(1.0, 0.0),
        on_progress=lambda: None,
        checkpoints=run_dir / "checkpoints",
    )
    return search, trained


def test_a_trial_reaches_the_data_with_its_families(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preparer = _Preparer()
    search, trained = _features_search(tmp_path, preparer, monkeypatch)
    chosen = {**family_params(["candle", "calendar"])}
    search.study.enqueue_trial(chosen)
    search._run_trial(search.study.ask(), reported=set(), resumed=False)
    assert preparer.asked == [("candle", "calendar")]
    assert trained == [family_columns(["candle", "calendar"])]


def test_a_trial_with_every_family_off_fails_untrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    search, trained = _features_search(tmp_path, _Preparer(), monkeypatch)
    search.study.enqueue_trial(family_params([]))
    search._run_trial(search.study.ask(), reported=set(), resumed=False)
    (trial,) = search.study.get_trials(deepcopy=False)
    assert trial.state == TrialState.FAIL and trained == []
    assert "every feature family is switched off" in trial.user_attrs["fail_reason"]


# ----------------------------------------------------------------- the model's inputs


@pytest.fixture(scope="module")
def families_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    from model_helpers import finished_run

    return finished_run(tmp_path_factory.mktemp("families"), "features.families=[returns,candle]")


def test_manifest_lists_the_families_and_columns(families_run: tuple[Path, Path, dict[str, Any]]) -> None:
    from hyperopt_cli.model.artifact import read_manifest

    run, _, _ = families_run
    manifest = read_manifest(run / "model")
    assert manifest["features"]["families"] == ["returns", "candle"]
    assert manifest["features"]["names"] == list(family_columns(["returns", "candle"]))
    assert manifest["architecture"]["n_features"] == 9 and len(manifest["scaler"]["mean"]) == 9


def test_predict_builds_exactly_the_models_columns(families_run: tuple[Path, Path, dict[str, Any]]) -> None:
    from hyperopt_cli.model.predict import predict_file

    run, data, results = families_run
    prediction = predict_file(run, data)
    assert len(prediction.frame) > 0
    # the saved model reproduces the last walk-forward block's scored predictions
    block = results["walk_forward"]["blocks"][-1]
    frame = prediction.frame.set_index("timestamp")
    stamps = pd.date_range(block["first_timestamp"], block["last_timestamp"], freq="1h")
    got = frame.loc[frame.index.isin(stamps), "signal"].map({"SELL": 0, "HOLD": 1, "BUY": 2}).tolist()
    assert got == block["predictions"]["model"]


def test_export_config_carries_the_families(families_run: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    from hyperopt_cli.run.export import export_config

    run, _, _ = families_run
    out = tmp_path / "best.yaml"
    export_config(run, out)
    assert load_config(out).features.families == ["returns", "candle"]


def test_export_config_turns_switches_into_families(
    tmp_path: Path, families_run: tuple[Path, Path, dict[str, Any]]
) -> None:
    import json

    from hyperopt_cli.run import rundir
    from hyperopt_cli.run.export import exported_config

    run, _, _ = families_run
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / rundir.CONFIG_FILE).write_bytes((run / rundir.CONFIG_FILE).read_bytes())
    results = json.loads((run / rundir.RESULTS_FILE).read_text())
    results["fixed_params"] = {**results["fixed_params"], "use_volume": True, "use_returns": False}
    (copy / rundir.RESULTS_FILE).write_text(json.dumps(results))
    raw, _, _ = exported_config(copy)
    assert raw["features"]["families"] == ["candle", "volume"]


def test_results_hold_the_feature_importance_of_the_models_families(
    families_run: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, _, results = families_run
    importance = results["feature_importance"]
    assert set(importance["families"]) == {"returns", "candle"}
    assert importance["block_samples"] == len(results["walk_forward"]["blocks"][-1]["predictions"]["model"])


def test_report_shows_the_feature_importance_table(
    families_run: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    from hyperopt_cli.report.page import write_report

    run, _, _ = families_run
    html = write_report(run, tmp_path / "report").html.read_text()
    assert 'id="feature-importance"' in html and "<td>returns</td>" in html and "cross-entropy rise" in html


def test_compute_features_is_unchanged_by_families() -> None:
    raw, names = compute_features(synthetic_ohlcv(300, seed=1))
    assert names == feature_names() and raw.shape == (300, len(names))


def test_start_refuses_families_that_are_constant_on_the_data(tmp_path: Path) -> None:
    import json

    from cli_helpers import hyperopt

    bars = tmp_path / "daily.csv"
    frame = daily_bars(constant_volume=True)
    frame.index.name = "timestamp"
    frame.to_csv(bars)
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({**TINY_CONFIG, "data": {"window": 8, "path": str(bars)}}))
    result = hyperopt(
        "start", "--config", config, "--run-dir", tmp_path / "run", "--set", "features.families=[volume]", cwd=tmp_path
    )
    assert result.returncode == 4, result.stderr
    *notes, error = result.stderr.strip().splitlines()
    assert error.startswith("Error: the feature families volume are constant on this data: no input column is left")
    assert "feature family 'volume': volume_z constant on this data; the family is dropped" in notes


def test_data_summary_lines_name_used_and_dropped_columns() -> None:
    from hyperopt_cli.data.summary import feature_family_lines

    lines = feature_family_lines(DataPreparer(daily_bars(), DataConfig(window=8)).prepare(LABELS, ("calendar",)).info)
    assert lines[0] == "  returns: ret_1, ret_2, ret_4, ret_8, ret_16 (not used)"
    assert lines[-1] == "  calendar: hour_sin, hour_cos, dow_sin, dow_cos (used; constant, dropped: hour_sin, hour_cos)"
