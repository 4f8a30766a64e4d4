"""Warm-started folds (`fold_start: warm`, issue 31's cost): a later fold fine-tunes the earlier fold's model
on the samples it adds, and a killed run still resumes bit-identically."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from _tiny_data import tiny_data, tiny_model, tiny_trainer
from cli_helpers import hyperopt, load_run_study, write_config
from hyperopt_cli.data.prepare import PreparedData
from hyperopt_cli.run.records import with_legacy_defaults
from hyperopt_cli.training.trainer import train_model
from test_faults import outcome, run_cli
from test_ladder import SETUP as LADDER

STUDY = "ml_hyperopt_learning_rate"
WARM: dict[str, Any] = {**LADDER, "fold_start": "warm"}  # two folds, rungs 2 -> 6: the start and the climb


def _first_rows(data: PreparedData, n: int) -> PreparedData:
    """`data` trained on its first `n` training samples only: an earlier, shorter fold."""
    train = data.train
    cut = {f: getattr(train, f)[:n] for f in ("end_rows", "labels", "forward_returns", "timestamps", "label_ends")}
    return dataclasses.replace(data, train=dataclasses.replace(train, symbols=train.symbols[:n], **cut))


def test_a_warm_fold_trains_only_the_samples_past_the_earlier_folds_training() -> None:
    later = tiny_data()
    earlier = _first_rows(later, 100)
    added = later.training_added_since(earlier)
    assert len(added.train) == len(later.train) - 100
    assert added.train.timestamps.min() > earlier.train.timestamps.max()
    assert np.array_equal(added.train.end_rows, later.train.end_rows[100:])
    assert np.array_equal(added.train.labels, later.train.labels[100:])
    assert added.val is later.val and added.test is later.test and added.class_weights is later.class_weights
    assert later.training_added_since(later) is later  # nothing added: the fold trains as it is


def test_initial_weights_start_a_fresh_training_and_a_checkpoint_wins_over_them(tmp_path: Path) -> None:
    data = tiny_data()
    source = train_model(data, tiny_trainer(), tiny_model(), epochs=1, seed=1).model.state_dict()
    # A learning rate of 1e-9 barely moves the weights: what the training ends with is where it started.
    still = tiny_trainer(learning_rate=1e-9)
    started = train_model(data, still, tiny_model(), epochs=1, seed=2, initial_weights=source).model.state_dict()
    seeded = train_model(data, still, tiny_model(), epochs=1, seed=2).model.state_dict()
    assert all(torch.allclose(started[k], source[k], atol=1e-6) for k in source)
    assert not all(torch.allclose(seeded[k], source[k], atol=1e-3) for k in source)

    ckpt = tmp_path / "fold.pt"
    first = train_model(
        data, tiny_trainer(), tiny_model(), epochs=2, seed=3, checkpoint_path=ckpt, initial_weights=source
    )
    again = train_model(
        data, tiny_trainer(), tiny_model(), epochs=2, seed=3, checkpoint_path=ckpt, initial_weights=seeded
    )
    assert again.resumed_from_epoch == 2
    assert all(torch.equal(again.model.state_dict()[k], v) for k, v in first.model.state_dict().items())


def test_runs_written_before_warm_folds_keep_cold_folds() -> None:
    assert with_legacy_defaults({"trainer": {}})["fold_start"] == "cold"


def _folds_of_incumbent(run: Path) -> tuple[list[float], list[float]]:
    """Trial 0's reported values: fold 0's epochs, fold 1's (the Optuna step is fold * 6 + epoch)."""
    values = load_run_study(run, STUDY).get_trials(deepcopy=False)[0].intermediate_values
    return [values[s] for s in range(6)], [values[6 + s] for s in range(6)]


@pytest.fixture(scope="module")
def warm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("warm")
    done = hyperopt(
        "start", "--config", write_config(folder, **WARM), "--mode", "quick", "--run-dir", folder / "run", cwd=folder
    )
    assert done.returncode == 0, done.stderr
    return folder / "run"


@pytest.mark.slow  # two whole `hyperopt start` runs with the ladder (~14 s each)
def test_warm_changes_only_the_later_folds(warm_run: Path, tmp_path: Path) -> None:
    cold = tmp_path / "cold"
    done = hyperopt(
        "start", "--config", write_config(tmp_path, **LADDER), "--mode", "quick", "--run-dir", cold, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    warm_first, warm_second = _folds_of_incumbent(warm_run)
    cold_first, cold_second = _folds_of_incumbent(cold)
    assert warm_first == cold_first  # the first fold has no fold before it: it trains cold
    assert all(w != c for w, c in zip(warm_second, cold_second))


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["after_epoch:2", "after_rung:2", "after_epoch:9"])
def test_a_killed_warm_run_resumes_bit_identical(warm_run: Path, tmp_path: Path, fault: str) -> None:
    """kill -9 after fold 0's first rung (fold 1 has no checkpoint yet: its start is fold 0's, replayed),
    after a rung decision, and in the incumbent's climb: every value and results.json equal."""
    cfg = write_config(tmp_path, **WARM)
    run = tmp_path / "run"
    killed = run_cli("start", "--config", cfg, "--mode", "quick", "--run-dir", run, cwd=tmp_path, fault=fault)
    assert killed.returncode == -9, killed.stderr
    resumed = run_cli("resume", run, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(run) == outcome(warm_run)
