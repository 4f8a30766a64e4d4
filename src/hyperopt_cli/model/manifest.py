"""The rules a model.json must pass before anything in it is used (torch-free).

A model folder may come from someone else, so its manifest is input, not a promise: member
names must be plain file names inside the folder, members regular files of a bounded size,
the architecture whole numbers that the member files can actually hold, the scaler finite
with a positive std per feature, the window a sane whole number. Every breach is one
RunStateError (exit 6) that names the field, the value and the rule.

A model trained on several symbols (issue 24) also lists its `symbols` and its
`scaler.scaling`; under per-symbol scaling `scaler.by_symbol` holds each symbol's
mean/std in place of the top-level ones. A manifest without these fields is a
single-symbol one, as every manifest was before.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

from hyperopt_cli.core.choices import SCALINGS
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.core.quote import clipped

MAX_MEMBERS = 64  # ensemble members; the config's ensemble_seeds is far below this
MAX_MEMBER_BYTES = 2 * 1024**3  # one member's state-dict file; bounds the memory a load can take
MAX_MANIFEST_BYTES = 64 * 1024**2  # model.json itself (a scaler of a few dozen floats is a few kB)
MAX_WINDOW = 100_000  # bars of history per input; far above any window a search tries
MAX_LAYERS = 64
BYTES_PER_PARAMETER = 4  # members are saved as float32 whatever the training precision


def _fail(model_dir: Path, rule: str) -> RunStateError:
    return RunStateError(
        f"{Path(model_dir) / 'model.json'}: {rule}; the model folder is damaged or not "
        "one hyperopt saved (rebuild it with `hyperopt resume RUN_DIR`)"
    )


def _whole(model_dir: Path, section: dict[str, Any], where: str, key: str, low: int, high: int | None) -> int:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(model_dir, f"{where}.{key} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise _fail(model_dir, f"{where}.{key} must be {bound}, got {value}")
    return value


def _section(model_dir: Path, manifest: dict[str, Any], key: str) -> dict[str, Any]:
    value = manifest.get(key)
    if not isinstance(value, dict):
        raise _fail(model_dir, f"{key} must be an object, got {type(value).__name__}")
    return value


def _numbers(model_dir: Path, value: Any, where: str, length: int) -> list[float]:
    if not isinstance(value, list) or len(value) != length:
        got = f"{len(value)} values" if isinstance(value, list) else repr(value)
        raise _fail(model_dir, f"{where} must be a list of {length} numbers (one per feature), got {got}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _fail(model_dir, f"{where} must hold finite numbers, got {v!r}")
    return [float(v) for v in value]


def _scaler_values(model_dir: Path, section: dict[str, Any], where: str, n_features: int) -> None:
    _numbers(model_dir, section.get("mean"), f"{where}.mean", n_features)
    std = _numbers(model_dir, section.get("std"), f"{where}.std", n_features)
    if any(s <= 0 for s in std):
        raise _fail(model_dir, f"{where}.std must be positive, got {min(std)}")


def check_symbols(model_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """The manifest's `symbols` (absent: none recorded, a single-symbol model); distinct non-empty names."""
    symbols = manifest.get("symbols")
    if symbols is None:
        return []
    if (
        not isinstance(symbols, list)
        or not symbols
        or not all(isinstance(s, str) and s for s in symbols)
        or len(set(symbols)) != len(symbols)
    ):
        raise _fail(model_dir, f"symbols must be a non-empty list of distinct names, got {symbols!r}")
    return symbols


