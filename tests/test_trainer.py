from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from _tiny_data import StopAt, tiny_data, tiny_model, tiny_trainer
from hyperopt_cli.core.errors import DivergedError, TrainingError
from hyperopt_cli.training.seeding import derive_seed, numpy_rng, torch_generator
from hyperopt_cli.training.trainer import (
    CHECKPOINT_FORMAT,
    EpochMetrics,
    TrainHooks,
    TrainingInterrupted,
    _make_batch,
    delete_checkpoint,
    epoch_order,
    predict,
    resolve_device,
    train_model,
)

TESTS_DIR = Path(__file__).parent
DATA = tiny_data()
# Every random stream on: dropout, noise, mixup, oversampling, and scheduler restarts mid-run.
BUSY = dict(
    dropout=0.3,
    use_augmentation=True,
    gaussian_noise_std=0.05,
    mixup_alpha=0.3,
    use_oversampling=True,
    use_focal_loss=True,
    use_class_weights=True,
    scheduler_T_0=1,
    scheduler_T_mult=2,
    learning_rate=5e-3,
)
EPOCHS = 3
TRAIN_BATCHES = 8  # 246 oversampled samples / 32
EVAL_BATCHES = 2  # 80 validation samples / 64
CALLS_PER_EPOCH = TRAIN_BATCHES + EVAL_BATCHES  # should_stop is asked before each of them


def _train(
    ckpt: Path | None = None,
    stop: StopAt | None = None,
    seed: int = 7,
    tag: str = "t",
    on_epoch: Any = None,
    on_warning: Any = None,
    data: Any = DATA,
    epochs: int = EPOCHS,
    epoch_objective: Any = None,
    **knobs: Any,
) -> Any:
    cfg = tiny_trainer(**{**BUSY, **knobs})
    hooks = TrainHooks(on_epoch=on_epoch, should_stop=stop, on_warning=on_warning)
    return train_model(
        data,
        cfg,
        tiny_model(),
        epochs=epochs,
        seed=seed,
        hooks=hooks,
        checkpoint_path=ckpt,
        checkpoint_tag=tag,
        epoch_objective=epoch_objective,
    )


def _history(result: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.as_dict().items() if k != "seconds"} for m in result.history]


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.fixture(scope="module")
def straight() -> Any:
    return _train()


# --------------------------------------------------------------------------- seeding


def test_derive_seed_is_pinned_typed_and_in_range() -> None:
    # Pinned: a change here silently changes every trial of every existing run.
    assert derive_seed(42, "init") == 2020742496
    assert len({derive_seed(1), derive_seed("1"), derive_seed(1.0), derive_seed(True), derive_seed(None)}) == 5
    assert derive_seed("ab") != derive_seed("a", "b")
    assert derive_seed(np.int64(3), np.float64(0.5)) == derive_seed(3, 0.5)
    assert all(0 <= derive_seed(i) < 2**32 for i in range(100))
    with pytest.raises(TypeError, match="derive_seed parts"):
        derive_seed([1])  # type: ignore[arg-type]


def test_generators_from_parts_repeat() -> None:
    assert numpy_rng(1, "a").integers(0, 1000, 5).tolist() == numpy_rng(1, "a").integers(0, 1000, 5).tolist()
    assert torch.equal(
        torch.rand(4, generator=torch_generator(1, "a")), torch.rand(4, generator=torch_generator(1, "a"))
    )


# --------------------------------------------------------------------------- training basics


def test_history_and_result(straight: Any) -> None:
    assert [m.epoch for m in straight.history] == list(range(EPOCHS))
    m = straight.history[-1]
    assert json.loads(json.dumps(m.as_dict())) == m.as_dict()
    assert EpochMetrics.from_dict(m.as_dict()) == m
    assert len(m.per_class_f1) == 3 and sum(m.pred_distribution) == pytest.approx(1.0)
    assert straight.resumed_from_epoch is None
    assert straight.val_pred.shape == (len(DATA.val),) and straight.val_probs.shape == (len(DATA.val), 3)
    assert not straight.model.training


