"""Final evaluation: the tuned model and honest baselines scored on the untouched test segment."""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperopt_cli.data.prepare import PreparedData, Segment
from hyperopt_cli.training.metrics import classification_metrics, trading_score
from hyperopt_cli.training.seeding import derive_seed


def score_predictions(segment: Segment, pred: np.ndarray) -> dict[str, Any]:
    """Classification metrics plus the trading score of predictions on one segment."""
    out = dict(classification_metrics(segment.labels, pred))
    out["trading_score"] = float(trading_score(pred, segment.forward_returns))
    out["n_samples"] = int(len(segment))
    return out


def baselines(data: PreparedData, seed: int) -> dict[str, dict[str, Any]]:
    """Majority class, stratified random, and logistic regression on the last bar's features."""
    from sklearn.linear_model import LogisticRegression  # 0.9 s to import: only the final evaluation needs it
    train, test = data.train, data.test
    counts = train.class_counts()
    majority = int(np.argmax(counts))
    rng = np.random.default_rng(derive_seed(seed, "baseline", "stratified"))
    shares = counts / counts.sum()
    logreg = LogisticRegression(max_iter=500, class_weight="balanced")
    x_train = np.nan_to_num(train.last_bar_features().astype(np.float64))
    x_test = np.nan_to_num(test.last_bar_features().astype(np.float64))
    if len(np.unique(train.labels)) > 1:
        logreg.fit(x_train, train.labels)
        logreg_pred = logreg.predict(x_test)
    else:
        logreg_pred = np.full(len(test), majority)
    return {
        "majority_class": score_predictions(test, np.full(len(test), majority)),
        "stratified_random": score_predictions(test, rng.choice(3, size=len(test), p=shares)),
        "logistic_regression": score_predictions(test, logreg_pred.astype(np.int64)),
    }
