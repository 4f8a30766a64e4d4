"""model.json is input, not a promise: a manifest that breaks a rule is one Error line and exit 6, nothing loaded."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import hyperopt
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.data.features import compute_features
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.model.artifact import load_model, save_model
from hyperopt_cli.model.predict import predict_bars
from hyperopt_cli.training.model import LSTMClassifier

BARS = synthetic_ohlcv(5, seed=1)
NAMES = list(compute_features(BARS)[1])
N_FEATURES, HIDDEN, LAYERS = len(NAMES), 4, 1


def _model_folder(root: Path) -> Path:
    """A valid one-member model folder (untrained weights: only the manifest's checks are under test)."""
    model = LSTMClassifier(N_FEATURES, HIDDEN, LAYERS, 0.0)
    manifest = {
        "architecture": {
            "n_features": N_FEATURES,
            "hidden_size": HIDDEN,
            "num_layers": LAYERS,
            "dropout": 0.0,
            "n_classes": 3,
        },
        "features": {"names": NAMES, "window": 8},
        "scaler": {"mean": [0.0] * N_FEATURES, "std": [1.0] * N_FEATURES},
    }
    save_model(root / "model", [model.state_dict()], manifest)
    return root / "model"


def _edit(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / "model.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def _outside_member(folder: Path) -> None:
    # a perfectly loadable weights file, but outside the model folder
    shutil.copy(folder / "member_0.pt", folder.parent / "elsewhere.pt")
    _edit(folder, lambda m: m.update(members=["../elsewhere.pt"]))


def _linked_member(folder: Path) -> None:
    shutil.move(folder / "member_0.pt", folder.parent / "elsewhere.pt")
    os.symlink(folder.parent / "elsewhere.pt", folder / "member_0.pt")


def _fifo_member(folder: Path) -> None:
    os.remove(folder / "member_0.pt")
    os.mkfifo(folder / "member_0.pt")


BAD: dict[str, Callable[[Path], None]] = {
    "passwd": lambda f: _edit(f, lambda m: m.update(members=["../../../../../etc/passwd"])),
    "outside": _outside_member,
    "symlink": _linked_member,
    "fifo": _fifo_member,
    "absolute": lambda f: _edit(f, lambda m: m.update(members=[str(f / "member_0.pt")])),
    "huge_hidden_float": lambda f: _edit(f, lambda m: m["architecture"].update(hidden_size=1e12)),
    "huge_hidden_int": lambda f: _edit(f, lambda m: m["architecture"].update(hidden_size=10**12)),
    "std_null": lambda f: _edit(f, lambda m: m["scaler"].update(std=None)),
    "std_zero": lambda f: _edit(f, lambda m: m["scaler"].update(std=[1.0, 0.0] + [1.0] * (N_FEATURES - 2))),
    "std_short": lambda f: _edit(f, lambda m: m["scaler"].update(std=[1.0, 1.0])),
    "mean_nan": lambda f: _edit(f, lambda m: m["scaler"].update(mean=[float("nan")] + [0.0] * (N_FEATURES - 1))),
    "no_scaler": lambda f: _edit(f, lambda m: m.pop("scaler")),
    "window_text": lambda f: _edit(f, lambda m: m["features"].update(window="abc")),
    "window_zero": lambda f: _edit(f, lambda m: m["features"].update(window=0)),
    "window_huge": lambda f: _edit(f, lambda m: m["features"].update(window=10**12)),
    "names_mismatch": lambda f: _edit(f, lambda m: m["features"].update(names=["a"])),
}


def test_a_valid_folder_loads(tmp_path: Path) -> None:
    saved = load_model(_model_folder(tmp_path))
    assert len(saved.members) == 1 and saved.window == 8


def test_a_file_shorter_than_the_window_predicts_no_rows_and_says_why(tmp_path: Path) -> None:
    prediction = predict_bars(load_model(_model_folder(tmp_path)), BARS)  # 5 bars, window 8
    assert len(prediction.frame) == 0 and prediction.lacking_history == 5
    assert any("lack a full window" in w for w in prediction.warnings)


@pytest.mark.parametrize("case", list(BAD))
def test_a_manifest_breaking_a_rule_is_refused_before_anything_is_loaded(tmp_path: Path, case: str) -> None:
    folder = _model_folder(tmp_path)
    BAD[case](folder)
    with pytest.raises(RunStateError, match="model.json: "):
        load_model(folder)


@pytest.mark.parametrize("case", ["passwd", "fifo", "huge_hidden_int", "std_null"])
def test_predict_with_a_bad_manifest_is_one_error_line_and_exit_6(tmp_path: Path, case: str) -> None:
    folder = _model_folder(tmp_path)
    BAD[case](folder)
    done = hyperopt("predict", folder, "--data", tmp_path / "bars.csv", cwd=tmp_path, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 6, done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"Error: {folder / 'model.json'}: "), done.stderr
