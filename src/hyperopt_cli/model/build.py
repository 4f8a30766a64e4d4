"""A model folder from trained members: the manifest holds everything predict needs without the run's config."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hyperopt_cli import __version__
from hyperopt_cli.config import OptimizationConfig, families_for, model_for, with_params
from hyperopt_cli.core.clock import now_iso
from hyperopt_cli.data.prepare import CLASS_NAMES
from hyperopt_cli.model.artifact import save_model

if TYPE_CHECKING:
    from hyperopt_cli.data.panel import Scaler
    from hyperopt_cli.data.prepare import DataPreparer, Segment
    from hyperopt_cli.evaluation.lstm import BlockModels


def _iso(ts: np.datetime64) -> str:
    return pd.Timestamp(ts).tz_localize("UTC").isoformat()


def package_versions() -> dict[str, str]:
    import torch

    return {
        "hyperopt_cli": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def bar_seconds(timestamps: np.ndarray) -> float | None:
    """Median spacing of datetime64[ns] timestamps in seconds; None for fewer than two."""
    if len(timestamps) < 2:
        return None
    return float(np.median(np.diff(timestamps.astype("datetime64[ns]").astype(np.int64)))) / 1e9


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in values]


def scaler_section(scaler: Scaler, symbols: tuple[str, ...], fitted_up_to: str) -> dict[str, Any]:
    """model.json's `scaler`: float32 values as the training scaled with them, (raw - mean) / std, NaN -> 0.

    One symbol: `mean`/`std`, as always. Several: `scaling`, then the pooled `mean`/`std` (every
    symbol, seen or not, is scaled with them) or `by_symbol` (each symbol's own; no top-level
    `mean`/`std`, so a version that knows nothing of symbols refuses the model rather than scale
    every file with one symbol's statistics).
    """
    if len(symbols) == 1:
        return {"mean": _floats(scaler.mean[0]), "std": _floats(scaler.std[0]), "fitted_up_to": fitted_up_to}
    if scaler.scaling == "pooled":
        return {
            "scaling": "pooled",
            "mean": _floats(scaler.mean[0]),
            "std": _floats(scaler.std[0]),
            "fitted_up_to": fitted_up_to,
        }
    by_symbol = {
        symbol: {"mean": _floats(scaler.mean[s]), "std": _floats(scaler.std[s])} for s, symbol in enumerate(symbols)
    }
    return {"scaling": scaler.scaling, "by_symbol": by_symbol, "fitted_up_to": fitted_up_to}


def _training_precision(precision: str, device: str) -> str:
    from hyperopt_cli.training.precision import resolve_precision
    from hyperopt_cli.training.trainer import resolve_device

    return resolve_precision(precision, resolve_device(device))


def build_manifest(
    cfg: OptimizationConfig,
    fixed: dict[str, Any],
    preparer: DataPreparer,
    train: Segment,
    kind: str,
    evaluation: dict[str, Any] | None,
    data_fingerprint: dict[str, Any] | None,
) -> dict[str, Any]:
    """model.json's content (without `format`/`members`, which save_model adds)."""
    trainer_cfg, labels_cfg = with_params(cfg, fixed)
    model_cfg, window = model_for(cfg, fixed)
    data = preparer.prepare(labels_cfg, families_for(cfg, fixed), window)  # cached: the columns, bars, range, bar size
    names, info = data.feature_names, data.info
    # the walk-forward block's own scaler: fitted on every symbol's complete rows up to its last training sample
    scaler = preparer.scaler_until(train.timestamps.max(), names)
    symbols = tuple(preparer.symbols)
    return {
        "kind": kind,
        "created_at": now_iso(),
        "architecture": {
            "class": "LSTMClassifier",
            "n_features": len(names),
            "hidden_size": model_cfg.hidden_size,
            "num_layers": model_cfg.num_layers,
            "dropout": trainer_cfg.dropout,
            "n_classes": len(CLASS_NAMES),
            "dtype": "float32",
            "training_precision": _training_precision(trainer_cfg.precision, trainer_cfg.device),
        },
        "ensemble": {"size": cfg.ensemble_seeds, "rule": "mean of the members' softmax probabilities"},
        "features": {
            "names": list(names),
            "window": int(train.window),
            "warmup_bars": int(preparer.warmup_bars),
            "families": list(data.families),
        },  # predict builds exactly `names` (issue 26)
        **({"symbols": list(symbols)} if len(symbols) > 1 else {}),  # one symbol: the manifest as it always was
        "scaler": scaler_section(scaler, symbols, _iso(train.timestamps.max())),
        "labels": {**dataclasses.asdict(labels_cfg), "class_names": list(CLASS_NAMES)},
        "training": {
            "first_timestamp": _iso(train.timestamps[0]),
            "last_timestamp": _iso(train.timestamps[-1]),
            "n_samples": len(train),
            "bar_size": info.get("bar_size"),
            "bar_seconds": bar_seconds(preparer.timestamps),
            "epochs": cfg.epochs_per_trial,
            "params": dict(fixed),
            "trainer": dataclasses.asdict(trainer_cfg),
        },
        "data": {
            **(data_fingerprint or {"path": cfg.data.path}),
            "first_timestamp": info.get("first_timestamp"),
            "last_timestamp": info.get("last_timestamp"),
            "timezone": cfg.data.timezone,
            "timestamp_column": cfg.data.timestamp_column,
        },
        "versions": package_versions(),
        "evaluation": evaluation,
    }


def save_block_models(
    model_dir: Path,
    cfg: OptimizationConfig,
    fixed: dict[str, Any],
    preparer: DataPreparer,
    models: BlockModels,
    final: dict[str, Any],
    data_fingerprint: dict[str, Any] | None,
) -> None:
    """RUN_DIR/model/ from the last walk-forward block's members, with the test metrics and verdict they earned."""
    evaluation = {
        "what": "trained on every labelled bar before the last walk-forward block; scored with the other blocks",
        "test_metrics": final.get("test_metrics"),
        "verdict": final.get("verdict"),
        "test_range": final.get("test_range"),
        "walk_forward_blocks": cfg.walk_forward_blocks,
        "last_block": [_iso(models.block.timestamps[0]), _iso(models.block.timestamps[-1])],
    }
    manifest = build_manifest(
        cfg, fixed, preparer, models.train, "walk_forward_last_block", evaluation, data_fingerprint
    )
    manifest["training"]["epochs"] = int(final.get("epochs") or cfg.epochs_per_trial)  # selection's choice
    manifest["decision"] = models.rule.as_dict()  # how `predict` turns the members' probabilities into signals
    save_model(model_dir, [m.model.state_dict() for m in models.members], manifest)
