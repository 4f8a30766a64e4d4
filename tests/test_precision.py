"""trainer.precision: resolving fp32/bf16/auto, bf16 training, its checkpoints and exact resume on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from _tiny_data import StopAt, tiny_data, tiny_model, tiny_trainer
from hyperopt_cli.config import config_from_dict
from hyperopt_cli.core.errors import ConfigError
from hyperopt_cli.training import precision as precision_mod
from hyperopt_cli.training.precision import native_bf16, resolve_precision
from hyperopt_cli.training.trainer import TrainHooks, TrainingInterrupted, train_model

DATA = tiny_data()
BUSY = dict(
    dropout=0.3,
    use_augmentation=True,
    gaussian_noise_std=0.05,
    mixup_alpha=0.3,
    use_focal_loss=True,
    use_class_weights=True,
    scheduler_T_0=1,
    learning_rate=5e-3,
)


def _train(
    precision: str, ckpt: Path | None = None, stop: StopAt | None = None, warnings: list[str] | None = None
) -> Any:
    cfg = tiny_trainer(precision=precision, **BUSY)
    hooks = TrainHooks(should_stop=stop, on_warning=(warnings.append if warnings is not None else None))
    return train_model(
        DATA, cfg, tiny_model(), epochs=2, seed=11, hooks=hooks, checkpoint_path=ckpt, checkpoint_tag="p"
    )


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def bf16_straight() -> Any:
    return _train("bf16")


def test_precision_is_a_validated_config_key() -> None:
    assert config_from_dict({}).trainer.precision == "auto"
    assert config_from_dict({"trainer": {"precision": "bf16"}}).trainer.precision == "bf16"
    with pytest.raises(ConfigError, match=r"trainer.precision must be one of 'fp32', 'bf16', 'auto', got 'fp16'"):
        config_from_dict({"trainer": {"precision": "fp16"}})


def test_explicit_precisions_resolve_to_themselves() -> None:
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", "cpu")


def test_auto_picks_bf16_only_when_approved_and_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_mod, "AUTO_PICKS_BF16", False)
    assert resolve_precision("auto", "cpu") == "fp32"  # not approved by the validity benchmark: fp32
    monkeypatch.setattr(precision_mod, "AUTO_PICKS_BF16", True)
    assert resolve_precision("auto", "cpu") == ("bf16" if native_bf16("cpu") else "fp32")
    monkeypatch.setattr(precision_mod, "native_bf16", lambda device_type: False)
    assert resolve_precision("auto", "cpu") == "fp32"


def test_result_records_the_precision_and_weights_stay_fp32(bf16_straight: Any) -> None:
    assert bf16_straight.precision == "bf16"
    assert _train("fp32").precision == "fp32"
    assert all(p.dtype == torch.float32 for p in bf16_straight.model.parameters())
    assert bf16_straight.val_probs.dtype == np.float32
    assert all(np.isfinite(m.train_loss) and np.isfinite(m.val_loss) for m in bf16_straight.history)


def test_bf16_really_changes_the_arithmetic(bf16_straight: Any) -> None:
    fp32 = _train("fp32")
    assert not _same(fp32.model.state_dict(), bf16_straight.model.state_dict())


@pytest.mark.parametrize("k", [3, 9, 14])  # mid-epoch 0, in epoch 0's evaluation, mid-epoch 1
def test_bf16_stop_and_resume_is_bit_identical(tmp_path: Path, bf16_straight: Any, k: int) -> None:
    ckpt = tmp_path / "trial.pt"
    with pytest.raises(TrainingInterrupted):
        _train("bf16", ckpt, StopAt(k))
    resumed = _train("bf16", ckpt)
    assert resumed.resumed_from_epoch is not None
    assert _same(resumed.model.state_dict(), bf16_straight.model.state_dict())
    assert [m.val_f1 for m in resumed.history] == [m.val_f1 for m in bf16_straight.history]


def test_a_checkpoint_of_one_precision_never_resumes_another(tmp_path: Path) -> None:
    ckpt = tmp_path / "trial.pt"
    with pytest.raises(TrainingInterrupted):
        _train("fp32", ckpt, StopAt(3))
    warnings: list[str] = []
    result = _train("bf16", ckpt, warnings=warnings)
    assert result.resumed_from_epoch is None
    assert any("other data or settings" in w for w in warnings)


@pytest.mark.slow  # a whole search with its final evaluation (~5 s each)
@pytest.mark.parametrize("precision", ["bf16", "auto"])
def test_each_trial_and_the_final_model_record_their_precision(tmp_path: Path, precision: str) -> None:
    from cli_helpers import tiny
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer
    from hyperopt_cli.search import storage

    cfg = tiny("mode=quick", f"trainer.precision={precision}", "walk_forward_blocks=1")
    results = HyperparameterOptimizer(cfg, tmp_path / "run").optimize()
    expected = resolve_precision(precision, "cpu")
    trials = storage.load_study(cfg, tmp_path / "run", "learning_rate").get_trials()
    assert trials and all(t.user_attrs["precision"] == expected for t in trials)
    assert results["precision"] == expected


def test_start_freezes_what_auto_resolves_to(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from hyperopt_cli.control import resolve_config

    monkeypatch.chdir(tmp_path)  # no configs/default.yaml here: built-in defaults (precision auto)
    monkeypatch.setattr(precision_mod, "native_bf16", lambda device_type: True)
    assert resolve_config(None, ["trainer.device=cpu"]).trainer.precision == "bf16"
    assert resolve_config(None, ["trainer.precision=fp32"]).trainer.precision == "fp32"  # explicit wins
    monkeypatch.setattr(precision_mod, "native_bf16", lambda device_type: False)
    assert resolve_config(None, []).trainer.precision == "fp32"  # emulated bf16 would be slower