def test_learns_the_signal() -> None:
    result = _train(use_augmentation=False, learning_rate=2e-2, dropout=0.0, epochs=8, scheduler_T_0=8)
    assert result.history[-1].val_f1 > 0.6
    assert result.history[-1].val_loss < result.history[0].val_loss


def test_predict_matches_the_result(straight: Any) -> None:
    pred, probs = predict(straight.model, DATA.val, batch_size=13, device="cpu")
    assert np.array_equal(pred, straight.val_pred)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_same_seed_same_weights_other_seed_other_weights(straight: Any) -> None:
    _assert_same_weights(_train().model.state_dict(), straight.model.state_dict())
    other = _train(seed=8).model.state_dict()
    assert not torch.equal(other["head.weight"], straight.model.state_dict()["head.weight"])


def test_leaves_the_callers_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    _train(epochs=1)
    assert torch.equal(torch.get_rng_state(), before)


def test_nan_loss_raises_diverged_with_position() -> None:
    features = DATA.train.features.copy()
    features[:, 2] = np.nan
    segments = {name: dataclasses.replace(getattr(DATA, name), features=features) for name in ("train", "val")}
    with pytest.raises(DivergedError, match=r"epoch 0, batch 0"):
        _train(data=dataclasses.replace(DATA, **segments))


def test_empty_validation_is_an_error_that_says_why() -> None:
    empty = dataclasses.replace(DATA.val, end_rows=DATA.val.end_rows[:0], labels=DATA.val.labels[:0])
    with pytest.raises(TrainingError, match="samples in train and val, got 245 and 0"):
        _train(data=dataclasses.replace(DATA, val=empty))


def test_mode_collapse_is_flagged_and_warned() -> None:
    only_hold = dataclasses.replace(DATA.train, labels=np.ones_like(DATA.train.labels))
    warnings: list[str] = []
    result = _train(
        data=dataclasses.replace(DATA, train=only_hold),
        epochs=1,
        on_warning=warnings.append,
        use_class_weights=False,
        use_oversampling=False,
        learning_rate=2e-2,
    )
    assert result.history[0].collapsed and result.history[0].pred_distribution[1] == 1.0
    assert warnings == ["mode collapse at epoch 1: 100% of validation predictions are HOLD"]


def test_should_stop_is_asked_before_every_batch_and_eval_batch() -> None:
    stop = StopAt(10_000)
    _train(stop=stop)
    assert stop.calls == EPOCHS * CALLS_PER_EPOCH


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="no CUDA device"):
            resolve_device("cuda")


# --------------------------------------------------------------------------- batches


def test_epoch_order_is_a_function_of_seed_and_epoch() -> None:
    labels = DATA.train.labels
    assert np.array_equal(epoch_order(labels, 1, 0, False), epoch_order(labels, 1, 0, False))
    assert not np.array_equal(epoch_order(labels, 1, 0, False), epoch_order(labels, 1, 1, False))
    assert sorted(epoch_order(labels, 1, 0, False)) == list(range(len(labels)))
    balanced = epoch_order(labels, 1, 0, True)
    assert np.bincount(labels[balanced]).tolist() == [82, 82, 82]


def test_augmentation_off_feeds_the_windows_unchanged() -> None:
    idx = np.arange(10)
    x, target = _make_batch(DATA.train, idx, tiny_trainer(use_augmentation=False), 0, 0, 0)
    assert np.array_equal(x.numpy(), DATA.train.windows(idx))
    assert torch.equal(target.argmax(1), torch.from_numpy(DATA.train.labels[idx]))


def test_noise_and_mixup_change_inputs_and_soften_targets() -> None:
    idx = np.arange(10)
    cfg = tiny_trainer(use_augmentation=True, gaussian_noise_std=0.1, mixup_alpha=0.4)
    x, target = _make_batch(DATA.train, idx, cfg, 0, 0, 0)
    assert not np.allclose(x.numpy(), DATA.train.windows(idx))
    assert torch.allclose(target.sum(1), torch.ones(10)) and (target.max(1).values < 1).any()
    again, _ = _make_batch(DATA.train, idx, cfg, 0, 0, 0)
    assert torch.equal(x, again)
    _, hard = _make_batch(DATA.train, idx, dataclasses.replace(cfg, mixup_alpha=0.0), 0, 0, 0)
    assert set(hard.unique().tolist()) == {0.0, 1.0}