def check_scaler(model_dir: Path, manifest: dict[str, Any], n_features: int) -> None:
    """`scaler`: top-level mean/std, or, for per-symbol scaling of several symbols, one mean/std per symbol."""
    scaler = _section(model_dir, manifest, "scaler")
    symbols = check_symbols(model_dir, manifest)
    scaling = scaler.get("scaling", "per_symbol")
    if scaling not in SCALINGS:
        raise _fail(model_dir, f"scaler.scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
    per_symbol = scaling == "per_symbol" and len(symbols) > 1
    if per_symbol or "by_symbol" in scaler:
        by_symbol = scaler.get("by_symbol")
        if not isinstance(by_symbol, dict) or sorted(by_symbol) != sorted(symbols):
            got = sorted(by_symbol) if isinstance(by_symbol, dict) else repr(by_symbol)
            raise _fail(model_dir, f"scaler.by_symbol must hold one mean/std per symbol {symbols}, got {got}")
        for symbol, values in by_symbol.items():
            if not isinstance(values, dict):
                raise _fail(model_dir, f"scaler.by_symbol.{symbol} must be an object, got {type(values).__name__}")
            _scaler_values(model_dir, values, f"scaler.by_symbol.{symbol}", n_features)
    if not per_symbol or "mean" in scaler or "std" in scaler:
        _scaler_values(model_dir, scaler, "scaler", n_features)


def lstm_parameters(n_features: int, hidden: int, layers: int, n_classes: int) -> int:
    """Parameters of LSTMClassifier: nn.LSTM's weights and two biases per layer, then the linear head."""
    gates = 4 * hidden
    first = gates * (n_features + hidden) + 2 * gates
    later = (layers - 1) * (gates * 2 * hidden + 2 * gates)
    return first + later + hidden * n_classes + n_classes


def member_path(model_dir: Path, name: Any) -> Path:
    """The member file `name` inside `model_dir`: a plain file name, a regular file (no link, FIFO, device)."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or os.sep in name
    ):
        raise _fail(model_dir, f"member {name!r} is not a plain file name inside the model folder")
    path = Path(model_dir) / name
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise RunStateError(f"{path} could not be loaded: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _fail(model_dir, f"member {name!r} is not a regular file (links, FIFOs and devices are refused)")
    if info.st_size > MAX_MEMBER_BYTES:
        raise _fail(model_dir, f"member {name!r} is {info.st_size} bytes, above the {MAX_MEMBER_BYTES} allowed")
    return path


def check_manifest_size(path: Path) -> None:
    """model.json must be a regular file no larger than MAX_MANIFEST_BYTES (checked before reading it)."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MANIFEST_BYTES:
        raise _fail(path.parent, f"it must be a regular file of at most {MAX_MANIFEST_BYTES} bytes")


def check_manifest(model_dir: Path, manifest: dict[str, Any]) -> list[Path]:
    """Raise RunStateError where `manifest` breaks a rule; the member files' paths when it does not."""
    arch = _section(model_dir, manifest, "architecture")
    features = _section(model_dir, manifest, "features")
    names = features.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _fail(model_dir, f"features.names must be a non-empty list of names, got {names!r}")
    n_features = _whole(model_dir, arch, "architecture", "n_features", 1, None)
    if n_features != len(names):
        raise _fail(model_dir, f"architecture.n_features is {n_features} but features.names lists {len(names)}")
    hidden = _whole(model_dir, arch, "architecture", "hidden_size", 1, None)
    layers = _whole(model_dir, arch, "architecture", "num_layers", 1, MAX_LAYERS)
    n_classes = arch.get("n_classes", 3)
    if n_classes != 3:
        raise _fail(model_dir, f"architecture.n_classes must be 3 (SELL, HOLD, BUY), got {n_classes!r}")
    dropout = arch.get("dropout")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise _fail(model_dir, f"architecture.dropout must be a number in [0, 1), got {dropout!r}")
    _whole(model_dir, features, "features", "window", 2, MAX_WINDOW)
    check_scaler(model_dir, manifest, n_features)
    members = manifest.get("members")
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
        got = f"a list of {len(members)}" if isinstance(members, list) else clipped(repr(members), 80)
        raise _fail(model_dir, f"members must list 1 to {MAX_MEMBERS} files, got {got}")
    needed = lstm_parameters(n_features, hidden, layers, 3) * BYTES_PER_PARAMETER
    paths = []
    for name in members:
        path = member_path(model_dir, name)
        # checked before building the model: a manifest must not make us allocate what no file holds
        if path.stat().st_size < needed:
            raise _fail(
                model_dir,
                f"architecture (hidden_size {hidden}, num_layers {layers}, n_features "
                f"{n_features}) needs {needed} bytes of weights but member {name!r} has "
                f"{path.stat().st_size}",
            )
        paths.append(path)
    return paths
