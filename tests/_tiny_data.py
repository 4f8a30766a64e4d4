"""A tiny PreparedData for training tests, built from arrays (no OHLCV, no labelling).

Importable from a fresh `python` process too (tests put this folder on sys.path), so the
subprocess resume test sees exactly the same data.
"""

from __future__ import annotations

import numpy as np

from hyperopt_cli.config import ModelConfig, TrainerConfig
from hyperopt_cli.data.panel import NEVER
from hyperopt_cli.data.prepare import PreparedData, Segment

PURGE = 4  # bars between segments: a label looks this far ahead


def tiny_data(n_rows: int = 420, n_features: int = 5, window: int = 8, seed: int = 0) -> PreparedData:
    """Features whose last bar hints at the class, so a tiny LSTM can learn something."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_rows, n_features)).astype(np.float32)
    signal = features[:, 0] + 0.5 * features[:, 1]
    labels_all = np.where(signal > 0.6, 2, np.where(signal < -0.6, 0, 1)).astype(np.int64)
    returns_all = (0.01 * signal + 0.005 * rng.standard_normal(n_rows)).astype(np.float64)
    stamps = np.arange(n_rows).astype("datetime64[h]").astype("datetime64[ns]")

    def segment(name: str, lo: int, hi: int) -> Segment:
        rows = np.arange(max(lo, window - 1), hi, dtype=np.int64)
        label_ends = np.where(rows + PURGE < n_rows, stamps[np.minimum(rows + PURGE, n_rows - 1)], NEVER)
        return Segment(
            name,
            features,
            rows,
            labels_all[rows],
            returns_all[rows],
            stamps[rows],
            window,
            label_ends=label_ends,
            symbols=np.zeros(len(rows), dtype=np.int16),
        )

    a, b = int(n_rows * 0.6), int(n_rows * 0.8)
    train = segment("train", 0, a)
    counts = np.bincount(train.labels, minlength=3).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1), 0.0)
    weights = (weights / weights[weights > 0].mean()).astype(np.float32)
    return PreparedData(
        train=train,
        val=segment("val", a + 4, b),
        test=segment("test", b + 4, n_rows),
        feature_names=tuple(f"f{i}" for i in range(n_features)),
        class_weights=weights,
        purge_bars=PURGE,
    )


def tiny_model() -> ModelConfig:
    return ModelConfig(hidden_size=6, num_layers=2)


def tiny_trainer(**overrides: object) -> TrainerConfig:
    """Fast defaults for tests: small batches, CPU, every knob otherwise at its default."""
    base = dict(batch_size=32, eval_batch_size=64, device="cpu", checkpoint_interval_s=3600.0)
    base.update(overrides)
    return TrainerConfig(**base)  # type: ignore[arg-type]


class StopAt:
    """A should_stop that says yes on its k-th call (1-based)."""

    def __init__(self, k: int) -> None:
        self.k, self.calls = k, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls == self.k
