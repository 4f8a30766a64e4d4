"""The baselines the LSTM has to beat, each fitted only on the training rows it is given.

Every baseline is ``fit_predict(train, test, seed) -> class index per test sample``: it
sees the labels of `train` only, and the same inputs and seed give the same predictions.
scikit-learn is imported inside the functions (0.9 s): only the final evaluation needs it.

The ones that output probabilities (the logistic regressions, gradient boosting) get the
same decision rule as the LSTM where the run fits one (`baselines_for("fitted")`): fitted
on the inner validation part of the block's training samples with the model fitted on the
rest, then applied to the probabilities of the model fitted on all of them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hyperopt_cli.data.prepare import Segment
from hyperopt_cli.evaluation.decision import ARGMAX, RuledPrediction, fit_rule
from hyperopt_cli.evaluation.segments import VAL_FRACTION, inner_split, sub_segment
from hyperopt_cli.training.seeding import derive_seed

Baseline = Callable[[Segment, Segment, int], "np.ndarray | RuledPrediction"]
Probabilities = Callable[[Segment, Segment, int], np.ndarray]  # (train, test, seed) -> (n_test, 3)

MAX_ITER_LOGISTIC = 500  # lbfgs iterations; enough to converge on standardised features
# The flattened window has window x features inputs (672 by default): strong L2 keeps lbfgs
# at ~30 iterations (1.4 s on EURUSD) where C=0.01 needs ~90 (8 s) for a similar macro-F1.
C_WINDOW = 0.001
# 50 rounds of 8-leaf trees: ~1.3 s on 4,000 rows where the default 100 x 31 takes ~10 s.
BOOSTING_ROUNDS = 50
BOOSTING_LEAVES = 8


def _majority(train: Segment) -> int:
    return int(np.argmax(train.class_counts()))


def _constant(train: Segment, test: Segment) -> np.ndarray | None:
    """Majority-class predictions when `train` holds a single class (nothing to fit), else None."""
    if len(np.unique(train.labels)) > 1:
        return None
    return np.full(len(test), _majority(train), dtype=np.int64)


def majority_class(train: Segment, test: Segment, seed: int) -> np.ndarray:
    """Always the most frequent training class."""
    return np.full(len(test), _majority(train), dtype=np.int64)


def stratified_random(train: Segment, test: Segment, seed: int) -> np.ndarray:
    """Random classes drawn with the training class shares."""
    counts = train.class_counts()
    rng = np.random.default_rng(derive_seed(seed, "baseline", "stratified"))
    return rng.choice(3, size=len(test), p=counts / counts.sum()).astype(np.int64)


def _last_bar(segment: Segment) -> np.ndarray:
    return np.nan_to_num(segment.last_bar_features().astype(np.float64))


def _flat_window(segment: Segment) -> np.ndarray:
    return segment.windows(np.arange(len(segment))).reshape(len(segment), -1).astype(np.float64)


def _full_probs(model: object, x: np.ndarray) -> np.ndarray:
    """(n, 3) probabilities with a column for every class, also those the training rows lacked."""
    out = np.zeros((len(x), 3), dtype=np.float64)
    out[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(x)  # type: ignore[attr-defined]
    return out


def _constant_probs(train: Segment, test: Segment) -> np.ndarray | None:
    """One-hot majority probabilities when `train` holds a single class (nothing to fit), else None."""
    constant = _constant(train, test)
    return None if constant is None else np.eye(3)[constant]


def logistic_regression_probs(train: Segment, test: Segment, seed: int) -> np.ndarray:
    """Class-balanced logistic regression on the last bar's features: probabilities."""
    return _logistic(_last_bar(train), train, _last_bar(test), test, c=1.0)


def logistic_regression_window_probs(train: Segment, test: Segment, seed: int) -> np.ndarray:
    """Class-balanced logistic regression on the whole window, flattened (what the LSTM sees): probabilities."""
    return _logistic(_flat_window(train), train, _flat_window(test), test, c=C_WINDOW)


