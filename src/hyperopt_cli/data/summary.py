"""What `hyperopt data` shows and exports: the prepared data's summary and every bar's label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperopt_cli.config import LabelsConfig, OptimizationConfig, families_for
from hyperopt_cli.core.atomic import atomic_write_text
from hyperopt_cli.core.errors import DataError
from hyperopt_cli.data.labels import triple_barrier_labels
from hyperopt_cli.data.load import load_data
from hyperopt_cli.data.prepare import DataPreparer, symbol_names


def data_summary(cfg: OptimizationConfig) -> tuple[dict[str, Any], pd.DataFrame]:
    """The summary of the config's data (bars, range, features, labels per segment, purge) and the bars."""
    ohlcv = load_data(cfg)
    info = dict(DataPreparer.for_run(ohlcv, cfg).prepare(cfg.labels, families_for(cfg, {})).info)
    info.setdefault("source", cfg.data.path or "synthetic")
    if cfg.data.path is None:
        info["source"] = (
            f"synthetic ({cfg.data.synthetic.n_bars} bars, seed "
            f"{cfg.data.synthetic.seed if cfg.data.synthetic.seed is not None else cfg.seed})"
        )
    return info, ohlcv


def export_labels(ohlcv: pd.DataFrame | list[pd.DataFrame], labels_cfg: LabelsConfig, path: Path) -> int:
    """Write `timestamp,label` (label in -1/0/1) for every labelled bar, atomically; returns the row count.

    Several symbols (a list of frames): `symbol,timestamp,label`, each symbol labelled on its own bars.
    """
    if not path.parent.is_dir():
        raise DataError(f"--export {path}: folder {path.parent} does not exist")
    if isinstance(ohlcv, pd.DataFrame):
        frame = _labelled(ohlcv, labels_cfg)
    else:
        frame = pd.concat(
            [
                _labelled(f, labels_cfg).assign(symbol=symbol)[["symbol", "timestamp", "label"]]
                for f, symbol in zip(ohlcv, symbol_names(ohlcv))
            ],
            ignore_index=True,
        )
    atomic_write_text(path, frame.to_csv(index=False))
    return len(frame)


def _labelled(ohlcv: pd.DataFrame, labels_cfg: LabelsConfig) -> pd.DataFrame:
    labels, valid = triple_barrier_labels(ohlcv["close"].to_numpy(dtype=np.float64), labels_cfg)
    return pd.DataFrame({"timestamp": ohlcv.index[valid].strftime("%Y-%m-%dT%H:%M:%S%z"), "label": labels[valid]})


def feature_family_rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per feature family for `hyperopt data`: its columns, whether the config uses it, what was dropped.

    `used` is false for a family the config leaves out and for one whose columns are all constant on the data.
    """
    from hyperopt_cli.data.features import FAMILIES

    kept = info.get("feature_families") or {}
    dropped = set(info.get("dropped_columns") or [])
    return [
        {
            "family": family,
            "columns": list(columns),
            "used": bool(kept.get(family)),
            "dropped": [c for c in columns if c in dropped],
        }
        for family, columns in FAMILIES.items()
    ]


def feature_family_lines(info: dict[str, Any]) -> list[str]:
    """`feature_family_rows` as plain lines for `hyperopt data`, e.g. `candle: range, body, ... (used)`."""
    lines = []
    for row in feature_family_rows(info):
        state = "used" if row["used"] else "not used"
        dropped = f"; constant, dropped: {', '.join(row['dropped'])}" if row["dropped"] else ""
        lines.append(f"  {row['family']}: {', '.join(row['columns'])} ({state}{dropped})")
    return lines
