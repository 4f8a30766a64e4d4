"""Which inputs the model uses: permutation importance per feature family on the last walk-forward block.

For each family, its columns are shuffled across the block's samples (the same permutation
for every column and every bar of a window, so a window's own pattern in that family is
kept but belongs to another sample), the members predict again, and the drop in macro-F1
and the rise in cross-entropy against the unshuffled prediction are that family's
importance. A family the model ignores scores 0 on both; a negative value is noise.
Seeded per family, so a rerun gives the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hyperopt_cli.data.features import FAMILY_NAMES, family_of
from hyperopt_cli.data.prepare import Segment
from hyperopt_cli.evaluation.importance_table import IMPORTANCE_HEADER, importance_rows  # noqa: F401 - re-exported
from hyperopt_cli.training.ensemble import combine_members
from hyperopt_cli.training.metrics import classification_metrics
from hyperopt_cli.training.seeding import numpy_rng

if TYPE_CHECKING:
    from hyperopt_cli.evaluation.lstm import BlockModels

PROB_FLOOR = 1e-7  # probabilities are clipped here before the log: one confident miss must not be infinite


def cross_entropy(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-probability of the true class."""
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, PROB_FLOOR, 1.0))))


def _as_segment(block: Segment, windows: np.ndarray) -> Segment:
    """A segment whose sample i has exactly the window `windows[i]` (windows laid end to end, no overlap)."""
    n, window, n_features = windows.shape
    return Segment(
        name=block.name,
        features=windows.reshape(n * window, n_features),
        end_rows=np.arange(n, dtype=np.int64) * window + window - 1,
        labels=block.labels,
        forward_returns=block.forward_returns,
        timestamps=block.timestamps,
        window=window,
        label_ends=block.label_ends,
        symbols=block.symbols,
    )


def _ensemble(members: list[Any], segment: Segment, batch_size: int, device: str) -> tuple[np.ndarray, np.ndarray]:
    from hyperopt_cli.training.trainer import predict, resolve_device

    outputs = [predict(m, segment, batch_size, resolve_device(device)) for m in members]
    return combine_members([p for p, _ in outputs], [q for _, q in outputs])


def permutation_importance(
    members: list[Any],
    block: Segment,
    feature_names: tuple[str, ...],
    seed: int,
    batch_size: int = 1024,
    device: str = "cpu",
) -> dict[str, Any]:
    """Per family of `feature_names`: macro-F1 drop and cross-entropy rise when its columns are shuffled.

    `members` are trained models (nn.Module); the ensemble votes by mean probability as in the walk-forward.
    """
    windows = block.windows(np.arange(len(block)))
    pred, probs = _ensemble(members, _as_segment(block, windows), batch_size, device)
    base_f1 = float(classification_metrics(block.labels, pred)["macro_f1"])
    base_ce = cross_entropy(block.labels, probs)
    families: dict[str, Any] = {}
    for family in FAMILY_NAMES:
        cols = [j for j, name in enumerate(feature_names) if family_of(name) == family]
        if not cols:
            continue
        order = numpy_rng(seed, "importance", family).permutation(len(block))
        shuffled = windows.copy()
        shuffled[:, :, cols] = windows[order][:, :, cols]
        p_pred, p_probs = _ensemble(members, _as_segment(block, shuffled), batch_size, device)
        families[family] = {
            "columns": [feature_names[j] for j in cols],
            "macro_f1_drop": base_f1 - float(classification_metrics(block.labels, p_pred)["macro_f1"]),
            "cross_entropy_rise": cross_entropy(block.labels, p_probs) - base_ce,
        }
    return {"block_samples": len(block), "macro_f1": base_f1, "cross_entropy": base_ce, "families": families}


def family_importance(
    models: BlockModels, feature_names: tuple[str, ...], seed: int, batch_size: int = 1024, device: str = "cpu"
) -> dict[str, Any]:
    """`permutation_importance` of a walk-forward block's trained members on that block."""
    members = [m.model for m in models.members]
    return permutation_importance(members, models.block, feature_names, seed, batch_size, device)
