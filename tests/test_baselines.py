from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hyperopt_cli.config import DataConfig, LabelsConfig
from hyperopt_cli.data.prepare import DataPreparer, PreparedData
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.evaluation.baselines import BASELINES, DISPLAY_NAMES
from hyperopt_cli.training.metrics import classification_metrics


@pytest.fixture(scope="module")
def data() -> PreparedData:
    return DataPreparer(synthetic_ohlcv(1500, seed=5), DataConfig(window=8)).prepare(LabelsConfig(horizon=6))


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_is_deterministic_and_predicts_classes(data: PreparedData, name: str) -> None:
    fit_predict = BASELINES[name]
    pred = fit_predict(data.train, data.test, 3)
    assert pred.shape == (len(data.test),) and pred.dtype == np.int64
    assert set(np.unique(pred)) <= {0, 1, 2}
    np.testing.assert_array_equal(fit_predict(data.train, data.test, 3), pred)
    assert name in DISPLAY_NAMES


@pytest.mark.parametrize("name", ["logistic_regression", "gradient_boosting", "logistic_regression_window"])
def test_fitted_models_learn_from_the_training_labels_they_are_given(data: PreparedData, name: str) -> None:
    pred = BASELINES[name](data.train, data.test, 0)
    flipped = dataclasses.replace(data.train, labels=2 - data.train.labels)  # SELL <-> BUY
    pred_flipped = BASELINES[name](flipped, data.test, 0)
    assert (pred_flipped != pred).mean() > 0.2


@pytest.mark.parametrize("name", list(BASELINES))
def test_a_single_class_training_set_predicts_that_class(data: PreparedData, name: str) -> None:
    only_hold = dataclasses.replace(data.train, labels=np.ones(len(data.train), np.int64))
    assert (BASELINES[name](only_hold, data.test, 0) == 1).all()


def test_window_regression_sees_a_pattern_the_last_bar_cannot(data: PreparedData) -> None:
    """Labels planted in the feature of 4 bars earlier: only the window model can find them."""

    def planted(segment):  # type: ignore[no-untyped-def]
        earlier = segment.features[segment.end_rows - 4, 0]
        labels = np.where(earlier > 0.5, 2, np.where(earlier < -0.5, 0, 1)).astype(np.int64)
        return dataclasses.replace(segment, labels=labels)

    train, test = planted(data.train), planted(data.test)
    f1 = {
        name: classification_metrics(test.labels, BASELINES[name](train, test, 0))["macro_f1"]
        for name in ("logistic_regression", "logistic_regression_window")
    }
    assert f1["logistic_regression_window"] > f1["logistic_regression"] + 0.2
