"""Chronological, purged train/validation/test segments of zero-copy training windows.

CONTRACT (other modules rely on these names; keep them):
- class index 0 = SELL (label -1), 1 = HOLD (label 0), 2 = BUY (label +1).
- `Segment.windows(idx)` gathers only the requested batch; no N x window x features copy.
- `DataPreparer(ohlcv, data_cfg).prepare(labels_cfg)` is cached by the label values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

CLASS_NAMES: tuple[str, str, str] = ("SELL", "HOLD", "BUY")


@dataclass(frozen=True)
class Segment:
    """One chronological segment (train, val or test) of labelled samples."""

    name: str  # "train" | "val" | "test"
    features: np.ndarray  # (n_rows, n_features) float32, scaled; shared by all segments
    end_rows: np.ndarray  # (n_samples,) int64: row in `features` of each sample's last bar
    labels: np.ndarray  # (n_samples,) int64 class index 0=SELL 1=HOLD 2=BUY
    forward_returns: np.ndarray  # (n_samples,) float64: log(close[t+horizon] / close[t])
    timestamps: np.ndarray  # (n_samples,) datetime64[ns] (UTC) of each sample's last bar
    window: int  # bars of history per sample

    def __len__(self) -> int:
        return int(self.end_rows.shape[0])

    def windows(self, idx: np.ndarray) -> np.ndarray:
        """The windows of samples `idx`: (len(idx), window, n_features) float32, a fresh batch array."""
        raise NotImplementedError

    def last_bar_features(self) -> np.ndarray:
        """(n_samples, n_features): each sample's last-bar features (for the baseline models)."""
        return self.features[self.end_rows]

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=3)


@dataclass(frozen=True)
class PreparedData:
    """Everything a trial trains and evaluates on; built once per label setting."""

    train: Segment
    val: Segment
    test: Segment
    feature_names: tuple[str, ...]
    class_weights: np.ndarray  # (3,) float32 inverse class frequency on train, mean 1
    purge_bars: int  # bars dropped before each boundary (horizon + embargo)
    info: dict[str, Any] = field(default_factory=dict)  # summary shown by `hyperopt data`

    @property
    def n_features(self) -> int:
        return len(self.feature_names)
