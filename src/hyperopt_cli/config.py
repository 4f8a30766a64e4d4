"""Typed, validated configuration: OptimizationConfig and its sections, loaded from YAML.

Every field owns its default and its rule. Loading is strict: an unknown key is an error
naming the closest valid key, and every value is type- and range-checked with a message
that names the key, the value and the rule.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import importlib.util
import json
import math
import types
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hyperopt_cli.core import storage_kind
from hyperopt_cli.core.choices import DEFAULT_FAMILIES, FAMILY_NAMES, SCALINGS
from hyperopt_cli.core.errors import ConfigError, NoFeaturesError
from hyperopt_cli.core.quote import clipped, shown
from hyperopt_cli.core.yamlfile import MAX_CONFIG_BYTES, parse_yaml

MODES: tuple[str, ...] = ("full", "quick", "group", "fine_tune")
METRICS: tuple[str, ...] = ("val_f1", "val_precision", "val_recall", "val_accuracy", "val_loss")
# Top-level keys that did nothing and were removed; old files holding them still load.
RETIRED_KEYS: tuple[str, ...] = ("verbose",)

Check = tuple[Callable[[Any], bool], str]


def _field(default: Any, check: Check | None = None, **kwargs: Any) -> Any:
    if isinstance(default, (dict, list)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"check": check}, **kwargs)
    return field(default=default, metadata={"check": check}, **kwargs)


def _ge(bound: float) -> Check:
    return (lambda v: v >= bound, f">= {bound}")


def _gt(bound: float) -> Check:
    return (lambda v: v > bound, f"> {bound}")


def _between(lo: float, hi: float, hi_open: bool = False) -> Check:
    if hi_open:
        return (lambda v: lo <= v < hi, f"in [{lo}, {hi})")
    return (lambda v: lo <= v <= hi, f"in [{lo}, {hi}]")


def _one_of(*choices: str) -> Check:
    return (lambda v: v in choices, "one of " + ", ".join(repr(c) for c in choices))


@dataclass
class SyntheticConfig:
    """The built-in synthetic OHLCV generator, used when `data.path` is null."""

    n_bars: int = _field(20_000, _between(100, 100_000_000))  # hourly bars to generate
    seed: int | None = _field(None)  # null: use the top-level `seed`
    start: str = _field("2020-01-01")  # timestamp of the first bar (UTC)
    freq: str = _field("1h")  # pandas frequency of the bars


@dataclass
class DataConfig:
    """Where the bars come from and how they become training windows."""

    # CSV/Parquet OHLCV file, folder or glob, or a list of them (each file one symbol); null: synthetic data
    path: str | list[str] | None = _field(None)
    timestamp_column: str | None = _field(None)  # null: auto-detect (time/date/datetime/index)
    timezone: str = _field("UTC")  # zone of naive timestamps; everything is converted to UTC
    window: int = _field(32, _ge(2))  # bars of history in one model input
    train_fraction: float = _field(0.70, _between(0.05, 0.95))  # chronological share of labelled bars
    val_fraction: float = _field(0.15, _between(0.02, 0.9))
    test_fraction: float = _field(0.15, _between(0.02, 0.9))
    embargo_bars: int = _field(0, _ge(0))  # extra bars dropped after each purge gap
    # several symbols: standardise each symbol on its own training rows, or all symbols with one mean/std
    scaling: str = _field("per_symbol", _one_of(*SCALINGS))
    synthetic: SyntheticConfig = _field(SyntheticConfig())

    def __post_init__(self) -> None:
        if isinstance(self.path, list) and len(self.path) == 1:
            self.path = self.path[0]  # a list of one is that one entry: same config, same hash, same run


@dataclass
class LabelsConfig:
    """Triple-barrier labels; take_profit, stop_loss and threshold are in units of vol."""

    horizon: int = _field(12, _ge(1))  # vertical barrier, in bars
    take_profit: float = _field(3.0, _gt(0))  # upper barrier: +take_profit * vol
    stop_loss: float = _field(3.0, _gt(0))  # lower barrier: -stop_loss * vol
    threshold: float = _field(1.5, _ge(0))  # vertical barrier: |return| > threshold * vol
    vol_span: int = _field(50, _ge(2))  # ewm span of the log-return volatility


@dataclass
class FeaturesConfig:
    """Which feature families the model sees; the `features` search group switches each one on or off."""

    # any of returns, volatility, candle, volume, oscillators, calendar; default all (data/features.py)
    families: list[str] = _field(list(DEFAULT_FAMILIES))


@dataclass
class ModelConfig:
    """The LSTM classifier's shape (dropout is a trainer knob: the regularization group searches it).

    The `model` search group searches both fields and `data.window`.
    """

    hidden_size: int = _field(64, _between(1, 4096))
    num_layers: int = _field(2, _between(1, 64))


@dataclass
class TrainerConfig:
    """Defaults of every training knob; the search overrides the ones of the current group."""

    learning_rate: float = _field(1e-3, _gt(0))  # AdamW learning rate
    batch_size: int = _field(64, _ge(1))
    weight_decay: float = _field(1e-4, _ge(0))  # AdamW weight decay
    dropout: float = _field(0.2, _between(0.0, 1.0, hi_open=True))
    label_smoothing: float = _field(0.1, _between(0.0, 1.0, hi_open=True))
    focal_gamma: float = _field(2.0, _ge(0))  # focusing strength of the focal loss
    use_focal_loss: bool = _field(True)  # focal loss instead of cross-entropy
    use_class_weights: bool = _field(True)  # inverse-frequency class weights from the train segment
    use_oversampling: bool = _field(False)  # resample the train segment to balanced classes
    use_augmentation: bool = _field(True)  # gaussian noise and mixup on training batches
    gaussian_noise_std: float = _field(0.01, _ge(0))  # noise added to scaled features
    mixup_alpha: float = _field(0.2, _ge(0))  # Beta(alpha, alpha) mixup; 0 disables mixup
    scheduler_T_0: int = _field(4, _ge(1))  # CosineAnnealingWarmRestarts first period, epochs
    scheduler_T_mult: int = _field(1, _ge(1))  # period multiplier after each restart
    grad_clip: float = _field(1.0, _ge(0))  # max gradient norm; 0 disables clipping
    eval_batch_size: int = _field(1024, _ge(1))
    checkpoint_interval_s: float = _field(60.0, _gt(0))  # at most this much work lost on kill -9
    device: str = _field("auto", _one_of("auto", "cpu", "cuda"))  # auto: CUDA when available
    num_threads: int = _field(
        0, _between(0, 1024)
    )  # torch intra-op threads; 0: auto at `start` (run/parallel.py), else torch's default
    restore_best_epoch: bool = _field(False)  # return the weights of the best validation epoch, not the last
    precision: str = _field(
        "auto", _one_of("fp32", "bf16", "auto")
    )  # training arithmetic; auto: see README "Precision"
    val_sub_blocks: int = _field(8, _between(1, 64))  # contiguous validation sub-blocks scored each epoch (the units)


@dataclass
class ParamSpec:
    """The range of one searched parameter."""

    type: str = _field("float", _one_of("float", "int", "categorical", "bool"))
    low: float | None = _field(None)
    high: float | None = _field(None)
    log: bool = _field(False)  # sample on a log scale (float/int)
    step: float | None = _field(None)  # discretisation step (float/int)
    choices: list[Any] | None = _field(None)  # for categorical


def _spec(
    type_: str,
    low: float | None = None,
    high: float | None = None,
    log: bool = False,
    step: float | None = None,
    choices: list[Any] | None = None,
) -> ParamSpec:
    as_float = lambda v: None if v is None else float(v)  # noqa: E731 - YAML bounds load as floats too
    return ParamSpec(type=type_, low=as_float(low), high=as_float(high), log=log, step=as_float(step), choices=choices)


def default_search_space() -> dict[str, dict[str, ParamSpec]]:
    """The parameter groups in the order a full run optimises them, each with its parameters' ranges.

    The one home of the group list: GROUPS and LABEL_PARAMS are read from it.
    """
    return {
        # First: every later group tunes on the inputs chosen here (docs/decisions.md, issue 26).
        "features": {f"use_{family}": _spec("bool") for family in FAMILY_NAMES},
        # The architecture, before the learning rate and regularization tuned for it (docs/decisions.md, issue 31).
        "model": {
            "hidden_size": _spec("categorical", choices=[16, 32, 64, 128]),  # model.hidden_size
            "num_layers": _spec("int", 1, 3),  # model.num_layers; trainer.dropout acts between layers
            "window": _spec("categorical", choices=[16, 32, 64]),  # data.window
        },
        "learning_rate": {
            "learning_rate": _spec("float", 1e-4, 1e-2, log=True),
            "batch_size": _spec("categorical", choices=[32, 64, 128, 256]),
        },
        "regularization": {
            "weight_decay": _spec("float", 1e-6, 1e-2, log=True),
            "dropout": _spec("float", 0.0, 0.5),
            "label_smoothing": _spec("float", 0.0, 0.2),
            "focal_gamma": _spec("float", 0.5, 3.0),
        },
        "class_balance": {
            "use_focal_loss": _spec("bool"),
            "use_class_weights": _spec("bool"),
            "use_oversampling": _spec("bool"),
        },
        "augmentation": {
            "use_augmentation": _spec("bool"),
            "gaussian_noise_std": _spec("float", 0.0, 0.1),
            "mixup_alpha": _spec("float", 0.0, 0.4),
        },
        "scheduler": {
            "scheduler_T_0": _spec("int", 1, 10),
            "scheduler_T_mult": _spec("int", 1, 3),
        },
        "triple_barrier": {
            "threshold": _spec("float", 0.25, 2.5),
            "take_profit": _spec("float", 1.0, 5.0),
            "stop_loss": _spec("float", 1.0, 5.0),
        },
    }


GROUPS: tuple[str, ...] = tuple(default_search_space())
# Parameters of the triple_barrier group live in `labels`, of the model group in `model` and `data.window`,
# the others in `trainer`.
LABEL_PARAMS: tuple[str, ...] = tuple(default_search_space()["triple_barrier"])
# Parameters of the features group: use_<family>, one boolean per feature family.
FEATURE_PARAMS: tuple[str, ...] = tuple(default_search_space()["features"])
# Parameters of the model group: `hidden_size`/`num_layers` (ModelConfig) and `window` (DataConfig).
MODEL_PARAMS: tuple[str, ...] = tuple(default_search_space()["model"])


@dataclass
class OptimizationConfig:
    """Everything a run needs; frozen into the run directory as config.yaml at start."""

    study_name: str = _field("ml_hyperopt")  # prefix of every study: <study_name>_<group>
    epochs_per_trial: int = _field(4, _between(1, 100_000))
    max_trials_per_group: int = _field(15, _between(1, 1_000_000))  # finished (complete/pruned/failed) trials per group
    max_total_time_hours: float = _field(72.0, _gt(0))  # cumulative across restarts
    n_startup_trials: int = _field(3, _ge(0))  # random trials before TPE
    n_warmup_steps: int = _field(2, _ge(0))  # epochs before the pruner may prune
    pruning_percentile: float = _field(50.0, _between(0.0, 100.0))  # prune below this percentile
    # auto: minimize val_loss, maximize every other metric
    optimization_direction: str = _field("auto", _one_of("auto", "maximize", "minimize"))
    primary_metric: str = _field("val_loss", _one_of(*METRICS))  # plain validation cross-entropy (docs/selection.md)
    selection_folds: int = _field(3, _between(1, 50))  # purged expanding-window folds inside train+val; 1: one split
    # warm: each fold after the first starts from the one before's weights and trains only the samples it adds
    fold_start: str = _field("cold", _one_of("cold", "warm"))
    incumbent_margin_se: float = _field(
        1.0, _ge(0)
    )  # confirm_share 0 only: SEs a challenger must gain on its own units
    confirm_share: float = _field(
        0.5, _between(0.0, 0.75)
    )  # later share of each fold's sub-blocks held back to confirm
    confirm_top: int = _field(3, _between(1, 20))  # challengers (best first) tested on the held-back units
    confirm_alpha: float = _field(0.05, _between(0.001, 0.5))  # chance that noise confirms any of them
    pbo_keep_level: float | None = _field(0.5, _between(0.0, 1.0))  # a group with PBO at or above keeps its incumbent
    # a challenger goes on to its next selection fold while within this many SEs of the incumbent; null: no racing
    race_margin_se: float | None = _field(1.0, _between(0.0, 100.0))
    race_eta: int | None = _field(None, _between(2, 100))  # 3: ... and ranks in the best 1/3 of trials on those folds
    # epochs as the budget: trials train rungs min, min*eta, ... up to epochs_per_trial; null: every trial trains it all
    rung_eta: int | None = _field(None, _between(2, 100))
    rung_min_epochs: int = _field(4, _between(1, 100_000))  # the first rung's epochs (rung_eta set)
    run_check: bool = _field(True)  # the run keeps the defaults unless its configuration beats them on held-back units
    min_class_share: float = _field(0.05, _between(0.0, 0.33))  # label-changing trials with a rarer class are refused
    convergence_patience: int = _field(5, _ge(1))  # trials without improvement that end a group
    convergence_threshold: float = _field(0.005, _ge(0))  # improvement that counts
    collapse_precision: float = _field(
        0.35, _between(0.0, 1.0)
    )  # below: the trial is flagged collapsed (shown, not penalised)
    use_mlflow: bool = _field(False)  # log groups and trials to MLflow (pip install 'hyperopt-cli[mlflow]')
    mlflow_tracking_uri: str | None = _field(None)  # null: sqlite DB in <run_dir>/mlruns; or any MLflow URI
    seed: int = _field(42, _ge(0))
    mode: str = _field("full", _one_of(*MODES))
    target_group: str | None = _field(None)  # the group of mode "group"
    fine_tune_from: str | None = _field(None)  # run dir whose best params centre fine_tune
    fine_tune_shrink: float = _field(0.25, _between(0.01, 1.0))  # fraction of each range kept
    walk_forward_blocks: int = _field(3, _between(1, 1000))  # test segment blocks, each trained on all bars before it
    incumbent_first: bool = _field(True)  # each group's first trial is the values it starts from
    ensemble_seeds: int = _field(
        3, _between(1, 100)
    )  # models per walk-forward block (seeds), voting by mean probability
    # how probabilities become signals: "fitted" per-class offsets chosen on validation (else argmax), or "argmax"
    decision_rule: str = _field("fitted", _one_of("fitted", "argmax"))
    storage_url: str | None = _field(None)  # null (start picks "journal"); "journal"; "sqlite"; or a database URL
    workers: int = _field(0, _between(0, 1024))  # local worker processes; 0: auto, `start` picks (run/parallel.py)
    heartbeat_interval_s: float = _field(5.0, _gt(0))  # how often a worker says it is alive
    worker_timeout_s: float = _field(60.0, _gt(0))  # a worker silent this long is dead; its trial is taken over
    checkpoint_dir: str | None = _field(None)  # null: <run_dir>/checkpoints; shared by every worker
    data: DataConfig = _field(DataConfig())
    labels: LabelsConfig = _field(LabelsConfig())
    features: FeaturesConfig = _field(FeaturesConfig())
    model: ModelConfig = _field(ModelConfig())
    trainer: TrainerConfig = _field(TrainerConfig())
    search_space: dict[str, dict[str, ParamSpec]] = field(default_factory=default_search_space)

    def groups(self) -> tuple[str, ...]:
        """The parameter groups of this config's search space, in GROUPS order.

        Every group, except in a run frozen before a group existed (run/records.py `load_run_config`).
        """
        return tuple(g for g in GROUPS if g in self.search_space)

    def groups_to_run(self) -> tuple[str, ...]:
        """The groups this mode runs, in order; fine_tune runs one joint study."""
        if self.mode == "full":
            return self.groups()
        if self.mode == "quick":
            return ("learning_rate",)
        if self.mode == "group":
            assert self.target_group is not None
            return (self.target_group,)
        return ("fine_tune",)


# --------------------------------------------------------------------------- building


def _origin_name(origin: str | None) -> str:
    return f" ({origin})" if origin else ""


def _type_name(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if args and typing.get_origin(tp) in (typing.Union, types.UnionType):
        names = " or ".join(_type_name(a) for a in args)
        return f"{names} or null" if type(None) in typing.get_args(tp) else names
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return f"a list of {_type_name(item).split(' ', 1)[1]}s"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str, origin: str | None) -> Any:
    """Check `value` against the annotation `tp` and return it converted."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1:  # e.g. str | list[str]: the first alternative the value's kind fits
            fitting = [a for a in inner if isinstance(value, typing.get_origin(a) or a)]
            if not fitting:
                raise ConfigError(f"{key} must be {_type_name(tp)}, got {shown(value)}{_origin_name(origin)}")
            inner = fitting[:1]
        return _coerce(value, inner[0], key, origin)
    if typing.get_origin(tp) is list:
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{key} must be a non-empty list, got {shown(value)}{_origin_name(origin)}")
        (item,) = typing.get_args(tp) or (Any,)
        if item is str:
            for i, entry in enumerate(value):
                if not isinstance(entry, str) or not entry:
                    raise ConfigError(
                        f"{key}[{i}] must be a non-empty string, got {shown(entry)}{_origin_name(origin)}"
                    )
        return list(value)
    bad = ConfigError(f"{key} must be {_type_name(tp)}, got {shown(value)}{_origin_name(origin)}")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {shown(value)}{_origin_name(origin)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")


def _unknown_key(key: str, valid: list[str], prefix: str, origin: str | None) -> ConfigError:
    close = difflib.get_close_matches(key[:100], valid, n=1, cutoff=0.5)
    hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
    return ConfigError(f"unknown config key {shown(prefix + key)}{hint}{_origin_name(origin)}")


def _drop_retired_keys(raw: dict[str, Any], origin: str | None) -> dict[str, Any]:
    """Old config files (and the config.yaml frozen in old run dirs) still load: retired keys are ignored."""
    retired = [key for key in RETIRED_KEYS if key in raw]
    for key in retired:
        warnings.warn(
            f"config key '{key}' is no longer used and is ignored; remove it{_origin_name(origin)}",
            DeprecationWarning,
            stacklevel=2,
        )
    return {k: v for k, v in raw.items() if k not in retired}


def _build(cls: type, raw: Any, prefix: str, origin: str | None) -> Any:
    if not isinstance(raw, dict):
        name = prefix.rstrip(".") or "the config"
        raise ConfigError(f"{name} must be a mapping, got {shown(raw)}{_origin_name(origin)}")
    if cls is OptimizationConfig:
        raw = _drop_retired_keys(raw, origin)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or key not in fields:
            raise _unknown_key(str(key), list(fields), prefix, origin)
        tp = hints[key]
        full_key = prefix + key
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value if value is not None else {}, full_key + ".", origin)
        elif key == "search_space" and cls is OptimizationConfig:
            kwargs[key] = _build_search_space(value, origin)
        else:
            kwargs[key] = _coerce(value, tp, full_key, origin)
            check = fields[key].metadata.get("check")
            if check is not None and kwargs[key] is not None and not check[0](kwargs[key]):
                raise ConfigError(f"{full_key} must be {check[1]}, got {shown(value)}{_origin_name(origin)}")
    return cls(**kwargs)


