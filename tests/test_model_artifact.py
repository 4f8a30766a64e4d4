"""RUN_DIR/model/: saved atomically when the final evaluation ends, reloadable bit for bit, rebuilt by resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from _tiny_data import tiny_data, tiny_model, tiny_trainer
from hyperopt_cli.config import with_params
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.data.load import load_ohlcv
from hyperopt_cli.data.prepare import DataPreparer, scaler_until
from hyperopt_cli.evaluation.walkforward import WalkForwardSource, fold_scaler, walk_forward_folds
from hyperopt_cli.model.artifact import load_model, read_manifest, save_model
from hyperopt_cli.run import rundir
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.run.records import load_run_config
from hyperopt_cli.training.trainer import train_model
from model_helpers import finished_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    return finished_run(tmp_path_factory.mktemp("artifact"), "ensemble_seeds=2")


def _manifest_stub(n_features: int, window: int) -> dict[str, Any]:
    model = tiny_model()
    return {
        "architecture": {
            "n_features": n_features,
            "hidden_size": model.hidden_size,
            "num_layers": model.num_layers,
            "dropout": 0.2,
        },
        "features": {"names": [f"f{i}" for i in range(n_features)], "window": window},
        "scaler": {"mean": [0.0] * n_features, "std": [1.0] * n_features},
    }


def test_save_load_round_trip_gives_bit_identical_logits(tmp_path: Path) -> None:
    data = tiny_data()
    trained = train_model(data, tiny_trainer(), tiny_model(), epochs=1, seed=3).model
    save_model(tmp_path / "model", [trained.state_dict()], _manifest_stub(data.n_features, data.train.window))
    loaded = load_model(tmp_path / "model")
    x = torch.from_numpy(data.test.windows(np.arange(len(data.test))))
    with torch.inference_mode():
        assert torch.equal(trained.eval()(x), loaded.members[0](x))
    save_model(tmp_path / "model", [trained.state_dict()], _manifest_stub(data.n_features, data.train.window))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # replaced whole; no temp folders left


@pytest.mark.slow  # a whole search with its final evaluation of 2 ensemble members (~8 s)
def test_the_manifest_says_everything_predict_needs(run: Any) -> None:
    run_dir, data_file, results = run
    manifest = read_manifest(run_dir / "model")
    cfg = load_run_config(run_dir)
    assert manifest["kind"] == "walk_forward_last_block" and manifest["members"] == ["member_0.pt", "member_1.pt"]
    assert manifest["architecture"]["hidden_size"] == cfg.model.hidden_size
    _, labels_cfg = with_params(cfg, results["fixed_params"])
    preparer = DataPreparer(load_ohlcv(data_file), cfg.data)
    data = preparer.prepare(labels_cfg)
    assert manifest["features"]["names"] == list(data.feature_names) and manifest["features"]["window"] == 8
    assert manifest["labels"]["horizon"] == labels_cfg.horizon and manifest["labels"]["class_names"] == [
        "SELL",
        "HOLD",
        "BUY",
    ]
    state = rundir.read_json(run_dir / rundir.STATE_FILE)
    assert manifest["data"]["sha256"] == state["data"]["sha256"]
    assert manifest["training"]["bar_seconds"] == 3600.0
    assert manifest["evaluation"]["test_metrics"] == results["test_metrics"]
    assert manifest["evaluation"]["verdict"] == results["verdict"]
    assert {"torch", "numpy", "pandas", "hyperopt_cli", "python"} <= set(manifest["versions"])
    # the scaler is the last block's (fitted on the rows before it), not one fitted on the whole file
    source = WalkForwardSource.from_prepared(preparer, data)
    last_fold = walk_forward_folds(source, cfg.walk_forward_blocks)[-1]
    scaler = fold_scaler(source, last_fold)
    mean, std = scaler.mean[0], scaler.std[0]
    np.testing.assert_array_equal(np.asarray(manifest["scaler"]["mean"], dtype=np.float32), mean)
    np.testing.assert_array_equal(np.asarray(manifest["scaler"]["std"], dtype=np.float32), std)
    whole, _ = scaler_until(preparer.raw_features, preparer.n_bars - 1)
    assert not np.array_equal(whole, mean)
    last_train_stamp = source.timestamps[last_fold.train_idx[-1]]
    assert manifest["training"]["last_timestamp"].startswith(str(last_train_stamp)[:19])


@pytest.mark.slow  # a whole search with its final evaluation of 2 ensemble members (~8 s)
def test_resume_rebuilds_a_missing_model_bit_for_bit(run: Any) -> None:
    run_dir, _, results = run
    before = [torch.load(p, weights_only=True) for p in sorted((run_dir / "model").glob("member_*.pt"))]
    with pytest.raises(RunStateError, match="already completed"):
        HyperparameterOptimizer.from_run_dir(run_dir).optimize()
    for path in (run_dir / "model").iterdir():
        path.unlink()
    (run_dir / "model").rmdir()
    again = HyperparameterOptimizer.from_run_dir(run_dir).optimize()
    assert again["test_metrics"] == results["test_metrics"]
    after = [torch.load(p, weights_only=True) for p in sorted((run_dir / "model").glob("member_*.pt"))]
    assert len(after) == len(before) == 2
    for a, b in zip(before, after):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((run_dir / "model" / "model.json").read_text())["evaluation"]["verdict"] == results["verdict"]


def test_a_model_less_folder_is_a_run_state_error(tmp_path: Path) -> None:
    with pytest.raises(RunStateError, match="no saved model in"):
        load_model(tmp_path)
