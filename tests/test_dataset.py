"""DataPreparer: eligibility, purged chronological split, train-only scaling, zero-copy windows."""

from __future__ import annotations

import dataclasses
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperopt_cli.config import DataConfig, LabelsConfig
from hyperopt_cli.core.errors import DataError
from hyperopt_cli.data import prepare as dataset
from hyperopt_cli.data.features import compute_features
from hyperopt_cli.data.labels import triple_barrier_labels
from hyperopt_cli.data.prepare import CLASS_NAMES, DataPreparer, PreparedData, class_weights

LABELS = LabelsConfig()


@pytest.fixture(scope="module")
def preparer(synthetic_ohlcv: pd.DataFrame) -> DataPreparer:
    return DataPreparer(synthetic_ohlcv, DataConfig(window=16, embargo_bars=3))


@pytest.fixture(scope="module")
def data(preparer: DataPreparer) -> PreparedData:
    return preparer.prepare(LABELS)


def segments(data: PreparedData) -> list[dataset.Segment]:
    return [data.train, data.val, data.test]


def test_windows_equal_a_naive_copy(data: PreparedData) -> None:
    for seg in segments(data):
        idx = np.array([0, 5, len(seg) - 1, 3, 3])
        got = seg.windows(idx)
        want = np.stack([seg.features[r - seg.window + 1 : r + 1] for r in seg.end_rows[idx]])
        assert got.shape == (len(idx), seg.window, data.n_features)
        assert got.dtype == np.float32 and got.flags.c_contiguous and got.flags.writeable
        np.testing.assert_array_equal(got, want)
        assert not np.shares_memory(got, seg.features)  # a fresh batch
    assert data.train.windows(np.array([], dtype=np.int64)).shape == (0, 16, data.n_features)


def test_windows_come_from_a_view_not_a_copy(data: PreparedData) -> None:
    view = data.train.window_view
    assert np.shares_memory(view, data.train.features)
    assert view.shape == (len(data.train.features) - 15, 16, data.n_features)
    assert view.base is not None and view.nbytes > data.train.features.nbytes  # virtual size only


def test_segments_share_one_feature_array(data: PreparedData) -> None:
    assert data.train.features is data.val.features is data.test.features
    f = data.train.features
    assert f.dtype == np.float32 and f.flags.c_contiguous and not f.flags.writeable
    assert np.isfinite(f).all()


