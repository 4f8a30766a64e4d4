"""The purged, expanding-window folds inside train+validation that a trial is scored on.

Fold k of K validates on a block of samples as long (in distinct times) as the validation
segment; the blocks are the last K such blocks of train+validation, in time order, and each
fold trains on every sample before its block whose label (horizon plus embargo, in its own
symbol's bars) ends before the block starts, in every symbol.
The last fold is exactly the configured train/validation split, so `selection_folds: 1`
scores a trial as a single split does. The test segment is never part of any fold.
"""

from __future__ import annotations

import numpy as np

from hyperopt_cli.data.panel import unique_times
from hyperopt_cli.data.split import MIN_SAMPLES


def selection_splits(
    train_rows: np.ndarray, val_rows: np.ndarray, n_folds: int, purge: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validation) positions into concat(train_rows, val_rows) per fold, oldest first (one symbol).

    `train_rows`/`val_rows` are the sample bars of the configured split (ascending); the bars
    serve as times and `bar + purge` as each label's end (`selection_splits_by_time`).
    """
    pool = np.concatenate([train_rows, val_rows])
    return selection_splits_by_time(pool, pool + purge, len(train_rows), n_folds)


def selection_splits_by_time(
    times: np.ndarray, label_ends: np.ndarray, n_train: int, n_folds: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validation) positions into the train+validation pool per fold, oldest first.

    `times` (sorted) and `label_ends` are the pool's samples, the first `n_train` of them the
    configured training segment. A validation block spans as many distinct times as the
    validation segment, and holds every symbol's samples at those times; a fold trains on the
    samples whose label ends before its block starts. Folds whose training part would hold
    fewer than MIN_SAMPLES["train"] samples are left out, so short data gets fewer folds
    instead of an error; the last fold is always there.
    """
    distinct = unique_times(times)
    n_val_times = len(unique_times(times[n_train:]))
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    for back in range(n_folds, 0, -1):  # back = K .. 1: blocks ending K-1 .. 0 validation lengths before the end
        stop_t = len(distinct) - (back - 1) * n_val_times
        start_t = stop_t - n_val_times
        if start_t <= 0:
            continue
        start = int(np.searchsorted(times, distinct[start_t], side="left"))
        stop = len(times) if stop_t >= len(distinct) else int(np.searchsorted(times, distinct[stop_t], side="left"))
        fit = np.flatnonzero(label_ends[:start] < times[start])
        if back > 1 and len(fit) < MIN_SAMPLES["train"]:
            continue
        folds.append((fit, np.arange(start, stop)))
    return folds
