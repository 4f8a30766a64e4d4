"""Permutation importance per feature family (issue 26, item 5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hyperopt_cli.config import DataConfig, LabelsConfig
from hyperopt_cli.data.features import FAMILIES
from hyperopt_cli.data.prepare import DataPreparer, PreparedData
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.evaluation.importance import cross_entropy, importance_rows, permutation_importance
from hyperopt_cli.training.model import LSTMClassifier


@pytest.fixture(scope="module")
def data() -> PreparedData:
    return DataPreparer(synthetic_ohlcv(1500, seed=3), DataConfig(window=8)).prepare(
        LabelsConfig(), ("returns", "candle")
    )


def model_blind_to(data: PreparedData, family: str) -> LSTMClassifier:
    """A random LSTM whose input weights for `family`'s columns are zero: it cannot see that family."""
    torch.manual_seed(0)
    model = LSTMClassifier(data.n_features, 8, 1, 0.0).eval()
    blind = [j for j, name in enumerate(data.feature_names) if name in FAMILIES[family]]
    with torch.no_grad():
        model.lstm.weight_ih_l0[:, blind] = 0.0
        model.head.weight.mul_(20.0)  # confident predictions, so a seen family moves them
    return model


def test_a_family_the_model_cannot_see_scores_exactly_zero(data: PreparedData) -> None:
    out = permutation_importance([model_blind_to(data, "candle")], data.test, data.feature_names, seed=1)
    assert set(out["families"]) == {"returns", "candle"}
    assert out["families"]["candle"] == {
        "columns": list(FAMILIES["candle"]),
        "macro_f1_drop": 0.0,
        "cross_entropy_rise": 0.0,
    }
    assert out["families"]["returns"]["cross_entropy_rise"] != 0.0
    assert out["block_samples"] == len(data.test)


def test_importance_is_seeded(data: PreparedData) -> None:
    members = [model_blind_to(data, "candle"), model_blind_to(data, "returns")]
    first = permutation_importance(members, data.test, data.feature_names, seed=4)
    assert first == permutation_importance(members, data.test, data.feature_names, seed=4)
    assert first != permutation_importance(members, data.test, data.feature_names, seed=5)


def test_baseline_scores_are_the_unshuffled_predictions(data: PreparedData) -> None:
    from hyperopt_cli.training.metrics import classification_metrics
    from hyperopt_cli.training.trainer import predict

    model = model_blind_to(data, "candle")
    pred, probs = predict(model, data.test, 64, "cpu")
    out = permutation_importance([model], data.test, data.feature_names, seed=1)
    assert out["macro_f1"] == classification_metrics(data.test.labels, pred)["macro_f1"]
    assert out["cross_entropy"] == cross_entropy(data.test.labels, probs)


def test_cross_entropy_is_the_mean_negative_log_probability_of_the_true_class() -> None:
    probs = np.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0]])
    assert cross_entropy(np.array([0, 0]), probs) == pytest.approx((np.log(2) - np.log(1e-7)) / 2)


def test_rows_rank_by_cross_entropy_rise() -> None:
    importance = {
        "families": {
            "candle": {"columns": ["range", "body"], "macro_f1_drop": 0.01, "cross_entropy_rise": 0.002},
            "returns": {"columns": ["ret_1"], "macro_f1_drop": 0.05, "cross_entropy_rise": 0.03},
        }
    }
    assert importance_rows(importance) == [
        ["returns", "ret_1", "+0.0500", "+0.0300"],
        ["candle", "range, body", "+0.0100", "+0.0020"],
    ]
    assert importance_rows(None) == []
