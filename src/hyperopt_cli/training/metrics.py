"""Validation metrics from class indices (0 = SELL, 1 = HOLD, 2 = BUY), in plain numpy.

Macro averages always run over the three classes, a class with no true and no predicted
sample scoring 0 (scikit-learn's ``labels=[0, 1, 2], zero_division=0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_CLASSES = 3
COLLAPSE_LIMIT = 0.9  # share of predictions in one class above which a model counts as collapsed
# Contiguous sub-blocks of a validation segment: the paired units of the incumbent guard and of PBO.
# Runs started before confirmation existed used 4; a run's count is trainer.val_sub_blocks (default 8).
SUB_BLOCKS = 4


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(3, 3) counts; rows are true classes, columns predicted ones."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= N_CLASSES):
            raise ValueError(
                f"{name} must hold class indices 0..{N_CLASSES - 1}, got values in [{values.min()}, {values.max()}]"
            )
    return np.bincount(y_true * N_CLASSES + y_pred, minlength=N_CLASSES * N_CLASSES).reshape(N_CLASSES, N_CLASSES)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(num.shape, dtype=np.float64), where=den > 0)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """macro_f1, macro_precision, macro_recall, accuracy, per_class_f1, pred_distribution, collapsed."""
    cm = confusion_matrix(y_true, y_pred).astype(np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, actual)
    f1 = _ratio(2 * tp, predicted + actual)  # = 2PR / (P + R), and 0 where undefined
    n = cm.sum()
    distribution = predicted / n if n else np.zeros(N_CLASSES)
    return {
        "macro_f1": float(f1.mean()),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "per_class_f1": [float(v) for v in f1],
        "pred_distribution": [float(v) for v in distribution],
        "collapsed": is_collapsed(distribution),
    }


def prediction_distribution(y_pred: np.ndarray) -> np.ndarray:
    """Share of predictions in each class (zeros for no predictions)."""
    counts = np.bincount(np.asarray(y_pred, dtype=np.int64), minlength=N_CLASSES).astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


def is_collapsed(pred_distribution: np.ndarray | list[float], limit: float = COLLAPSE_LIMIT) -> bool:
    """True when more than `limit` of the predictions fall in one class (mode collapse)."""
    return bool(np.max(np.asarray(pred_distribution, dtype=np.float64)) > limit)


def trading_score(pred: np.ndarray, forward_returns: np.ndarray) -> float:
    """Market-neutral skill of the predicted signals: cov(s, r) / std(r) over the scored samples.

    Position s = pred - 1 (SELL -1, HOLD 0, BUY +1); r = forward log return over the label
    horizon; score = mean((s - mean(s)) * (r - mean(r))) / std(r). Demeaning the returns
    and scoring the signal's deviation from its own mean are the same number (both are the
    covariance), so a constant signal (always BUY, always HOLD) scores exactly 0 on any
    segment, and adding a constant to every return (the market's drift) changes no score:
    the score measures timing, not leaning with the trend. It does not depend on the label
    parameters (only on predictions and prices), so it compares trials whose labels differ.
    Samples with a non-finite return are skipped; 0 when std(r) is 0.
    """
    pred = np.asarray(pred, dtype=np.int64)
    r = np.asarray(forward_returns, dtype=np.float64)
    if pred.shape != r.shape:
        raise ValueError(f"pred and forward_returns must have the same shape, got {pred.shape} and {r.shape}")
    finite = np.isfinite(r)
    if not finite.all():
        pred, r = pred[finite], r[finite]
    if r.size == 0:
        return 0.0
    centred = r - r.mean()
    std = float(np.sqrt(np.mean(centred**2)))
    if std == 0.0:
        return 0.0
    signal = (pred - 1).astype(np.float64)
    # A constant signal's mean is exact in float64, so its deviation (and the score) is exactly 0.
    return float(np.mean((signal - signal.mean()) * centred) / std)


def sub_blocks(n: int, k: int = SUB_BLOCKS) -> list[np.ndarray]:
    """`k` contiguous, near-equal index blocks of range(n) (fewer when n < k); empty n gives none."""
    return [block for block in np.array_split(np.arange(n), min(k, n)) if len(block)] if n else []


def block_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, sample_loss: np.ndarray, forward_returns: np.ndarray, k: int = SUB_BLOCKS
) -> dict[str, list[float]]:
    """The epoch metrics of each validation sub-block, keyed like EpochMetrics' fields."""
    out: dict[str, list[float]] = {
        k: [] for k in ("val_loss", "val_f1", "val_precision", "val_recall", "val_accuracy", "trading_score")
    }
    for idx in sub_blocks(len(y_true), k):
        m = classification_metrics(y_true[idx], y_pred[idx])
        out["val_loss"].append(float(np.mean(sample_loss[idx])))
        out["val_f1"].append(m["macro_f1"])
        out["val_precision"].append(m["macro_precision"])
        out["val_recall"].append(m["macro_recall"])
        out["val_accuracy"].append(m["accuracy"])
        out["trading_score"].append(trading_score(y_pred[idx], forward_returns[idx]))
    return out


def prior_cross_entropy(train_labels: np.ndarray, val_labels: np.ndarray) -> float:
    """Cross-entropy on `val_labels` of always predicting the training label shares (the climatology).

    The shares are smoothed by one count per class, so a class absent from training costs a
    finite amount; this is the score any model must beat to show skill on these labels.
    """
    counts = np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=N_CLASSES).astype(np.float64) + 1.0
    log_prior = np.log(counts / counts.sum())
    val = np.asarray(val_labels, dtype=np.int64)
    return float(-log_prior[val].mean()) if val.size else float("nan")
