"""The incumbent as a group's first trial.

A group's search starts from values the run already has for its parameters: the config's
defaults, or the best params of the groups before it, or (fine_tune) the source run's best.
Enqueueing those values as the group's first trial puts the incumbent in the same contest as
every proposal, measured the same way, so a group freezes new values only when its own
measurement ranks them above what it started from. Without it a group always froze its best
proposal, even one scoring below the incumbent (bench/bench_validity.py measures the effect).
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from hyperopt_cli.config import OptimizationConfig, ParamSpec, param_values
from hyperopt_cli.search.study_records import INCUMBENT_ATTR

__all__ = ["INCUMBENT_ATTR", "contains", "current_values", "enqueue_incumbent", "incumbent_params"]


def current_values(cfg: OptimizationConfig, fixed: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """What the run uses for `names` without searching them: `fixed` over the config's values."""
    merged = param_values(cfg, fixed)
    return {name: merged[name] for name in names if name in merged}


def contains(spec: ParamSpec, value: Any) -> bool:
    """Whether the space can propose `value` (Optuna rejects an enqueued value outside it)."""
    if spec.type == "bool":
        return isinstance(value, bool)
    if spec.type == "categorical":
        return value in (spec.choices or [])
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    assert spec.low is not None and spec.high is not None
    if not spec.low <= value <= spec.high:
        return False
    if spec.type == "int" and int(value) != value:
        return False
    if spec.step and not spec.log:
        steps = (value - spec.low) / spec.step
        return abs(steps - round(steps)) < 1e-9
    return True


def incumbent_params(space: dict[str, ParamSpec], current: dict[str, Any]) -> dict[str, Any] | None:
    """The incumbent's values for every parameter of `space`, or None when one is missing or outside it."""
    if not space or any(name not in current or not contains(spec, current[name]) for name, spec in space.items()):
        return None
    return {name: current[name] for name in space}


def enqueue_incumbent(study: optuna.Study, params: dict[str, Any] | None) -> bool:
    """Enqueue `params` as the study's first trial, once per study; True when it was enqueued now."""
    if params is None or INCUMBENT_ATTR in study.user_attrs or study.get_trials(deepcopy=False):
        return False
    # Enqueued first: a kill between the two calls leaves a WAITING trial, which the check above sees.
    study.enqueue_trial(params, user_attrs={INCUMBENT_ATTR: True})
    study.set_user_attr(INCUMBENT_ATTR, params)
    return True
