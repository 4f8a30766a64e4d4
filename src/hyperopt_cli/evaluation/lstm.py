"""The LSTM as a walk-forward `fit_predict`: train on a fold's samples, predict its block.

Kept apart from walkforward.py so that the walk-forward and verdict modules stay free of
torch (the report and status paths may read verdicts).

With `ensemble_seeds` > 1 each block trains that many models (member 0 keeps the
single-model seed, so one seed gives exactly the single-model result) and predicts by the
mean of their softmax probabilities. `on_models` hands each block's trained members to
the caller (the run keeps the last block's as the saved model) without this module
knowing where they go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hyperopt_cli.config import ModelConfig, TrainerConfig
from hyperopt_cli.data.prepare import Segment
from hyperopt_cli.evaluation.decision import ARGMAX, DecisionRule, RuledPrediction, fit_rule
from hyperopt_cli.evaluation.segments import VAL_FRACTION
from hyperopt_cli.evaluation.walkforward import FitPredict, as_prepared_data
from hyperopt_cli.training.ensemble import combine_members
from hyperopt_cli.training.seeding import derive_seed
from hyperopt_cli.training.trainer import TrainHooks, TrainResult, predict, resolve_device, train_model


@dataclass
class BlockModels:
    """The members trained for one block, with the validation segment they were judged on."""

    train: Segment  # the fold's training samples (fit + validation part)
    block: Segment  # the scored block
    val: Segment  # the fold's validation part
    members: list[TrainResult]  # one per ensemble seed, member 0 first
    val_pred: np.ndarray  # the ensemble's validation predictions (argmax)
    rule: DecisionRule = DecisionRule()  # how its probabilities become signals, fitted on `val`


OnModels = Callable[[BlockModels], None]


def member_seed(seed: int, first_bar: int, member: int) -> int:
    """Member 0 keeps the single-model seed of the block; the others derive their own."""
    if member == 0:
        return derive_seed(seed, "walk_forward", first_bar)
    return derive_seed(seed, "walk_forward", first_bar, "member", member)


def member_tag(first_bar: int, member: int) -> str:
    """Checkpoint tag (and file stem) of one member's training; member 0 keeps the single-model name."""
    return f"walk_forward_{first_bar}" if member == 0 else f"walk_forward_{first_bar}_m{member}"


def lstm_fit_predict(
    trainer_cfg: TrainerConfig,
    model_cfg: ModelConfig,
    *,
    epochs: int,
    seed: int,
    purge_bars: int,
    feature_names: tuple[str, ...],
    val_fraction: float = VAL_FRACTION,
    hooks: TrainHooks | None = None,
    checkpoint_dir: Path | None = None,
    ensemble_seeds: int = 1,
    on_models: OnModels | None = None,
    decision_rule: str = ARGMAX,
) -> FitPredict:
    """A fit_predict that trains `ensemble_seeds` LSTMs per fold (seeded by the block) and predicts the block.

    `decision_rule` "fitted": the block's signals come from a rule fitted on the ensemble's
    validation probabilities (evaluation/decision.py), returned with the argmax ones.

    With `checkpoint_dir`, each member's training checkpoints to its own file there, so a
    stop mid-block resumes that member (finished members reload from their last
    checkpoint); `TrainingInterrupted` propagates.
    """
    if ensemble_seeds < 1:
        raise ValueError(f"ensemble_seeds must be >= 1, got {ensemble_seeds}")
    device = resolve_device(trainer_cfg.device)

    def fit_predict(train: Segment, block: Segment) -> np.ndarray | RuledPrediction:
        first_bar = int(block.end_rows[0])
        data = as_prepared_data(train, block, purge_bars, feature_names, val_fraction)
        members = []
        for member in range(ensemble_seeds):
            tag = member_tag(first_bar, member)
            checkpoint = checkpoint_dir / f"{tag}.pt" if checkpoint_dir is not None else None
            members.append(
                train_model(
                    data,
                    trainer_cfg,
                    model_cfg,
                    epochs=epochs,
                    seed=member_seed(seed, first_bar, member),
                    hooks=hooks,
                    checkpoint_path=checkpoint,
                    checkpoint_tag=tag,
                )
            )
        outputs = [predict(m.model, block, trainer_cfg.eval_batch_size, device) for m in members]
        pred, probs = combine_members([p for p, _ in outputs], [q for _, q in outputs])
        val_pred, val_probs = combine_members([m.val_pred for m in members], [m.val_probs for m in members])
        rule = fit_rule(val_probs, data.val.labels) if decision_rule != ARGMAX else DecisionRule()
        if on_models is not None:
            on_models(
                BlockModels(train=train, block=block, val=data.val, members=members, val_pred=val_pred, rule=rule)
            )
        if decision_rule == ARGMAX:
            return pred
        return RuledPrediction(rule.apply(probs, pred), pred, rule)

    return fit_predict