# --------------------------------------------------------------------------- stop and resume


@pytest.mark.parametrize(
    "k, epoch, batch",
    [
        (1, 0, 0),  # before the first batch
        (4, 0, 3),  # mid-epoch
        (8, 0, 7),  # before the last (short) batch
        (9, 0, TRAIN_BATCHES),  # during evaluation: the epoch is re-evaluated on resume
        (10, 0, TRAIN_BATCHES),
        (11, 1, 0),  # right after an epoch boundary
        (16, 1, 5),
        (3 * CALLS_PER_EPOCH, 2, TRAIN_BATCHES),  # in the very last evaluation batch
    ],
)
def test_stop_anywhere_then_resume_is_bit_identical(
    tmp_path: Path, straight: Any, k: int, epoch: int, batch: int
) -> None:
    ckpt = tmp_path / "trial.pt"
    with pytest.raises(TrainingInterrupted) as info:
        _train(ckpt, StopAt(k))
    assert (info.value.epoch, info.value.batch, info.value.checkpoint_path) == (epoch, batch, ckpt)
    saved = torch.load(ckpt, weights_only=True)
    assert saved["format"] == CHECKPOINT_FORMAT and saved["position"]["batch"] == batch
    assert len(saved["history"]) == epoch

    replayed: list[int] = []
    resumed = _train(ckpt, on_epoch=lambda m: replayed.append(m.epoch))
    assert (resumed.resumed_from_epoch, resumed.resumed_from_batch) == (epoch, batch)
    assert replayed == list(range(EPOCHS))  # epochs from the checkpoint are re-reported first, in order
    _assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())
    assert _history(resumed) == _history(straight)
    assert np.array_equal(resumed.val_pred, straight.val_pred)


def test_stopped_and_resumed_many_times(tmp_path: Path, straight: Any) -> None:
    ckpt = tmp_path / "trial.pt"
    for k in (3, 1, 7, 5, 2, 9):  # counts restart with every call
        with pytest.raises(TrainingInterrupted):
            _train(ckpt, StopAt(k))
    resumed = _train(ckpt)
    _assert_same_weights(resumed.model.state_dict(), straight.model.state_dict())
    assert _history(resumed) == _history(straight)


def test_resume_in_a_fresh_process_is_bit_identical(tmp_path: Path, straight: Any) -> None:
    ckpt, weights = tmp_path / "trial.pt", tmp_path / "final.pt"
    with pytest.raises(TrainingInterrupted):
        _train(ckpt, StopAt(14))  # epoch 1, batch 3
    script = textwrap.dedent(f"""
        import json, sys, torch
        sys.path.insert(0, {str(TESTS_DIR)!r})
        from pathlib import Path
        from test_trainer import _train, _history
        from hyperopt_cli.training.seeding import derive_seed
        result = _train(Path({str(ckpt)!r}))
        torch.save(result.model.state_dict(), {str(weights)!r})
        print(json.dumps({{"history": _history(result), "seed": derive_seed(42, "init"),
                          "at": [result.resumed_from_epoch, result.resumed_from_batch]}}))
    """)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["at"] == [1, 3]
    assert report["seed"] == derive_seed(42, "init")
    assert report["history"] == json.loads(json.dumps(_history(straight)))
    _assert_same_weights(torch.load(weights, weights_only=True), straight.model.state_dict())


def test_checkpoint_is_written_before_each_epoch_is_reported(tmp_path: Path) -> None:
    ckpt = tmp_path / "trial.pt"
    seen: list[tuple[int, dict[str, Any]]] = []
    _train(ckpt, on_epoch=lambda m: seen.append((m.epoch, torch.load(ckpt, weights_only=True)["position"])))
    assert [(e, p["epoch"], p["batch"]) for e, p in seen] == [(e, e + 1, 0) for e in range(EPOCHS)]
    assert ckpt.exists()  # the caller deletes it, not the trainer


