"""RUN_DIR/model/: one state-dict file per ensemble member and the model.json manifest.

Written as a whole or not at all: the files go into a temp folder beside the target, are
fsynced, and the folder is renamed into place (a previous model folder is moved aside
first and removed after). Weights are loaded with `weights_only=True`: a model file is
data, never code to run.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hyperopt_cli.core.atomic import UnsafeFileError, atomic_write, atomic_write_json, fsync_dir, read_bounded
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.core.quote import clipped
from hyperopt_cli.evaluation.decision import DecisionRule
from hyperopt_cli.model.manifest import MAX_MANIFEST_BYTES, check_manifest, check_manifest_size

if TYPE_CHECKING:
    from torch import nn

MODEL_DIR = "model"  # RUN_DIR/model/: the model the verdict is about
REFIT_DIR = "model_refit_all_bars"  # RUN_DIR/<this>/: `export --refit`, trained on every labelled bar
MANIFEST_FILE = "model.json"
MANIFEST_FORMAT = 1  # bump when model.json's layout changes


def member_file(member: int) -> str:
    return f"member_{member}.pt"


def model_dir_of(path: Path) -> Path:
    """The model folder of `path`: a run directory (its model/) or a model folder itself."""
    path = Path(path)
    return path if (path / MANIFEST_FILE).is_file() else path / MODEL_DIR


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """model.json of a model folder; RunStateError when there is none (torch-free)."""
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise RunStateError(
            f"no saved model in {model_dir}: {MANIFEST_FILE} not found (a run saves its model when its final "
            "evaluation ends; resume an unfinished run, or `hyperopt resume` a finished one to rebuild it)"
        )
    check_manifest_size(path)
    try:
        manifest = json.loads(read_bounded(path, MAX_MANIFEST_BYTES).decode("utf-8"))
    except UnsafeFileError as exc:
        raise RunStateError(str(exc)) from None
    except RecursionError:
        raise RunStateError(f"{path} is unreadable: JSON nested too deeply to be a model manifest") from None
    except (OSError, ValueError) as exc:
        raise RunStateError(f"{path} is unreadable: {clipped(str(exc), 200)}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise RunStateError(f"{path} has an unknown format (expected format {MANIFEST_FORMAT})")
    return manifest


def save_model(model_dir: Path, state_dicts: list[dict[str, Any]], manifest: dict[str, Any]) -> None:
    """Write the members' state dicts and the manifest to `model_dir`, replacing it as a whole."""
    import torch

    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", suffix=".tmp", dir=model_dir.parent))
    try:
        files = []
        for member, state in enumerate(state_dicts):
            files.append(member_file(member))
            cpu_state = {k: v.detach().cpu() for k, v in state.items()}
            atomic_write(staging / files[-1], functools.partial(torch.save, cpu_state))
        atomic_write_json(staging / MANIFEST_FILE, {**manifest, "format": MANIFEST_FORMAT, "members": files})
        aside = None
        if model_dir.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", suffix=".old", dir=model_dir.parent))
            os.replace(model_dir, aside / model_dir.name)
        os.replace(staging, model_dir)
        fsync_dir(model_dir.parent)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@dataclass
class SavedModel:
    """A loaded model folder: the manifest, the members in eval mode on CPU, and the scaler.

    `mean`/`std` scale any file (a single-symbol model, or pooled scaling); they are None
    for a per-symbol-scaled panel, whose statistics are in `by_symbol`.
    """

    manifest: dict[str, Any]
    members: list[nn.Module]
    mean: np.ndarray | None  # (n_features,) float32
    std: np.ndarray | None  # (n_features,) float32
    symbols: tuple[str, ...] = ()  # the symbols trained on; empty for a single-symbol model
    scaling: str = "per_symbol"  # data.scaling of the training run
    by_symbol: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # symbol -> (mean, std)

    @property
    def window(self) -> int:
        return int(self.manifest["features"]["window"])

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["features"]["names"])

    @property
    def rule(self) -> DecisionRule:
        """How the members' mean probabilities become signals (argmax for models saved before rules)."""
        return DecisionRule.from_dict(self.manifest.get("decision"))


def load_model(model_dir: Path) -> SavedModel:
    """Rebuild the members from their state dicts (weights_only) as the manifest describes them.

    The manifest is checked first (model/manifest.py): nothing outside the folder is read and
    nothing larger than the member files can hold is allocated.
    """
    import torch

    from hyperopt_cli.training.model import LSTMClassifier

    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    paths = check_manifest(model_dir, manifest)
    arch = manifest["architecture"]
    members: list[nn.Module] = []
    for path in paths:
        model = LSTMClassifier(
            int(arch["n_features"]), int(arch["hidden_size"]), int(arch["num_layers"]), float(arch["dropout"])
        )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:  # a missing, truncated or foreign weights file
            raise RunStateError(f"{path} could not be loaded: {type(exc).__name__}: {exc}") from None
        members.append(model.eval())
    scaler = manifest["scaler"]
    return SavedModel(
        manifest=manifest,
        members=members,
        mean=_float32(scaler.get("mean")),
        std=_float32(scaler.get("std")),
        symbols=tuple(manifest.get("symbols") or ()),
        scaling=str(scaler.get("scaling", "per_symbol")),
        by_symbol={
            symbol: (np.asarray(v["mean"], dtype=np.float32), np.asarray(v["std"], dtype=np.float32))
            for symbol, v in (scaler.get("by_symbol") or {}).items()
        },
    )


def _float32(values: list[float] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float32)