def test_prepare_does_not_materialise_windows(synthetic_ohlcv: pd.DataFrame) -> None:
    prep = DataPreparer(synthetic_ohlcv, DataConfig(window=64))
    tracemalloc.start()
    try:
        data = prep.prepare(LABELS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n = len(data.train) + len(data.val) + len(data.test)
    materialised = n * 64 * data.n_features * 4
    assert peak < materialised / 10, (peak, materialised)


def test_purge_keeps_label_horizons_inside_their_segment(synthetic_ohlcv: pd.DataFrame) -> None:
    for window, embargo, horizon in [(16, 3, 12), (8, 0, 1), (32, 10, 30)]:
        prep = DataPreparer(synthetic_ohlcv, DataConfig(window=window, embargo_bars=embargo))
        data = prep.prepare(dataclasses.replace(LABELS, horizon=horizon))
        train, val, test = segments(data)
        assert data.purge_bars == horizon + embargo
        # no training window's label horizon reaches into the validation segment, nor val into test
        assert train.end_rows.max() + horizon < val.end_rows.min()
        assert val.end_rows.max() + horizon < test.end_rows.min()
        assert val.end_rows.min() - train.end_rows.max() == horizon + embargo + 1
        assert test.end_rows.min() - val.end_rows.max() == horizon + embargo + 1
        # and a sample never needs a bar past the data
        assert test.end_rows.max() + horizon < len(synthetic_ohlcv)


def test_samples_are_eligible_chronological_and_labelled(
    synthetic_ohlcv: pd.DataFrame, preparer: DataPreparer, data: PreparedData
) -> None:
    close = preparer.close
    labels, valid = triple_barrier_labels(close, LABELS)
    raw = preparer.raw_features
    for seg in segments(data):
        rows = seg.end_rows
        assert seg.end_rows.dtype == np.int64 and (np.diff(rows) == 1).all()
        assert valid[rows].all()
        np.testing.assert_array_equal(seg.labels, labels[rows].astype(np.int64) + 1)
        assert seg.labels.dtype == np.int64
        np.testing.assert_allclose(seg.forward_returns, np.log(close[rows + 12] / close[rows]))
        np.testing.assert_array_equal(seg.timestamps, preparer.timestamps[rows])
        assert seg.timestamps.dtype == np.dtype("datetime64[ns]")
        for r in (rows[0], rows[-1]):  # the full window of every sample is defined
            assert np.isfinite(raw[r - 15 : r + 1]).all()
    first = data.train.end_rows[0]
    assert np.isnan(raw[first - 16]).any()  # one bar earlier would not have a full window
    np.testing.assert_array_equal(raw, compute_features(synthetic_ohlcv)[0])


def test_split_follows_the_fractions(synthetic_ohlcv: pd.DataFrame) -> None:
    cfg = DataConfig(window=16, train_fraction=0.6, val_fraction=0.25, test_fraction=0.15)
    data = DataPreparer(synthetic_ohlcv, cfg).prepare(LABELS)
    n = data.info["eligible_samples"]
    assert len(data.train) == round(0.6 * n) - 12
    assert len(data.val) == round(0.85 * n) - round(0.6 * n) - 12
    assert len(data.test) == n - round(0.85 * n)


def test_scaling_is_fitted_on_train_rows_only(synthetic_ohlcv: pd.DataFrame, preparer: DataPreparer) -> None:
    data = preparer.prepare(LABELS)
    fit_end = int(data.train.end_rows[-1])
    raw = preparer.raw_features
    defined = ~np.isnan(raw[: fit_end + 1]).any(axis=1)
    scaled_train = data.train.features[: fit_end + 1][defined].astype(np.float64)
    np.testing.assert_allclose(scaled_train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(scaled_train.std(axis=0, ddof=1), 1.0, atol=1e-3)
    assert (data.train.features[np.isnan(raw)] == 0).all()  # NaN warm-up values become 0

    # Wild changes to the bars from the first validation bar on leave the train segment as it was.
    changed = synthetic_ohlcv.copy()
    start = int(data.val.end_rows[0])
    changed.iloc[start:, :4] *= 50.0
    changed.iloc[start:, 4] = 1e9
    other = DataPreparer(changed, preparer.data_cfg).prepare(LABELS)
    np.testing.assert_array_equal(other.train.features[: fit_end + 1], data.train.features[: fit_end + 1])
    np.testing.assert_array_equal(other.train.labels, data.train.labels)
    np.testing.assert_array_equal(other.class_weights, data.class_weights)


def test_class_weights() -> None:
    w = class_weights(np.array([0, 1, 1, 1, 2, 2]))
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(w[0] / w[1], 3.0, rtol=1e-6)  # inverse frequency
    absent = class_weights(np.array([1, 1, 2]))
    assert absent[0] == 0 and np.isclose(absent[1:].mean(), 1.0) and np.isclose(absent[2] / absent[1], 2.0)
    assert (class_weights(np.array([], dtype=np.int64)) == 0).all()


def test_class_weights_come_from_train(data: PreparedData) -> None:
    np.testing.assert_array_equal(data.class_weights, class_weights(data.train.labels))


def test_info(preparer: DataPreparer, data: PreparedData) -> None:
    info = data.info
    assert info["bars"] == 3000 and info["n_features"] == data.n_features == len(data.feature_names)
    assert info["first_timestamp"] == "2020-01-01T00:00:00+00:00" and info["bar_size"] == "1h"
    assert info["gaps"] == 0 and info["purge_bars"] == 15 and info["embargo_bars"] == 3
    assert info["warnings"] == [] and info["labels"]["horizon"] == 12
    for name, seg in zip(("train", "val", "test"), segments(data)):
        s = info["segments"][name]
        assert s["samples"] == len(seg)
        assert s["first_timestamp"] == pd.Timestamp(seg.timestamps[0], tz="UTC").isoformat()
        assert s["last_timestamp"] == pd.Timestamp(seg.timestamps[-1], tz="UTC").isoformat()
        assert s["label_counts"] == dict(zip(CLASS_NAMES, seg.class_counts().tolist()))
        assert sum(s["label_counts"].values()) == len(seg)
        assert sum(s["label_shares"].values()) == pytest.approx(1.0)
    assert info["segments"]["train"]["last_timestamp"] < info["segments"]["val"]["first_timestamp"]


def test_info_warns_about_missing_and_dominant_classes(synthetic_ohlcv: pd.DataFrame) -> None:
    prep = DataPreparer(synthetic_ohlcv, DataConfig(window=16))
    wide = prep.prepare(LabelsConfig(take_profit=50.0, stop_loss=50.0, threshold=50.0))
    assert wide.class_weights.tolist() == [0.0, 1.0, 0.0]
    assert "the train segment has no SELL samples; its class weight is 0" in wide.info["warnings"]
    assert (
        "100% of the train labels are HOLD; consider other labels.threshold/take_profit/stop_loss"
        in (wide.info["warnings"])
    )


def test_cached_by_label_values(synthetic_ohlcv: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = dataset.compute_features
    monkeypatch.setattr(dataset, "compute_features", lambda df: calls.append(1) or real(df))
    prep = DataPreparer(synthetic_ohlcv, DataConfig(window=16), max_cached=2)
    a = prep.prepare(LabelsConfig())
    assert prep.prepare(LabelsConfig()) is a
    b = prep.prepare(LabelsConfig(threshold=0.8))
    assert b is not a and b.train.features is a.train.features  # same split: scaling reused
    c = prep.prepare(LabelsConfig(horizon=6))
    assert not np.array_equal(c.train.end_rows, a.train.end_rows)
    assert prep.prepare(LabelsConfig()) is not a  # evicted: at most two settings kept
    assert len(calls) == 1  # features computed once, in __init__


def test_too_few_bars(synthetic_ohlcv: pd.DataFrame) -> None:
    small = synthetic_ohlcv.iloc[:250]
    with pytest.raises(DataError, match=r"^synthetic \(seed 7\): too few bars: 250 bars give train \d+, val \d+"):
        DataPreparer(small, DataConfig()).prepare(LABELS)


def test_real_eurusd_labels_are_balanced_enough() -> None:
    from hyperopt_cli.data.load import load_ohlcv

    data = DataPreparer(load_ohlcv(str(Path(__file__).parent / "data" / "EURUSD_H1.csv")), DataConfig()).prepare(LABELS)
    shares = data.info["segments"]["train"]["label_shares"]
    assert all(0.03 < shares[c] < 0.8 for c in CLASS_NAMES)
    assert data.info["gaps"] > 30 and data.info["bars"] == 5000
