from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hyperopt_cli.config import DataConfig, LabelsConfig
from hyperopt_cli.core.errors import DataError
from hyperopt_cli.data.prepare import DataPreparer, Segment, standardise
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.evaluation.baselines import logistic_regression, majority_class
from hyperopt_cli.evaluation.walkforward import (
    MODEL,
    BlockResult,
    WalkForwardSource,
    as_prepared_data,
    fold_segments,
    walk_forward,
    walk_forward_folds,
)

FAST_BASELINES = {"majority_class": majority_class, "logistic_regression": logistic_regression}


@pytest.fixture(scope="module")
def source() -> WalkForwardSource:
    preparer = DataPreparer(synthetic_ohlcv(1500, seed=5), DataConfig(window=8, embargo_bars=2))
    data = preparer.prepare(LabelsConfig(horizon=6))
    return WalkForwardSource.from_prepared(preparer, data)


def _logreg_model(train: Segment, block: Segment) -> np.ndarray:
    return logistic_regression(train, block, 0)


def test_blocks_cover_the_test_segment_in_order(source: WalkForwardSource) -> None:
    folds = walk_forward_folds(source, 4)
    tested = np.concatenate([f.test_idx for f in folds])
    np.testing.assert_array_equal(tested, np.arange(source.first_test, len(source.end_rows)))
    sizes = [len(f.test_idx) for f in folds]
    assert max(sizes) - min(sizes) <= 1


def test_fold_boundaries_are_purged_and_keep_everything_else(source: WalkForwardSource) -> None:
    assert source.purge_bars == 8  # horizon 6 + embargo 2
    for fold in walk_forward_folds(source, 3):
        first_bar = source.end_rows[fold.test_idx[0]]
        train_rows = source.end_rows[fold.train_idx]
        assert train_rows.max() + source.purge_bars < first_bar  # no training label reaches the block
        earlier = source.end_rows[: fold.test_idx[0]]
        assert len(fold.train_idx) == int((earlier + source.purge_bars < first_bar).sum())
        if fold.block:  # later blocks train on the earlier test blocks too (expanding window)
            assert fold.train_idx.max() >= source.first_test


def test_features_are_scaled_on_the_folds_training_rows_only(source: WalkForwardSource) -> None:
    fold = walk_forward_folds(source, 3)[1]
    train, block = fold_segments(source, fold)
    last_train_bar = int(train.end_rows[-1])
    poisoned_raw = source.raw_features.copy()
    poisoned_raw[last_train_bar + 1 :] *= 1000.0  # the future (block included) rescaled wildly
    poisoned = dataclasses.replace(source, raw_features=poisoned_raw)
    train_p, _ = fold_segments(poisoned, fold)
    np.testing.assert_array_equal(train_p.features[: last_train_bar + 1], train.features[: last_train_bar + 1])
    fit_rows = ~np.isnan(source.raw_features).any(axis=1)
    fit_rows[last_train_bar + 1 :] = False
    np.testing.assert_array_equal(train.features, standardise(source.raw_features, fit_rows))
    assert block.features is train.features


def test_model_and_baselines_see_only_labels_before_each_block(source: WalkForwardSource) -> None:
    """Poison every label from block 1 on: blocks 0 and 1 score the same predictions, block 2 does not."""
    folds = walk_forward_folds(source, 3)
    seen: list[tuple[int, int]] = []

    def model(train: Segment, block: Segment) -> np.ndarray:
        seen.append((int(train.end_rows.max()), int(block.end_rows.min())))
        return _logreg_model(train, block)

    clean = walk_forward(source, model, n_blocks=3, seed=0, baselines=FAST_BASELINES)
    assert all(last + source.purge_bars < first for last, first in seen)
    labels = source.labels.copy()
    start = folds[1].test_idx[0]
    labels[start:] = (labels[start:] + 1) % 3
    poisoned = walk_forward(
        dataclasses.replace(source, labels=labels), model, n_blocks=3, seed=0, baselines=FAST_BASELINES
    )
    for k in (0, 1):
        assert poisoned.blocks[k].predictions == clean.blocks[k].predictions
    assert poisoned.blocks[2].predictions[MODEL] != clean.blocks[2].predictions[MODEL]
    assert poisoned.blocks[2].predictions["logistic_regression"] != clean.blocks[2].predictions["logistic_regression"]