def _build_search_space(raw: Any, origin: str | None) -> dict[str, dict[str, ParamSpec]]:
    """Overlay user ranges on the defaults: a group or parameter not given keeps its default."""
    space = default_search_space()
    if raw is None:
        return space
    if not isinstance(raw, dict):
        raise ConfigError(f"search_space must be a mapping, got {shown(raw)}{_origin_name(origin)}")
    for group, params in raw.items():
        if group not in space:
            raise _unknown_key(str(group), list(space), "search_space.", origin)
        if not isinstance(params, dict):
            raise ConfigError(f"search_space.{group} must be a mapping, got {shown(params)}{_origin_name(origin)}")
        for name, spec in params.items():
            if name not in space[group]:
                raise _unknown_key(str(name), list(space[group]), f"search_space.{group}.", origin)
            merged = dataclasses.asdict(space[group][name])
            if not isinstance(spec, dict):
                raise ConfigError(
                    f"search_space.{group}.{name} must be a mapping, got {shown(spec)}{_origin_name(origin)}"
                )
            merged.update(spec)
            space[group][name] = _build(ParamSpec, merged, f"search_space.{group}.{name}.", origin)
    return space


def _validate_spec(key: str, spec: ParamSpec, origin: str | None) -> None:
    where = _origin_name(origin)
    if spec.type in ("float", "int"):
        if spec.low is None or spec.high is None:
            raise ConfigError(f"{key} of type {spec.type} needs both low and high{where}")
        if spec.low > spec.high:
            raise ConfigError(f"{key}.low must be <= high, got low={spec.low}, high={spec.high}{where}")
        if spec.log and spec.low <= 0:
            raise ConfigError(f"{key}.low must be > 0 on a log scale, got {spec.low}{where}")
        if spec.type == "int" and (spec.low != int(spec.low) or spec.high != int(spec.high)):
            raise ConfigError(f"{key} of type int needs whole-number bounds, got {spec.low}..{spec.high}{where}")
    if spec.type == "categorical" and not spec.choices:
        raise ConfigError(f"{key} of type categorical needs a non-empty choices list{where}")


