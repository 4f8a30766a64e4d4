"""How several seeds' models vote: the mean of their softmax probabilities.

Numpy only, so the saved-model predict path and the walk-forward share one rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def combine_members(preds: Sequence[np.ndarray], probs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(class index (n,) int64, probabilities (n, 3) float32) of an ensemble from its members' outputs.

    One member keeps its own argmax of the logits, so a single-seed result is exactly what
    a plain model predicts (the softmax could round two close logits into a tie).
    """
    if len(preds) != len(probs) or not preds:
        raise ValueError(f"need as many member predictions as probabilities, got {len(preds)} and {len(probs)}")
    if len(preds) == 1:
        return np.asarray(preds[0], dtype=np.int64), np.asarray(probs[0], dtype=np.float32)
    mean = np.asarray(np.mean(np.stack([np.asarray(p, dtype=np.float32) for p in probs]), axis=0, dtype=np.float32))
    return mean.argmax(axis=1).astype(np.int64), mean