def test_pooled_and_per_block_metrics(source: WalkForwardSource) -> None:
    result = walk_forward(source, _logreg_model, n_blocks=3, seed=0, baselines=FAST_BASELINES)
    assert set(result.pooled) == {MODEL, *FAST_BASELINES}
    # the model is the logistic regression here, so both score identically
    assert result.pooled[MODEL] == result.pooled["logistic_regression"]
    for metrics in result.pooled.values():
        assert metrics["n_samples"] == len(result.labels) == sum(b.stop - b.start for b in result.blocks)
        assert set(metrics) >= {"macro_f1", "per_class_f1", "pred_distribution", "trading_score"}
    assert result.pooled["majority_class"]["trading_score"] == 0.0  # a constant signal
    block = result.blocks[1]
    assert block.metrics[MODEL]["n_samples"] == block.stop - block.start
    assert block.first_timestamp < block.last_timestamp < result.blocks[2].first_timestamp
    as_json = result.as_dict()
    assert BlockResult.from_dict(as_json["blocks"][1]) == block


def test_a_stop_mid_walk_forward_resumes_without_refitting_finished_blocks(source: WalkForwardSource) -> None:
    stored: list[dict] = []
    calls: list[int] = []

    class Stop(Exception):
        pass

    def stopping_model(train: Segment, block: Segment) -> np.ndarray:
        calls.append(int(block.end_rows[0]))
        if len(calls) == 2:
            raise Stop
        return _logreg_model(train, block)

    with pytest.raises(Stop):
        walk_forward(
            source,
            stopping_model,
            n_blocks=3,
            seed=0,
            baselines=FAST_BASELINES,
            on_block=lambda b: stored.append(b.as_dict()),
        )
    assert len(stored) == 1
    calls.clear()
    done = [BlockResult.from_dict(raw) for raw in stored]
    resumed = walk_forward(source, _count(calls), n_blocks=3, seed=0, baselines=FAST_BASELINES, done=done)
    folds = walk_forward_folds(source, 3)
    assert calls == [int(source.end_rows[f.test_idx[0]]) for f in folds[1:]]  # block 0 not refitted
    straight = walk_forward(source, _logreg_model, n_blocks=3, seed=0, baselines=FAST_BASELINES)
    assert resumed.as_dict() == straight.as_dict()


def _count(calls: list[int]):  # type: ignore[no-untyped-def]
    def model(train: Segment, block: Segment) -> np.ndarray:
        calls.append(int(block.end_rows[0]))
        return _logreg_model(train, block)

    return model


def test_too_many_blocks_is_an_error_that_says_what_to_change(source: WalkForwardSource) -> None:
    with pytest.raises(DataError, match="fewer blocks or a larger data.test_fraction"):
        walk_forward_folds(source, 1000)


def test_prepared_data_for_a_fold_purges_its_validation_split(source: WalkForwardSource) -> None:
    train, block = fold_segments(source, walk_forward_folds(source, 3)[2])
    data = as_prepared_data(train, block, source.purge_bars, source.feature_names, val_fraction=0.2)
    assert data.train.end_rows.max() + source.purge_bars < data.val.end_rows.min()
    assert len(data.val) == round(len(train) * 0.2)
    assert data.test is block and data.train.features is train.features
    assert data.class_weights[data.train.class_counts() > 0].mean() == pytest.approx(1.0)


def test_the_lstm_walks_forward_and_resumes_a_stopped_block(source: WalkForwardSource, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hyperopt_cli.config import ModelConfig, TrainerConfig
    from hyperopt_cli.evaluation.lstm import lstm_fit_predict
    from hyperopt_cli.training.trainer import TrainHooks, TrainingInterrupted

    cfg = TrainerConfig(batch_size=64, device="cpu", checkpoint_interval_s=3600.0)
    kwargs = dict(epochs=2, seed=1, purge_bars=source.purge_bars, feature_names=source.feature_names)
    model = ModelConfig(hidden_size=6, num_layers=1)
    straight = walk_forward(source, lstm_fit_predict(cfg, model, **kwargs), n_blocks=2, seed=0, baselines={})
    calls = {"n": 0}

    def stop_once() -> bool:
        calls["n"] += 1
        return calls["n"] == 5

    stopping = lstm_fit_predict(cfg, model, **kwargs, hooks=TrainHooks(should_stop=stop_once), checkpoint_dir=tmp_path)
    with pytest.raises(TrainingInterrupted):
        walk_forward(source, stopping, n_blocks=2, seed=0, baselines={})
    assert len(list(tmp_path.glob("walk_forward_*.pt"))) == 1  # block 0's training, stopped mid-way
    resumed = walk_forward(
        source, lstm_fit_predict(cfg, model, **kwargs, checkpoint_dir=tmp_path), n_blocks=2, seed=0, baselines={}
    )
    assert resumed.as_dict() == straight.as_dict()


def test_walk_forward_and_verdict_import_without_torch_or_sklearn() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hyperopt_cli.evaluation.verdict, hyperopt_cli.evaluation.baselines; "
        "print('torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