def _logistic(x_train: np.ndarray, train: Segment, x_test: np.ndarray, test: Segment, c: float) -> np.ndarray:
    constant = _constant_probs(train, test)
    if constant is not None:
        return constant
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=MAX_ITER_LOGISTIC, class_weight="balanced")
    model.fit(x_train, train.labels)
    return _full_probs(model, x_test)


def gradient_boosting_probs(train: Segment, test: Segment, seed: int) -> np.ndarray:
    """Class-balanced histogram gradient boosting on the last bar's features: probabilities."""
    constant = _constant_probs(train, test)
    if constant is not None:
        return constant
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    model = HistGradientBoostingClassifier(
        class_weight="balanced",
        max_iter=BOOSTING_ROUNDS,
        max_leaf_nodes=BOOSTING_LEAVES,
        early_stopping=False,  # no internal split: it would hold out the latest rows at random
        random_state=derive_seed(seed, "baseline", "gradient_boosting") % 2**32,
    )
    # One OpenMP thread: on a few thousand rows, extra threads mostly spin-wait (3x slower on 2 busy cores).
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(_last_bar(train), train.labels)
        return _full_probs(model, _last_bar(test))


def argmax_of(probabilities: Probabilities) -> Baseline:
    """The baseline deciding by plain argmax of its probabilities (what sklearn's predict does)."""

    def fit_predict(train: Segment, test: Segment, seed: int) -> np.ndarray:
        return probabilities(train, test, seed).argmax(axis=1).astype(np.int64)

    fit_predict.__doc__ = probabilities.__doc__
    return fit_predict


def ruled(probabilities: Probabilities, val_fraction: float = VAL_FRACTION) -> Baseline:
    """The baseline deciding by a rule fitted on out-of-fold predictions of its inner validation part."""

    def fit_predict(train: Segment, test: Segment, seed: int) -> RuledPrediction:
        fit, val = inner_split(train, val_fraction)
        probs = probabilities(train, test, seed)
        argmax = probs.argmax(axis=1).astype(np.int64)
        if len(fit) == 0 or len(val) == 0:
            return RuledPrediction(argmax, argmax, fit_rule(np.empty((0, 3)), np.empty(0)))
        val_probs = probabilities(sub_segment(train, "train", fit), sub_segment(train, "val", val), seed)
        rule = fit_rule(val_probs, train.labels[val])
        return RuledPrediction(rule.apply(probs, argmax), argmax, rule)

    return fit_predict


logistic_regression = argmax_of(logistic_regression_probs)
logistic_regression_window = argmax_of(logistic_regression_window_probs)
gradient_boosting = argmax_of(gradient_boosting_probs)
PROBABILITIES: dict[str, Probabilities] = {
    "logistic_regression": logistic_regression_probs,
    "gradient_boosting": gradient_boosting_probs,
    "logistic_regression_window": logistic_regression_window_probs,
}


BASELINES: dict[str, Baseline] = {
    "majority_class": majority_class,
    "stratified_random": stratified_random,
    "logistic_regression": logistic_regression,
    "gradient_boosting": gradient_boosting,
    "logistic_regression_window": logistic_regression_window,
}


def baselines_for(decision_rule: str) -> dict[str, Baseline]:
    """The baselines, those with probabilities deciding by the run's rule ("fitted" or "argmax")."""
    if decision_rule == ARGMAX:
        return dict(BASELINES)
    return {
        name: ruled(PROBABILITIES[name]) if name in PROBABILITIES else baseline for name, baseline in BASELINES.items()
    }


DISPLAY_NAMES: dict[str, str] = {
    "majority_class": "the majority class",
    "stratified_random": "stratified random guessing",
    "logistic_regression": "logistic regression",
    "gradient_boosting": "gradient boosting",
    "logistic_regression_window": "logistic regression on the window",
}