# The section that holds each model-group parameter (its rule is that field's).
MODEL_SECTIONS: dict[str, type] = {"hidden_size": ModelConfig, "num_layers": ModelConfig, "window": DataConfig}


def _validate_model_spec(name: str, spec: ParamSpec, origin: str | None) -> None:
    """A model-group range proposes whole numbers its config field accepts (a window >= 2, a layer count >= 1)."""
    key, where = f"search_space.model.{name}", _origin_name(origin)
    if spec.type not in ("int", "categorical"):
        raise ConfigError(
            f"{key} must be of type int or categorical (it takes whole numbers), got {spec.type!r}{where}"
        )
    check = next(f for f in dataclasses.fields(MODEL_SECTIONS[name]) if f.name == name).metadata["check"]
    values = list(spec.choices or []) if spec.type == "categorical" else [int(spec.low or 0), int(spec.high or 0)]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not check[0](value):
            raise ConfigError(f"{key}: every value must be a whole number {check[1]}, got {shown(value)}{where}")


def _validate(cfg: OptimizationConfig, origin: str | None) -> None:
    where = _origin_name(origin)
    d = cfg.data
    total = d.train_fraction + d.val_fraction + d.test_fraction
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(
            "data.train_fraction + data.val_fraction + data.test_fraction must sum to 1, "
            f"got {d.train_fraction} + {d.val_fraction} + {d.test_fraction} = {total:g}{where}"
        )
    unknown_families = [f for f in cfg.features.families if f not in FAMILY_NAMES]
    if unknown_families:
        raise ConfigError(
            f"features.families: unknown family {shown(unknown_families[0])}; "
            f"valid families: {', '.join(FAMILY_NAMES)}{where}"
        )
    if cfg.mode == "group":
        if cfg.target_group is None:
            raise ConfigError(f"mode 'group' needs target_group (one of {', '.join(GROUPS)}){where}")
    if cfg.target_group is not None and cfg.target_group not in GROUPS:
        close = difflib.get_close_matches(cfg.target_group, GROUPS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; valid groups: {', '.join(GROUPS)}"
        raise ConfigError(f"target_group must be a parameter group, got {shown(cfg.target_group)}{hint}{where}")
    if cfg.mode == "fine_tune" and cfg.fine_tune_from is None:
        raise ConfigError(f"mode 'fine_tune' needs fine_tune_from: the run dir of a finished run{where}")
    if cfg.use_mlflow and importlib.util.find_spec("mlflow") is None:  # fail at start, not mid-run
        raise ConfigError(
            f"use_mlflow is true but mlflow is not installed; install it with: pip install 'hyperopt-cli[mlflow]'{where}"
        )
    for group, params in cfg.search_space.items():
        for name, spec in params.items():
            _validate_spec(f"search_space.{group}.{name}", spec, origin)
    for name, spec in cfg.search_space.get("model", {}).items():
        _validate_model_spec(name, spec, origin)
    if cfg.use_mlflow and (cfg.workers > 1 or storage_kind.is_shared_database(cfg.storage_url)):
        # Two workers could each create a group's parent run: the lookup-then-create is not atomic.
        raise ConfigError(
            f"use_mlflow works with one process per run; set use_mlflow: false for several workers{where}"
        )
    if cfg.workers > 1 and not storage_kind.several_writers(cfg.storage_url):
        raise ConfigError(
            f"workers={cfg.workers} needs a storage that takes concurrent writers: set storage_url to "
            f"'journal' (local workers) or a database URL{where}"
        )
    if cfg.worker_timeout_s <= 2 * cfg.heartbeat_interval_s:
        raise ConfigError(
            f"worker_timeout_s must be > 2 x heartbeat_interval_s, got {cfg.worker_timeout_s} and "
            f"{cfg.heartbeat_interval_s}{where}"
        )
    if cfg.primary_metric == "val_loss" and cfg.optimization_direction == "maximize":  # auto resolves to minimize
        raise ConfigError(f"primary_metric 'val_loss' must be minimized; set optimization_direction: minimize{where}")


def config_from_dict(raw: dict[str, Any] | None, origin: str | None = None) -> OptimizationConfig:
    """Build and validate a config from a parsed mapping; `origin` names the file in errors."""
    cfg = _build(OptimizationConfig, raw or {}, "", origin)
    _validate(cfg, origin)
    return cfg


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"--set expects key.path=value, got {shown(text)}")
    key, _, raw_value = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set expects key.path=value, got {shown(text)}")
    value = parse_yaml(raw_value, f"--set {shown(key)}") if raw_value.strip() else None
    # YAML 1.1 reads "1e-3" as a string; a number is what anyone typing it means.
    if isinstance(value, str):
        try:
            value = int(value) if value.lstrip("+-").isdigit() else float(value)
        except ValueError:
            pass
    return key.split("."), value


