"""Seed ensembles in the walk-forward: mean-probability vote, member 0 = the single model, resumable per member."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from _tiny_data import tiny_data, tiny_model, tiny_trainer
from hyperopt_cli.evaluation.lstm import BlockModels, lstm_fit_predict
from hyperopt_cli.training.ensemble import combine_members
from hyperopt_cli.training.trainer import TrainHooks, TrainingInterrupted


def test_one_member_keeps_its_own_argmax_and_several_vote_by_mean_probability() -> None:
    pred = np.array([1, 0])
    probs = np.array([[0.5, 0.5, 0.0], [0.6, 0.4, 0.0]], dtype=np.float32)
    assert combine_members([pred], [probs])[0].tolist() == [1, 0]  # a tie is the member's, not argmax's
    other = np.array([[0.0, 0.1, 0.9], [0.9, 0.1, 0.0]], dtype=np.float32)
    voted, mean = combine_members([pred, np.array([2, 0])], [probs, other])
    assert voted.tolist() == [2, 0]
    np.testing.assert_allclose(mean, (probs + other) / 2)


def _fit(
    checkpoints: Path | None, seeds: int, hooks: TrainHooks | None = None, kept: list[BlockModels] | None = None
) -> Any:
    data = tiny_data()
    fit_predict = lstm_fit_predict(
        tiny_trainer(),
        tiny_model(),
        epochs=2,
        seed=5,
        purge_bars=data.purge_bars,
        feature_names=data.feature_names,
        hooks=hooks,
        checkpoint_dir=checkpoints,
        ensemble_seeds=seeds,
        on_models=kept.append if kept is not None else None,
    )
    return fit_predict, data.train, data.test


def test_one_seed_is_member_zero_of_an_ensemble(tmp_path: Path) -> None:
    single: list[BlockModels] = []
    pair: list[BlockModels] = []
    fit1, train, block = _fit(None, 1, kept=single)
    fit2, _, _ = _fit(None, 2, kept=pair)
    fit1(train, block)
    fit2(train, block)
    a, b = single[0].members[0].model.state_dict(), pair[0].members[0].model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = pair[0].members[1].model.state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)  # member 1 has its own seed


def test_a_stop_inside_the_second_member_resumes_to_the_same_predictions(tmp_path: Path) -> None:
    fit, train, block = _fit(None, 2)
    straight = fit(train, block)
    epochs_seen: list[int] = []

    def stop_in_member_one() -> bool:
        return len(epochs_seen) >= 3  # member 0 did 2 epochs, member 1 one

    hooks = TrainHooks(on_epoch=lambda m: epochs_seen.append(m.epoch), should_stop=stop_in_member_one)
    fit_stopping, _, _ = _fit(tmp_path, 2, hooks)
    with pytest.raises(TrainingInterrupted):
        fit_stopping(train, block)
    first_bar = int(block.end_rows[0])
    assert {p.name for p in tmp_path.glob("*.pt")} == {
        f"walk_forward_{first_bar}.pt",
        f"walk_forward_{first_bar}_m1.pt",
    }
    resumed_fit, _, _ = _fit(tmp_path, 2)
    np.testing.assert_array_equal(resumed_fit(train, block), straight)
