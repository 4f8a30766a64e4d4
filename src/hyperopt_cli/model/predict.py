"""Signals from a saved model on new bars: load the file as `start` does, scale with the saved scaler, vote.

Several files (issue 24) are one symbol each, named by the file stem: a symbol the model
was trained on is scaled with its own saved statistics; an unseen one, under per-symbol
scaling, with the statistics of its own rows (an approximation, said in a warning); under
pooled scaling every symbol takes the pooled statistics. They give one table with a
`symbol` column first. One plain file gives today's table, without that column.

Only what inference needs is imported (the loader, the features, the scaler, the model
class): no optuna, no trainer. Windows are gathered per batch from a zero-copy view, so
memory stays one batch deep whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperopt_cli.core.errors import DataError
from hyperopt_cli.data.features import compute_features
from hyperopt_cli.data.load import load_ohlcv
from hyperopt_cli.data.panel import fit_scaler
from hyperopt_cli.data.prepare import CLASS_NAMES, apply_scaler
from hyperopt_cli.data.sources import expand_data_paths, is_pattern, symbol_of
from hyperopt_cli.model.artifact import SavedModel, load_model, model_dir_of
from hyperopt_cli.training.ensemble import combine_members

BATCH_SIZE = 1024  # windows per forward pass: measured faster than 256 or 4,096 (cache-sized, ~2.7 MB of input)
SPACING_TOLERANCE = 0.01  # relative difference of median bar spacings that still counts as the same
COLUMNS: tuple[str, ...] = ("timestamp", "signal", "p_sell", "p_hold", "p_buy")


@dataclass
class Prediction:
    """One row per bar with a full window of valid features, and what the caller should know."""

    frame: pd.DataFrame  # COLUMNS; timestamp as tz-aware UTC
    n_bars: int  # bars in the file
    lacking_history: int  # leading bars before the first full window of valid features
    skipped: int  # every bar without a full window (leading ones and any after gaps in the features)
    warnings: list[str] = field(default_factory=list)
    symbol: str | None = None  # the file's symbol (its stem), where it has one

    def summary(self) -> dict[str, Any]:
        return {
            "bars": self.n_bars,
            "predicted": len(self.frame),
            "lacking_history": self.lacking_history,
            "skipped": self.skipped,
            "warnings": list(self.warnings),
        }


@dataclass
class Predictions:
    """Several files' signals (one symbol each, in symbol order) as one table with a `symbol` column first."""

    parts: list[Prediction]

    @cached_property
    def frame(self) -> pd.DataFrame:
        frames = [part.frame.assign(symbol=part.symbol)[["symbol", *COLUMNS]] for part in self.parts]
        return pd.concat(frames, ignore_index=True)

    @property
    def warnings(self) -> list[str]:
        return [f"{part.symbol}: {warning}" for part in self.parts for warning in part.warnings]

    def summary(self) -> dict[str, Any]:
        """The totals over every file, then one summary per symbol."""
        return {
            "bars": sum(p.n_bars for p in self.parts),
            "predicted": sum(len(p.frame) for p in self.parts),
            "lacking_history": sum(p.lacking_history for p in self.parts),
            "skipped": sum(p.skipped for p in self.parts),
            "warnings": self.warnings,
            "symbols": [{"symbol": p.symbol, **p.summary()} for p in self.parts],
        }


def _window_ok(raw: np.ndarray, window: int) -> np.ndarray:
    """Rows t whose window t-window+1..t has every feature defined (as DataPreparer's samples)."""
    bad_before = np.concatenate([[0], np.cumsum(np.isnan(raw).any(axis=1))])
    ok = np.zeros(len(raw), dtype=bool)
    if len(raw) >= window:
        ok[window - 1 :] = bad_before[window:] == bad_before[: len(raw) - window + 1]
    return ok


def _member_outputs(model: Any, windows: np.ndarray, starts: np.ndarray, batch_size: int) -> tuple[np.ndarray, ...]:
    import torch

    preds, probs = [], []
    with torch.inference_mode():
        for a in range(0, len(starts), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(windows[starts[a : a + batch_size]]))
            logits = model(x).float()
            preds.append(logits.argmax(dim=1).numpy())
            probs.append(torch.softmax(logits, dim=1).numpy())
    if not preds:
        return np.empty(0, dtype=np.int64), np.empty((0, len(CLASS_NAMES)), dtype=np.float32)
    return np.concatenate(preds), np.concatenate(probs)