def check_override(text: str) -> None:
    """Check one `--set KEY=VALUE` on its own, so a bad key or value names `--set ...`, not the config file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # a retired key warns once, when the whole config loads
        _build(OptimizationConfig, apply_overrides({}, [text]), "", f"--set {clipped(text.strip(), 80)}")


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set a.b.c=value` overrides to a raw config mapping (a deep copy is returned)."""
    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = _parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {shown(text)}: '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return out


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping (bounded: see yamlfile); errors name the file and never quote its content."""
    from hyperopt_cli.core.atomic import UnsafeFileError, read_bounded

    try:
        text = read_bounded(path, MAX_CONFIG_BYTES + 1).decode("utf-8")  # a regular file only: a FIFO never hangs it
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnsafeFileError as exc:
        raise ConfigError(str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    raw = parse_yaml(text, str(path))
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(raw).__name__}")
    return raw


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> OptimizationConfig:
    """Load a YAML config (None: built-in defaults), apply `--set` overrides, validate."""
    raw = read_yaml(path) if path is not None else {}
    raw = apply_overrides(raw, overrides or [])
    return config_from_dict(raw, origin=str(path) if path is not None else None)


def config_to_dict(cfg: OptimizationConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def mapping_hash(raw: dict[str, Any]) -> str:
    """Stable hash of a config mapping (key order and YAML formatting do not matter)."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def config_hash(cfg: OptimizationConfig) -> str:
    """Stable hash of the resolved config."""
    return mapping_hash(config_to_dict(cfg))


