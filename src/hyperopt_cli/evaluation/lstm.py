"""The LSTM as a walk-forward `fit_predict`: train on a fold's samples, predict its block.

Kept apart from walkforward.py so that the walk-forward and verdict modules stay free of
torch (the report and status paths may read verdicts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperopt_cli.config import ModelConfig, TrainerConfig
from hyperopt_cli.data.prepare import Segment
from hyperopt_cli.evaluation.walkforward import FitPredict, as_prepared_data
from hyperopt_cli.training.seeding import derive_seed
from hyperopt_cli.training.trainer import TrainHooks, predict, resolve_device, train_model

VAL_FRACTION = 0.15  # share of a fold's training samples (the latest, purged) used for validation


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
) -> FitPredict:
    """A fit_predict that trains the configured LSTM per fold (seeded by the block) and predicts the block.

    With `checkpoint_dir`, each block's training checkpoints to its own file there, so a
    stop mid-block resumes that block's training (`TrainingInterrupted` propagates).
    """

    def fit_predict(train: Segment, block: Segment) -> np.ndarray:
        first_bar = int(block.end_rows[0])
        data = as_prepared_data(train, block, purge_bars, feature_names, val_fraction)
        checkpoint = checkpoint_dir / f"walk_forward_{first_bar}.pt" if checkpoint_dir is not None else None
        result = train_model(
            data, trainer_cfg, model_cfg, epochs=epochs, seed=derive_seed(seed, "walk_forward", first_bar),
            hooks=hooks, checkpoint_path=checkpoint, checkpoint_tag=f"walk_forward_{first_bar}",
        )
        pred, _ = predict(result.model, block, trainer_cfg.eval_batch_size, resolve_device(trainer_cfg.device))
        return pred.astype(np.int64)

    return fit_predict
