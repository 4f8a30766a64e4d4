"""The purged, expanding-window folds inside train+validation that a trial is scored on.

Fold k of K validates on a block of samples as long as the validation segment; the blocks
are the last K such blocks of train+validation, in time order, and each fold trains on every
sample before its block whose label (horizon plus embargo) ends before the block starts.
The last fold is exactly the configured train/validation split, so `selection_folds: 1`
scores a trial as a single split does. The test segment is never part of any fold.
"""

from __future__ import annotations

import numpy as np

from hyperopt_cli.data.split import MIN_SAMPLES


def selection_splits(train_rows: np.ndarray, val_rows: np.ndarray, n_folds: int,
                     purge: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validation) positions into concat(train_rows, val_rows) per fold, oldest first.

    `train_rows`/`val_rows` are the sample bars of the configured split (ascending). Folds
    whose training part would hold fewer than MIN_SAMPLES["train"] samples are left out, so
    short data gets fewer folds instead of an error; the last fold is always there.
    """
    pool = np.concatenate([train_rows, val_rows])
    n_val = len(val_rows)
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    for back in range(n_folds, 0, -1):  # back = K .. 1: blocks ending K-1 .. 0 validation lengths before the end
        stop = len(pool) - (back - 1) * n_val
        start = stop - n_val
        if start <= 0:
            continue
        fit = np.flatnonzero(pool[:start] + purge < pool[start])
        if back > 1 and len(fit) < MIN_SAMPLES["train"]:
            continue
        folds.append((fit, np.arange(start, stop)))
    return folds
