"""How a trial's training ended, as its study records it: the outcome, and the fold curves and units it is judged on.

Pure functions of the trained folds (no study, no storage), shared by the group's loop
(search/group.py) and its early stops (search/early_stop.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState

from hyperopt_cli.data.prepare import PreparedData
from hyperopt_cli.search.racing import FoldUnits, fold_units
from hyperopt_cli.search.selection import FoldCurve, select
from hyperopt_cli.training.metrics import prior_cross_entropy, sub_blocks
from hyperopt_cli.training.trainer import TrainResult


@dataclass
class TrialOutcome:
    """How one trial's training ended: what to tell the study and what to record on the trial."""

    state: TrialState
    value: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)  # user attrs to set before telling
    warning: str | None = None  # one line for the events, e.g. why it failed
    collapsed: bool = False


def at_epochs(result: TrainResult, epochs: int) -> TrainResult:
    """`result` as of its first `epochs` epochs: a resumed fold whose checkpoint is past the rung being replayed."""
    if len(result.history) <= epochs:
        return result
    return dataclasses.replace(result, history=result.history[:epochs])


def degenerate_labels(folds: list[PreparedData], min_share: float) -> str | None:
    """Why a fold's labels are degenerate (a class rarer than `min_share` in its train or validation part), or None."""
    for data in folds:
        for segment in (data.train, data.val):
            shares = segment.class_counts() / max(len(segment), 1)
            if shares.min() < min_share:
                return (
                    f"degenerate labels: {segment.name} class shares SELL/HOLD/BUY "
                    f"{'/'.join(f'{v:.0%}' for v in shares)}, the rarest below min_class_share {min_share:g}"
                )
    return None


def completed_outcome(
    results: list[TrainResult],
    folds: list[PreparedData],
    metric: str,
    direction: str,
    collapse_precision: float,
    confirm_share: float = 0.0,
) -> TrialOutcome:
    """A trained trial's objective: its folds' mean curve at the best epoch (search/selection.py), and its record."""
    chosen = select([fold_curve(r, d) for r, d in zip(results, folds)], metric, direction, confirm_share)
    final = results[-1].history[chosen.epochs - 1]  # the configured split, at the chosen epoch
    collapsed = final.val_precision < collapse_precision
    attrs: dict[str, Any] = {}
    if results[-1].resumed_from_epoch is not None:
        attrs["resumed_from"] = {"epoch": results[-1].resumed_from_epoch, "batch": results[-1].resumed_from_batch}
    attrs["fold_units"] = trial_fold_units(results, folds, metric, confirm_share)
    attrs.update(
        metrics=final.as_dict(),
        history=[m.as_dict() for m in results[-1].history],
        raw_value=chosen.value,
        collapsed=collapsed,
        selection=chosen.as_dict(),
        units=chosen.units,
        skill_units=chosen.skill_units,
        confirm_units=chosen.confirm_units,
        confirm_skill_units=chosen.confirm_skill_units,
        last_confirm_skill_units=chosen.last_confirm_skill_units,
        train_seconds=sum(m.seconds for r in results for m in r.history),
    )
    warning = (
        (
            f"mode collapse: val precision {final.val_precision:.3f} < {collapse_precision} "
            f"after epoch {chosen.epochs} (flagged, not penalised)"
        )
        if collapsed
        else None
    )
    return TrialOutcome(TrialState.COMPLETE, chosen.value, attrs, warning, collapsed)


def trial_fold_units(
    results: list[TrainResult], folds: list[PreparedData], metric: str, confirm_share: float
) -> FoldUnits:
    """What racing compares: per trained fold, per epoch, the objective on each selection sub-block."""
    return [fold_units(fold_curve(r, d), metric, confirm_share) for r, d in zip(results, folds)]


def fold_curve_priors(data: PreparedData, n_blocks: int, history: list[dict[str, Any]] | None = None) -> FoldCurve:
    """A fold's climatology (training label shares) on its validation part and its `n_blocks` sub-blocks."""
    train, val = data.train.labels, data.val.labels
    return FoldCurve(
        history=history or [],
        prior_loss=prior_cross_entropy(train, val),
        prior_blocks=[prior_cross_entropy(train, val[idx]) for idx in sub_blocks(len(val), n_blocks)],
    )


def fold_curve(result: TrainResult, data: PreparedData) -> FoldCurve:
    """A fold's history with the climatology of its validation part and of the sub-blocks its epochs scored."""
    history = [m.as_dict() for m in result.history]
    blocks = (history[0].get("val_blocks") or {}).get("val_loss", []) if history else []
    return fold_curve_priors(data, len(blocks) or 1, history)