def scaler_for(saved: SavedModel, symbol: str | None, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(mean, std, warning or None) for the model's feature columns `raw` of one file holding `symbol`.

    A single-symbol model, or pooled scaling, scales every file with the one saved scaler. Under
    per-symbol scaling a trained symbol takes its own; an unseen one is standardised on its own
    complete rows, as training standardised each symbol, but on the rows being predicted rather
    than a training period before them.
    """
    if symbol is not None and symbol in saved.by_symbol:
        mean, std = saved.by_symbol[symbol]
        return mean, std, None
    if saved.mean is not None and saved.std is not None:
        return saved.mean, saved.std, None
    complete = ~np.isnan(raw).any(axis=1)
    mean, std = fit_scaler(raw, complete)
    warning = (
        f"symbol {symbol or '(unnamed)'} was not in training ({', '.join(saved.symbols)}): its features are scaled with "
        f"the mean/std of its own {int(complete.sum())} complete bars, the bars being predicted, not of a "
        "training period before them; an approximation"
    )
    return mean, std, warning


def predict_bars(
    saved: SavedModel,
    ohlcv: pd.DataFrame,
    last: int | None = None,
    batch_size: int = BATCH_SIZE,
    symbol: str | None = None,
) -> Prediction:
    """Signals for the bars of `ohlcv` (a loaded OHLCV frame); `last` keeps only the latest N bars' rows.

    `symbol` picks a panel model's scaler (default: the frame's attrs info "symbol", i.e. its file stem).
    """
    if symbol is None:
        symbol = (ohlcv.attrs.get("info") or {}).get("symbol")
    raw, names = compute_features(ohlcv)
    missing = [n for n in saved.feature_names if n not in names]
    if missing:
        raise DataError(
            f"this version computes features {list(names)}, the model was trained on "
            f"{list(saved.feature_names)}; predict with the hyperopt-cli version that trained it"
        )
    if tuple(names) != saved.feature_names:  # the model's feature families: exactly its columns, in its order
        raw = np.ascontiguousarray(raw[:, [names.index(n) for n in saved.feature_names]])
    window = saved.window
    ok = _window_ok(raw, window)
    rows = np.flatnonzero(ok)
    lacking = int(rows[0]) if len(rows) else len(raw)
    skipped = len(raw) - len(rows)
    if last is not None:
        rows = rows[-last:] if last > 0 else rows[:0]
    mean, std, scaling_warning = scaler_for(saved, symbol, raw)
    features = apply_scaler(raw, mean, std)
    if len(features) < window:  # no full window at all: no rows, and numpy refuses a view longer than the array
        features = np.zeros((window, features.shape[1]), dtype=np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(features, window, axis=0).transpose(0, 2, 1)
    outputs = [_member_outputs(m, windows, rows - (window - 1), batch_size) for m in saved.members]
    pred, probs = combine_members([p for p, _ in outputs], [q for _, q in outputs])
    pred = saved.rule.apply(probs, pred)  # the rule the walk-forward fitted, exactly as it applied it
    index = ohlcv.index.tz_convert("UTC") if ohlcv.index.tz is not None else ohlcv.index.tz_localize("UTC")
    frame = pd.DataFrame(
        {
            "timestamp": index[rows],
            "signal": np.asarray(CLASS_NAMES, dtype=object)[pred],
            "p_sell": probs[:, 0],
            "p_hold": probs[:, 1],
            "p_buy": probs[:, 2],
        }
    )
    warnings = _warnings(saved.manifest, index, rows, lacking, symbol, tuple(saved.symbols))
    if scaling_warning:
        warnings.insert(0, scaling_warning)
    return Prediction(frame, len(raw), lacking, skipped, warnings, symbol)


def compact_duration(seconds: float) -> str:
    """A bar spacing as people write it: 1d, 1h, 15min, 30s (the largest unit that divides it), else 90.5s."""
    from hyperopt_cli.data.load import spacing_text

    return spacing_text(seconds)


def _warnings(
    manifest: dict[str, Any],
    index: pd.DatetimeIndex,
    rows: np.ndarray,
    lacking: int,
    symbol: str | None = None,
    symbols: tuple[str, ...] = (),
) -> list[str]:
    training = manifest.get("training") or {}
    out = []
    if lacking:
        out.append(
            f"the first {lacking} bars lack a full window of history (feature warm-up "
            f"{manifest['features'].get('warmup_bars')} + window {manifest['features']['window']} - 1): "
            "no signal for them"
        )
    expected = training.get("bar_seconds")
    other_bars = ""  # why bars of the training period are still not the ones it trained on
    if expected and len(index) > 1:
        got = float(np.median(np.diff(index.asi8))) / 1e9
        if abs(got - expected) > SPACING_TOLERANCE * expected:
            out.append(
                f"this file's bars are {compact_duration(got)} apart, the model was trained on bars "
                f"{compact_duration(expected)} apart; its signals may mean little"
            )
            other_bars = f"they are {compact_duration(got)} bars, the model's were {compact_duration(expected)}"
    if not other_bars and symbol is not None and symbols and symbol not in symbols:
        other_bars = f"symbol {symbol} was not in training ({', '.join(symbols)})"
    first, last = training.get("first_timestamp"), training.get("last_timestamp")
    if first and last and len(rows):
        stamps = index[rows]
        inside = int(((stamps >= pd.Timestamp(first)) & (stamps <= pd.Timestamp(last))).sum())
        if inside and other_bars:  # the same period, not the same bars: not in-sample, not a later period either
            out.append(
                f"{inside} of the predicted bars fall in the training period {first} .. {last}, but "
                f"{other_bars}: not the bars it trained on, though not a later period either"
            )
        elif inside:
            out.append(
                f"{inside} of the predicted bars lie inside the training range {first} .. {last}: "
                "in-sample predictions, better than the model will do on new bars"
            )
    return out


def predict_file(
    run_or_model_dir: Path,
    data_path: Path,
    *,
    last: int | None = None,
    timestamp_column: str | None = None,
    timezone: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> Prediction:
    """Load `data_path` with the same loader and rules as `start`, and predict with the saved model.

    `timezone` (of naive timestamps) defaults to the one the model's training data was read in.
    """
    saved = load_model(model_dir_of(Path(run_or_model_dir)))
    zone = timezone or (saved.manifest.get("data") or {}).get("timezone") or "UTC"
    ohlcv = load_ohlcv(data_path, timestamp_column, zone)
    return predict_bars(saved, ohlcv, last=last, batch_size=batch_size)


def several_inputs(data: Sequence[str | Path]) -> bool:
    """True unless `data` is one plain file: several entries, a folder or a glob give a `symbol` column."""
    if len(data) != 1:
        return True
    path = Path(data[0]).expanduser()
    return path.is_dir() or (is_pattern(str(data[0])) and not path.exists())  # `a[1].csv` may be a file


def predict_paths(
    run_or_model_dir: Path,
    data: Sequence[str | Path],
    *,
    last: int | None = None,
    timestamp_column: str | None = None,
    timezone: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> Prediction | Predictions:
    """`predict_file` for one plain file; for several (files, folders, globs) one Predictions, a symbol per file.

    `last` keeps the latest N signals of each symbol.
    """
    if not several_inputs(data):
        return predict_file(
            run_or_model_dir,
            Path(data[0]),
            last=last,
            timestamp_column=timestamp_column,
            timezone=timezone,
            batch_size=batch_size,
        )
    saved = load_model(model_dir_of(Path(run_or_model_dir)))
    zone = timezone or (saved.manifest.get("data") or {}).get("timezone") or "UTC"
    parts = []
    for path in expand_data_paths([str(entry) for entry in data]):
        ohlcv = load_ohlcv(path, timestamp_column, zone)
        parts.append(predict_bars(saved, ohlcv, last=last, batch_size=batch_size, symbol=symbol_of(path)))
    return Predictions(parts)


def signals_csv(prediction: Prediction | Predictions) -> str:
    """The signals as CSV text: [symbol,] timestamp (ISO 8601 UTC), signal, p_sell, p_hold, p_buy."""
    frame = prediction.frame.copy()
    frame["timestamp"] = frame["timestamp"].map(lambda t: t.isoformat())
    return str(frame.to_csv(index=False, float_format="%.6f"))


def write_signals(prediction: Prediction | Predictions, out: Path) -> None:
    """CSV or Parquet by the file's suffix (timestamps as ISO 8601 UTC), written atomically."""
    from hyperopt_cli.core.atomic import atomic_write, atomic_write_text

    out = Path(out)
    if not out.parent.is_dir():
        raise DataError(f"--out {out}: folder {out.parent} does not exist")
    frame = prediction.frame.copy()
    suffix = out.suffix.lower()
    if suffix == ".csv":
        atomic_write_text(out, signals_csv(prediction))
    elif suffix in (".parquet", ".pq"):
        atomic_write(out, lambda handle: frame.to_parquet(handle, index=False))
    else:
        raise DataError(f"--out {out}: unknown format {suffix or '(no suffix)'}; use a .csv or .parquet file")


def prediction_json(prediction: Prediction | Predictions) -> dict[str, Any]:
    """JSON-ready: the summary and one object per predicted bar (with its `symbol` for several files)."""
    frame = prediction.frame
    rows = [
        {"timestamp": t.isoformat(), "signal": s, "p_sell": float(a), "p_hold": float(b), "p_buy": float(c)}
        for t, s, a, b, c in zip(*(frame[col] for col in COLUMNS))
    ]
    if "symbol" in frame:
        rows = [{"symbol": symbol, **row} for symbol, row in zip(frame["symbol"], rows)]
    return {**prediction.summary(), "rows": rows}
