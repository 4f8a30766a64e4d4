"""Cutting a walk-forward fold's training samples: the purged inner validation part, and sub-segments.

One definition for the LSTM (which validates on the inner part while it trains), the baselines
(which fit their decision rule on it) and `export --refit`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hyperopt_cli.data.panel import unique_times
from hyperopt_cli.data.prepare import Segment

VAL_FRACTION = 0.15  # share of a fold's training samples (the latest, purged) used for validation


def inner_split(train: Segment, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) positions into `train`: its last `val_fraction` of times, purged, validate."""
    distinct = unique_times(train.timestamps)
    n_val = max(1, int(round(len(distinct) * val_fraction)))
    first_val_time = distinct[len(distinct) - n_val]
    fit = np.flatnonzero(train.label_ends < first_val_time)
    val = np.arange(int(np.searchsorted(train.timestamps, first_val_time, side="left")), len(train))
    return fit, val


def sub_segment(segment: Segment, name: str, idx: np.ndarray) -> Segment:
    """The samples `idx` of `segment` (sharing its feature array)."""
    return dataclasses.replace(
        segment,
        name=name,
        end_rows=segment.end_rows[idx],
        labels=segment.labels[idx],
        forward_returns=segment.forward_returns[idx],
        timestamps=segment.timestamps[idx],
        label_ends=None if segment.label_ends is None else segment.label_ends[idx],
        symbols=None if segment.symbols is None else segment.symbols[idx],
    )