def test_periodic_checkpoints_between_batches(tmp_path: Path) -> None:
    ckpt = tmp_path / "trial.pt"
    positions: list[tuple[int, int]] = []

    def peek() -> bool:
        if ckpt.exists():
            p = torch.load(ckpt, weights_only=True)["position"]
            positions.append((p["epoch"], p["batch"]))
        return False

    _train(ckpt, stop=peek, epochs=1, checkpoint_interval_s=1e-9)  # type: ignore[arg-type]
    assert positions[:4] == [(0, 0), (0, 1), (0, 2), (0, 3)]


def test_checkpoint_of_other_params_is_ignored(tmp_path: Path, straight: Any) -> None:
    ckpt = tmp_path / "trial.pt"
    with pytest.raises(TrainingInterrupted):
        _train(ckpt, StopAt(14), tag="other", learning_rate=1e-1)
    warnings: list[str] = []
    result = _train(ckpt, on_warning=warnings.append)
    assert result.resumed_from_epoch is None
    assert any("belongs to other parameters" in w for w in warnings)
    _assert_same_weights(result.model.state_dict(), straight.model.state_dict())


def test_checkpoint_of_another_seed_is_ignored(tmp_path: Path) -> None:
    ckpt = tmp_path / "trial.pt"
    with pytest.raises(TrainingInterrupted):
        _train(ckpt, StopAt(14), seed=99)
    warnings: list[str] = []
    assert _train(ckpt, on_warning=warnings.append, epochs=1).resumed_from_epoch is None
    assert any("'seed': (99, 7)" in w for w in warnings)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04 truncated zip"])
def test_corrupt_checkpoint_starts_fresh_with_a_warning(tmp_path: Path, straight: Any, content: bytes) -> None:
    ckpt = tmp_path / "trial.pt"
    ckpt.write_bytes(content)
    warnings: list[str] = []
    result = _train(ckpt, on_warning=warnings.append)
    assert result.resumed_from_epoch is None
    assert any("unreadable" in w for w in warnings)
    _assert_same_weights(result.model.state_dict(), straight.model.state_dict())


def test_checkpoint_that_does_not_fit_the_model_starts_fresh(tmp_path: Path) -> None:
    ckpt = tmp_path / "trial.pt"
    with pytest.raises(TrainingInterrupted):
        _train(ckpt, StopAt(4))
    saved = torch.load(ckpt, weights_only=True)
    saved["model"]["head.weight"] = torch.zeros(5, 5)
    torch.save(saved, ckpt)
    warnings: list[str] = []
    assert _train(ckpt, on_warning=warnings.append, epochs=1).resumed_from_epoch is None
    assert any("could not be restored" in w for w in warnings)


def test_delete_checkpoint_removes_file_and_stale_temp_files(tmp_path: Path) -> None:
    ckpt = tmp_path / "trial.pt"
    ckpt.write_bytes(b"x")
    (tmp_path / ".trial.pt.abc123.tmp").write_bytes(b"half")
    (tmp_path / "other.pt").write_bytes(b"keep")
    delete_checkpoint(ckpt)
    delete_checkpoint(ckpt)  # missing is fine
    assert [p.name for p in tmp_path.iterdir()] == ["other.pt"]


def test_losses_are_epoch_means_on_the_right_scale() -> None:
    # Plain CE, an almost frozen model: every batch loss is close to ln 3, so their mean is too.
    result = _train(
        epochs=1,
        learning_rate=1e-6,
        use_focal_loss=False,
        use_class_weights=False,
        label_smoothing=0.0,
        use_augmentation=False,
        dropout=0.0,
    )
    assert result.history[0].train_loss == pytest.approx(np.log(3), abs=0.15)
    assert result.history[0].val_loss == pytest.approx(np.log(3), abs=0.15)


