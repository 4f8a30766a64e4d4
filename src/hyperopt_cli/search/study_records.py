"""What a group's study stores beside its trials, and which metric it optimises.

Torch- and optuna-free, so run/records.py (and through it status, control and the report)
can read studies' records without importing the training stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hyperopt_cli.config import LABEL_PARAMS, OptimizationConfig

FINE_TUNE = "fine_tune"  # the one joint study of fine_tune mode
TRADING_SCORE = "trading_score"
SKILL = "val_skill"  # 1 - validation cross-entropy / that of the training label shares (search/selection.py)
GROUP_DONE_ATTR = "group_done"  # study user attr: the decision that ended a group
SURPLUS_ATTR = "surplus"  # trial user attr: closed unrun because two workers took the last slot
INCUMBENT_ATTR = "incumbent"  # user attr: on a study, the params enqueued as trial 0; on that trial, True
EXTRA_TRIALS_ATTR = "extra_trials"  # study user attr: the extensions `resume --more-trials N` asked for, in order
MAX_MORE_TRIALS = 1_000_000  # `--more-trials N` at most (max_trials_per_group's bound): beyond, nothing could run them


def objective_metric(cfg: OptimizationConfig, space_names: Sequence[str]) -> str:
    """A study whose parameters change the labels is scored by cross-entropy skill over the label prior.

    Any score against a trial's own labels (F1, cross-entropy) is not comparable across label
    settings; skill over always predicting the training label shares is, and cannot reward a
    label set the model does not predict.
    """
    return SKILL if any(name in LABEL_PARAMS for name in space_names) else cfg.primary_metric


def direction_for(cfg: OptimizationConfig, metric: str) -> str:
    if metric in (SKILL, TRADING_SCORE):
        return "maximize"
    if cfg.optimization_direction == "auto":
        return "minimize" if metric == "val_loss" else "maximize"
    return cfg.optimization_direction


def group_objective(cfg: OptimizationConfig, group: str) -> tuple[str, str]:
    """(metric, direction) a group's study optimises; fine_tune spans every group's params."""
    groups = cfg.groups() if group == FINE_TUNE else (group,)
    names = [name for g in groups for name in cfg.search_space[g]]
    metric = objective_metric(cfg, names)
    return metric, direction_for(cfg, metric)


def parse_group_done(value: Any) -> dict[str, Any] | None:
    """The group-done study attr as a dict (None while the group runs); older runs stored a bare reason."""
    if isinstance(value, str):
        return {"reason": value}
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class TrialLimits:
    """How many finished trials end a group, and how many must finish before convergence may end it."""

    max_trials: int
    min_trials: int = 0  # an open extension's target: the user asked for exactly N more trials


def extensions(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The study's extensions, each {"n", "at_finished", "limit"} (run/extend.py writes them).

    A record whose counts are not sane integers (an unbounded `--more-trials 10**14` that an
    older version recorded, or a hand-edited study) is skipped, so it cannot make every
    later resume fail: the run continues as if that extension had not been asked for.
    """
    raw = attrs.get(EXTRA_TRIALS_ATTR)
    return [e for e in raw if _sane_extension(e)] if isinstance(raw, list) else []


def _sane_extension(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    values = [record.get(key) for key in ("n", "at_finished", "limit")]
    counts = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2 * MAX_MORE_TRIALS]
    return len(counts) == len(values) and counts[0] >= 1


def trial_limits(attrs: Mapping[str, Any], max_trials_per_group: int) -> TrialLimits:
    """The config's budget, or the last extension's limit and target."""
    extra = extensions(attrs)
    if not extra:
        return TrialLimits(max_trials_per_group)
    last = extra[-1]
    return TrialLimits(int(last["limit"]), int(last["at_finished"]) + int(last["n"]))


def group_done_of(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision that ended a group, unless an extension asked after it reopened the group.

    A record counts the extensions it saw (`extensions`); Optuna cannot delete a user attr,
    so an extension reopens a group by outnumbering its record, in one write.
    """
    record = parse_group_done(attrs.get(GROUP_DONE_ATTR))
    if record is None or int(record.get("extensions") or 0) < len(extensions(attrs)):
        return None
    return record


def extension_open(attrs: Mapping[str, Any]) -> bool:
    """Whether an extension was asked for and the group has not finished it yet."""
    return bool(extensions(attrs)) and group_done_of(attrs) is None
