from __future__ import annotations

from pathlib import Path

import pytest

from hyperopt_cli.config import (
    GROUPS,
    OptimizationConfig,
    config_hash,
    load_config,
    with_params,
)
from hyperopt_cli.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_default_yaml_matches_builtin_defaults() -> None:
    assert config_hash(load_config(ROOT / "configs" / "default.yaml")) == config_hash(OptimizationConfig())


def test_quick_yaml_is_valid_and_small() -> None:
    cfg = load_config(ROOT / "configs" / "quick.yaml")
    assert cfg.mode == "quick"
    assert cfg.groups_to_run() == ("learning_rate",)


def test_original_top_level_defaults() -> None:
    cfg = OptimizationConfig()
    assert (cfg.study_name, cfg.epochs_per_trial, cfg.max_trials_per_group) == ("ml_hyperopt", 4, 15)
    assert (cfg.max_total_time_hours, cfg.n_startup_trials, cfg.n_warmup_steps) == (72.0, 3, 2)
    # Selection defaults follow the measurement (docs/selection.md): cross-entropy over purged folds.
    assert (cfg.pruning_percentile, cfg.optimization_direction, cfg.primary_metric) == (50.0, "auto", "val_loss")
    assert (cfg.selection_folds, cfg.incumbent_margin_se) == (3, 1.0)
    assert (cfg.convergence_patience, cfg.convergence_threshold, cfg.seed) == (5, 0.005, 42)
    t = cfg.trainer
    assert t.use_class_weights and t.use_focal_loss and t.use_augmentation
    assert (t.focal_gamma, t.label_smoothing) == (2.0, 0.1)
    assert list(cfg.search_space) == list(GROUPS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("labels:\n  horizonn: 3\n", "unknown config key 'labels.horizonn'; did you mean 'labels.horizon'?"),
        ("epochs_per_trail: 3\n", "unknown config key 'epochs_per_trail'; did you mean 'epochs_per_trial'?"),
        ("labels:\n  horizon: 0\n", "labels.horizon must be >= 1, got 0"),
        ("trainer:\n  dropout: 1.5\n", "trainer.dropout must be in [0.0, 1.0), got 1.5"),
        ("trainer:\n  use_focal_loss: maybe\n", "trainer.use_focal_loss must be a boolean, got 'maybe'"),
        ("epochs_per_trial: 2.5\n", "epochs_per_trial must be an integer, got 2.5"),
        (
            "primary_metric: auc\n",
            "primary_metric must be one of 'val_f1', 'val_precision', 'val_recall', "
            "'val_accuracy', 'val_loss', got 'auc'",
        ),
        ("mode: group\n", "mode 'group' needs target_group"),
        ("mode: group\ntarget_group: regularisation\n", "did you mean 'regularization'?"),
        ("data:\n  train_fraction: 0.8\n", "must sum to 1"),
        (
            "search_space:\n  learning_rate:\n    learning_rate: {low: 0.1, high: 0.01}\n",
            "search_space.learning_rate.learning_rate.low must be <= high",
        ),
        ("search_space:\n  scheduler:\n    T_0: {low: 1}\n", "unknown config key 'search_space.scheduler.T_0'"),
        ("- a\n- b\n", "must hold a mapping of config keys"),
        ("labels: [\n", "is not valid YAML at line"),
    ],
)
def test_config_errors_name_key_value_and_rule(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "labels:\n  horizon: 0\n")
    with pytest.raises(ConfigError, match=r"labels.horizon must be >= 1, got 0 \(.*cfg.yaml\)"):
        load_config(path)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="config file not found: /nope.yaml"):
        load_config(Path("/nope.yaml"))


def test_overrides_convert_to_field_types() -> None:
    cfg = load_config(
        None,
        [
            "labels.horizon=24",
            "trainer.learning_rate=1e-3",
            "trainer.use_focal_loss=false",
            "data.path=null",
            "search_space.learning_rate.learning_rate.low=1e-5",
            "max_total_time_hours=2",
        ],
    )
    assert cfg.labels.horizon == 24
    assert cfg.trainer.learning_rate == pytest.approx(1e-3)
    assert cfg.trainer.use_focal_loss is False
    assert cfg.search_space["learning_rate"]["learning_rate"].low == pytest.approx(1e-5)
    assert cfg.search_space["learning_rate"]["learning_rate"].high == pytest.approx(1e-2)  # rest kept
    assert isinstance(cfg.max_total_time_hours, float)


@pytest.mark.parametrize("bad", ["labels.horizon", "=3", "labels..horizon=3", "labels.horizon.x=3"])
def test_bad_override_syntax(bad: str) -> None:
    with pytest.raises(ConfigError):
        load_config(None, [bad])


def test_with_params_splits_trainer_and_label_params() -> None:
    trainer, labels = with_params(OptimizationConfig(), {"learning_rate": 0.01, "take_profit": 3.0})
    assert trainer.learning_rate == 0.01 and labels.take_profit == 3.0
    with pytest.raises(ConfigError, match="unknown trial parameters: bogus"):
        with_params(OptimizationConfig(), {"bogus": 1})


def test_hash_ignores_formatting(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, "seed: 7\nlabels: {horizon: 12}\n"))
    b = load_config(None, ["seed=7"])
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(OptimizationConfig())


def test_mlflow_is_refused_with_several_workers() -> None:
    with pytest.raises(ConfigError, match="use_mlflow works with one process per run"):
        load_config(None, ["use_mlflow=true", "workers=2", "storage_url=journal"])


def test_retired_verbose_key_still_loads_with_a_deprecation_warning(tmp_path: Path) -> None:
    # config.yaml frozen in run dirs made before `verbose` was dropped holds `verbose: true`
    with pytest.warns(DeprecationWarning, match="config key 'verbose' is no longer used and is ignored"):
        cfg = load_config(write(tmp_path, "verbose: true\nseed: 7\n"))
    assert cfg.seed == 7
    assert not hasattr(cfg, "verbose")
    assert config_hash(cfg) == config_hash(load_config(None, ["seed=7"]))


def test_verbose_is_not_a_config_key_any_more() -> None:
    from hyperopt_cli.config import config_to_dict

    assert "verbose" not in config_to_dict(OptimizationConfig())


def test_groups_are_the_default_search_space_in_order() -> None:
    from hyperopt_cli.config import LABEL_PARAMS, LabelsConfig, default_search_space

    assert GROUPS == tuple(default_search_space()) == tuple(OptimizationConfig().search_space)
    assert GROUPS[:3] == ("features", "model", "learning_rate") and GROUPS[-1] == "triple_barrier"
    assert set(LABEL_PARAMS) == set(default_search_space()["triple_barrier"])
    assert set(LABEL_PARAMS) <= set(LabelsConfig.__dataclass_fields__)
