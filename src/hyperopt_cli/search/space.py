"""Which parameters each study searches, how they are sampled, and fine_tune's narrowed ranges."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import optuna

from hyperopt_cli.config import OptimizationConfig, ParamSpec
from hyperopt_cli.search.study_records import FINE_TUNE

__all__ = ["FINE_TUNE", "narrow", "sample_params", "study_space", "suggest"]


def suggest(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    """Sample one parameter; on a trial that already has it (a resumed trial) Optuna returns the stored value."""
    if spec.type == "float":
        assert spec.low is not None and spec.high is not None
        return trial.suggest_float(name, spec.low, spec.high, log=spec.log, step=None if spec.log else spec.step)
    if spec.type == "int":
        assert spec.low is not None and spec.high is not None
        step = int(spec.step) if spec.step and not spec.log else 1
        return trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log, step=step)
    if spec.type == "bool":
        return trial.suggest_categorical(name, [False, True])
    assert spec.choices is not None
    return trial.suggest_categorical(name, list(spec.choices))


def study_space(
    cfg: OptimizationConfig, study_group: str, center: dict[str, Any] | None = None
) -> dict[str, ParamSpec]:
    """The parameters a study searches: one group's, or for fine_tune all groups' narrowed around `center`."""
    if study_group != FINE_TUNE:
        return dict(cfg.search_space[study_group])
    space: dict[str, ParamSpec] = {}
    for group in cfg.groups():
        for name, spec in cfg.search_space[group].items():
            space[name] = narrow(spec, (center or {}).get(name), cfg.fine_tune_shrink)
    return space


def narrow(spec: ParamSpec, best: Any, shrink: float) -> ParamSpec:
    """Keep `shrink` of a numeric range, centred on `best` (in log space for log ranges), inside the original.

    Categorical and boolean parameters keep all their choices: a neighbourhood means nothing there.
    """
    if best is None or spec.type not in ("float", "int"):
        return spec
    assert spec.low is not None and spec.high is not None
    to = math.log if spec.log else (lambda v: v)
    back = math.exp if spec.log else (lambda v: v)
    lo, hi, mid = to(spec.low), to(spec.high), to(min(max(best, spec.low), spec.high))
    half = (hi - lo) * shrink / 2
    new_lo, new_hi = max(lo, mid - half), min(hi, mid + half)
    low, high = back(new_lo), back(new_hi)
    if spec.type == "int":
        low, high = math.floor(low), math.ceil(high)
        low, high = max(low, int(spec.low)), min(high, int(spec.high))
    else:
        low, high = max(low, spec.low), min(high, spec.high)
    return dataclasses.replace(spec, low=low, high=high)


def sample_params(trial: optuna.Trial, space: dict[str, ParamSpec]) -> dict[str, Any]:
    return {name: suggest(trial, name, spec) for name, spec in space.items()}