def test_checkpoint_of_a_finished_training_just_replays_it(tmp_path: Path, straight: Any) -> None:
    ckpt = tmp_path / "trial.pt"
    _train(ckpt)
    replayed: list[int] = []
    again = _train(ckpt, on_epoch=lambda m: replayed.append(m.epoch), stop=StopAt(1))  # nothing left to stop
    assert (again.resumed_from_epoch, again.resumed_from_batch, replayed) == (EPOCHS, 0, list(range(EPOCHS)))
    _assert_same_weights(again.model.state_dict(), straight.model.state_dict())
    assert np.array_equal(again.val_pred, straight.val_pred)


# --------------------------------------------------------------------------- best-epoch restore

BEST_EPOCHS = 4


def _by_epoch(m: EpochMetrics) -> float:
    """An objective whose best epoch is known in advance: epoch 1 of 0..3."""
    return -abs(m.epoch - 1)


@pytest.fixture(scope="module")
def best_straight() -> Any:
    return _train(restore_best_epoch=True, epochs=BEST_EPOCHS, epoch_objective=_by_epoch)


def test_restore_best_epoch_returns_the_weights_and_predictions_of_that_epoch(best_straight: Any) -> None:
    assert best_straight.best_epoch == 1
    assert len(best_straight.history) == BEST_EPOCHS  # the history still has every epoch
    two_epochs = _train(epochs=2)  # the same training stopped after epoch 1
    _assert_same_weights(best_straight.model.state_dict(), two_epochs.model.state_dict())
    assert np.array_equal(best_straight.val_pred, two_epochs.val_pred)
    assert best_straight.history[1].val_f1 == pytest.approx(two_epochs.history[1].val_f1)
    last = _train(epochs=BEST_EPOCHS)
    assert last.best_epoch is None
    assert not all(
        torch.equal(a, b) for a, b in zip(last.model.state_dict().values(), best_straight.model.state_dict().values())
    )


def test_restore_best_epoch_defaults_to_the_best_val_f1() -> None:
    result = _train(restore_best_epoch=True, epochs=BEST_EPOCHS)
    f1 = [m.val_f1 for m in result.history]
    assert result.best_epoch == int(np.argmax(f1))  # argmax: the earliest of equal values
    pred, _ = predict(result.model, DATA.val, 64, "cpu")
    assert np.array_equal(pred, result.val_pred)


@pytest.mark.parametrize("k", [4, 2 * CALLS_PER_EPOCH + 3, 3 * CALLS_PER_EPOCH + 1])  # before, after the best epoch
def test_restore_best_epoch_survives_stop_and_resume(tmp_path: Path, best_straight: Any, k: int) -> None:
    ckpt = tmp_path / "trial.pt"
    with pytest.raises(TrainingInterrupted):
        _train(ckpt, StopAt(k), restore_best_epoch=True, epochs=BEST_EPOCHS, epoch_objective=_by_epoch)
    resumed = _train(ckpt, restore_best_epoch=True, epochs=BEST_EPOCHS, epoch_objective=_by_epoch)
    assert resumed.resumed_from_epoch is not None and resumed.best_epoch == 1
    _assert_same_weights(resumed.model.state_dict(), best_straight.model.state_dict())
    assert np.array_equal(resumed.val_pred, best_straight.val_pred)
    assert _history(resumed) == _history(best_straight)


def test_checkpoint_without_best_weights_is_not_used_to_restore(tmp_path: Path, best_straight: Any) -> None:
    ckpt = tmp_path / "trial.pt"
    with pytest.raises(TrainingInterrupted):
        _train(ckpt, StopAt(2 * CALLS_PER_EPOCH + 3), epochs=BEST_EPOCHS)  # restore off: no best kept
    warnings: list[str] = []
    resumed = _train(
        ckpt, on_warning=warnings.append, restore_best_epoch=True, epochs=BEST_EPOCHS, epoch_objective=_by_epoch
    )
    assert resumed.resumed_from_epoch is None and any("other data or settings" in w for w in warnings)
    _assert_same_weights(resumed.model.state_dict(), best_straight.model.state_dict())
