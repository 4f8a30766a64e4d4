"""Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, López de Prado & Zhu (2014), "The probability of backtest overfitting".
Given a matrix of scores, one row per configuration tried and one column per time unit
(here: a validation sub-block of a selection fold), split the columns into two halves in
every balanced way; in each split pick the configuration that is best in-sample and find
its relative rank out-of-sample. PBO is the share of splits in which the in-sample winner
ranks at or below the out-of-sample median: near 0, what the search picks tends to hold
up on data it was not picked on; near 0.5 or above, the pick is no better than chance.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

MAX_SPLITS = 2000  # past this many balanced splits, a seeded random sample of them


def _rank_of(values: np.ndarray, i: int) -> float:
    """1-based ascending rank of values[i], ties sharing their average rank."""
    return float((values < values[i]).sum() + ((values == values[i]).sum() + 1) / 2)


def pbo(
    scores: Sequence[Sequence[float]], higher_is_better: bool = True, seed: int = 0, max_splits: int = MAX_SPLITS
) -> float | None:
    """PBO of a (configurations x units) score matrix; None with fewer than 2 configurations or units.

    Rows holding a non-finite score are left out. With an odd number of units the oldest is
    dropped (CSCV needs an even split).
    """
    matrix = np.asarray([row for row in scores if len(row) and np.isfinite(row).all()], dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return None
    if not higher_is_better:
        matrix = -matrix
    if matrix.shape[1] % 2:
        matrix = matrix[:, 1:]
    n_configs, n_units = matrix.shape
    half = n_units // 2
    if math.comb(n_units, half) <= max_splits:
        splits: Sequence[Sequence[int]] = list(itertools.combinations(range(n_units), half))
    else:
        rng = np.random.default_rng(seed)
        splits = [sorted(rng.choice(n_units, size=half, replace=False)) for _ in range(max_splits)]
    below = 0
    for in_sample in splits:
        mask = np.zeros(n_units, dtype=bool)
        mask[list(in_sample)] = True
        winner = int(np.argmax(matrix[:, mask].mean(axis=1)))  # ties: the first configuration
        rank = _rank_of(matrix[:, ~mask].mean(axis=1), winner)
        omega = rank / (n_configs + 1)
        if math.log(omega / (1 - omega)) <= 0:
            below += 1
    return below / len(splits)