def dump_config(cfg: OptimizationConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def with_params(cfg: OptimizationConfig, params: dict[str, Any]) -> tuple[TrainerConfig, LabelsConfig]:
    """The trainer and label settings of one trial: config defaults overridden by `params`."""
    trainer_fields = {f.name for f in dataclasses.fields(TrainerConfig)}
    trainer_updates = {k: v for k, v in params.items() if k in trainer_fields}
    label_updates = {k: v for k, v in params.items() if k in LABEL_PARAMS}
    unknown = set(params) - trainer_fields - set(LABEL_PARAMS) - set(FEATURE_PARAMS) - set(MODEL_PARAMS)
    if unknown:
        raise ConfigError(f"unknown trial parameters: {', '.join(sorted(unknown))}")
    return (
        dataclasses.replace(cfg.trainer, **trainer_updates),
        dataclasses.replace(cfg.labels, **label_updates),
    )


def families_for(cfg: OptimizationConfig, params: dict[str, Any]) -> tuple[str, ...]:
    """The feature families of one trial: its `use_<family>` params over `features.families`, in FAMILY_NAMES order.

    NoFeaturesError when none is on (a trial of the features group with every switch off).
    """
    chosen = tuple(f for f in FAMILY_NAMES if params.get(f"use_{f}", f in cfg.features.families))
    if not chosen:
        raise NoFeaturesError("every feature family is switched off; at least one must be on")
    return chosen


def family_params(families: tuple[str, ...] | list[str]) -> dict[str, bool]:
    """`families` as the features group's parameters: use_<family> -> bool for every family."""
    return {f"use_{f}": f in families for f in FAMILY_NAMES}


def model_for(cfg: OptimizationConfig, params: dict[str, Any]) -> tuple[ModelConfig, int]:
    """The architecture and the window of one trial: its model-group params over `model` and `data.window`."""
    shape = {k: int(params[k]) for k in ("hidden_size", "num_layers") if k in params}
    return dataclasses.replace(cfg.model, **shape), int(params.get("window", cfg.data.window))


def sample_window(cfg: OptimizationConfig) -> int:
    """The window that decides which bars are samples: the longest any trial of the run can use.

    A longer window needs more history, so it drops a run's first bars as samples and moves
    every split; defined by the longest, the samples (and so every fold's validation units)
    are the same for every window a trial tries (docs/decisions.md, issue 31).
    """
    spec = cfg.search_space.get("model", {}).get("window")
    longest: list[Any] = (
        [] if spec is None else list(spec.choices or []) if spec.type == "categorical" else [spec.high or 0]
    )
    return int(max([cfg.data.window, *longest]))


def param_values(cfg: OptimizationConfig, params: dict[str, Any]) -> dict[str, Any]:
    """Every parameter's value in a trial with `params`: trainer, labels, feature switches, architecture, window."""
    trainer_cfg, labels_cfg = with_params(cfg, params)
    model_cfg, window = model_for(cfg, params)
    return {
        **dataclasses.asdict(trainer_cfg),
        **dataclasses.asdict(labels_cfg),
        **family_params(families_for(cfg, params)),
        "hidden_size": model_cfg.hidden_size,
        "num_layers": model_cfg.num_layers,
        "window": window,
    }
