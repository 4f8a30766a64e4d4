"""Several symbols in one run (issue 24): the same-time cut, windows within a symbol, scaling, the time bootstrap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperopt_cli.config import DataConfig, LabelsConfig
from hyperopt_cli.core.errors import DataError
from hyperopt_cli.data.panel import NEVER
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.evaluation.verdict import compare, paired_bootstrap
from hyperopt_cli.evaluation.walkforward import WalkForwardSource, fold_segments, walk_forward_folds

LABELS = LabelsConfig(horizon=6)


def named(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    frame.attrs["info"] = {"symbol": symbol, "source": f"{symbol}.csv"}
    return frame


def panel() -> list[pd.DataFrame]:
    """Three hourly symbols on different ranges; one has a week missing (another calendar)."""
    a = named(synthetic_ohlcv(1500, seed=1, start="2021-01-01", freq="1h"), "AAA")
    b = named(synthetic_ohlcv(1100, seed=2, start="2021-01-20", freq="1h"), "BBB")
    c = synthetic_ohlcv(1400, seed=3, start="2021-01-05", freq="1h")
    c = named(c.drop(c.index[300:468]), "CCC")
    return [a, b, c]


@pytest.fixture(scope="module")
def preparer() -> DataPreparer:
    return DataPreparer(panel(), DataConfig(window=16, embargo_bars=2))


def check_cut(earlier, later) -> None:
    """Nothing in `earlier` (labels included) is later than the first sample of `later`, in any symbol."""
    assert earlier.label_ends.max() < later.timestamps.min()


def test_every_segment_is_cut_at_the_same_time_for_all_symbols(preparer: DataPreparer) -> None:
    data = preparer.prepare(LABELS)
    check_cut(data.train, data.val)
    check_cut(data.val, data.test)
    assert set(np.unique(data.train.symbols)) == {0, 1, 2}
    assert set(np.unique(data.test.symbols)) == {0, 1, 2}
    for part in (data.train, data.val, data.test):
        assert np.all(np.diff(part.timestamps.astype(np.int64)) >= 0)  # time order across symbols


def test_a_per_symbol_fraction_split_would_leak_across_symbols(preparer: DataPreparer) -> None:
    """The rule the cut enforces is not vacuous: splitting each symbol by its own fractions breaks it."""
    data = preparer.prepare(LABELS)
    per_symbol_train_ends = []
    val_starts = []
    everything = np.concatenate([data.train.timestamps, data.val.timestamps, data.test.timestamps])
    symbols = np.concatenate([data.train.symbols, data.val.symbols, data.test.symbols])
    for s in range(3):
        times = np.sort(everything[symbols == s])
        b1 = int(round(len(times) * 0.7))
        per_symbol_train_ends.append(times[b1 - 1])
        val_starts.append(times[b1])
    assert max(per_symbol_train_ends) > min(val_starts)  # a training row past another symbol's validation start


def test_selection_folds_and_walk_forward_blocks_cut_at_one_time(preparer: DataPreparer) -> None:
    folds = preparer.prepare_folds(LABELS, 3)
    assert len(folds) == 3
    for fold in folds:
        check_cut(fold.train, fold.val)
    data = preparer.prepare(LABELS)
    source = WalkForwardSource.from_prepared(preparer, data)
    for fold in walk_forward_folds(source, 3):
        train, block = fold_segments(source, fold)
        check_cut(train, block)
        assert len(np.unique(block.symbols)) == 3


def test_no_window_spans_two_symbols(preparer: DataPreparer) -> None:
    data = preparer.prepare(LABELS)
    layout = preparer.layout
    for part in (data.train, data.val, data.test):
        first_rows = part.end_rows - (part.window - 1)
        assert np.array_equal(layout.symbol_of_rows(first_rows), layout.symbol_of_rows(part.end_rows))
        assert np.array_equal(layout.symbol_of_rows(part.end_rows), part.symbols)


def test_labels_never_look_into_the_next_symbol(preparer: DataPreparer) -> None:
    data = preparer.prepare(LABELS)
    layout = preparer.layout
    for part in (data.train, data.val, data.test):
        stops = layout.starts[part.symbols.astype(np.int64) + 1]
        assert np.all(part.end_rows + LABELS.horizon < stops)
    assert np.all(data.test.label_ends[-5:] == NEVER) or data.test.label_ends.max() > data.val.timestamps.max()


def test_one_symbol_in_a_list_is_the_single_file_run() -> None:
    frame = named(synthetic_ohlcv(1200, seed=4, freq="1h"), "ONE")
    single = DataPreparer(frame, DataConfig(window=16)).prepare(LABELS)
    listed = DataPreparer([frame], DataConfig(window=16)).prepare(LABELS)
    for name in ("train", "val", "test"):
        a, b = getattr(single, name), getattr(listed, name)
        assert a.features.tobytes() == b.features.tobytes()
        assert np.array_equal(a.end_rows, b.end_rows)


def test_per_symbol_scaling_centres_each_symbol_on_its_training_rows() -> None:
    frames = panel()
    frames[1] = named(frames[1].assign(**{c: frames[1][c] for c in ("open", "high", "low", "close")}), "BBB")
    per_symbol = DataPreparer(frames, DataConfig(window=16, scaling="per_symbol"))
    pooled = DataPreparer(frames, DataConfig(window=16, scaling="pooled"))
    cut = per_symbol.prepare(LABELS).train.timestamps.max()
    scaler = per_symbol.scaler_until(cut)
    pooled_scaler = pooled.scaler_until(cut)
    assert not np.allclose(scaler.mean[0], scaler.mean[1])  # each symbol its own statistics
    assert np.array_equal(pooled_scaler.mean[0], pooled_scaler.mean[1])
    ret1 = per_symbol.feature_names.index("ret_1")
    features = per_symbol.prepare(LABELS).train.features
    for s in range(3):
        rows = per_symbol.layout.rows_of(s)
        fit = per_symbol.layout.timestamps[rows] <= cut
        assert abs(float(features[rows][fit][:, ret1].mean())) < 0.05


def test_mixed_bar_spacings_are_refused() -> None:
    hourly = named(synthetic_ohlcv(800, seed=1, freq="1h"), "H")
    daily = named(synthetic_ohlcv(800, seed=2, freq="1D"), "D")
    with pytest.raises(DataError, match=r"mixed bar spacings, one run needs one bar size .*: 1h: H; 1d: D$"):
        DataPreparer([hourly, daily], DataConfig())


def test_mixed_spacings_of_many_symbols_name_a_few_after_the_reason() -> None:
    frames = [named(synthetic_ohlcv(200, seed=i, freq="1h" if i < 8 else "1D"), f"S{i}") for i in range(10)]
    with pytest.raises(DataError) as raised:
        DataPreparer(frames, DataConfig())
    message = str(raised.value)
    assert message.startswith("mixed bar spacings, one run needs one bar size")
    assert message.endswith("1h: S0, S1, S2 and 5 more; 1d: S8, S9") and len(message) < 200


def test_a_one_bar_file_among_many_is_refused_before_the_rest_load(tmp_path: Path) -> None:
    from hyperopt_cli.config import OptimizationConfig
    from hyperopt_cli.data.load import load_data

    folder = tmp_path / "bars"
    folder.mkdir()
    for i in range(3):
        synthetic_ohlcv(300, seed=i).to_csv(folder / f"A{i}.csv", index_label="timestamp")
    (folder / "B.csv").write_text("timestamp,open,high,low,close,volume\n2020-01-01,1,1,1,1,1\n")
    (folder / "C.csv").write_text("not a price file at all")  # never read: B is refused first
    cfg = OptimizationConfig()
    cfg.data.path = str(folder)
    with pytest.raises(DataError, match="symbol B has fewer than 2 bars"):
        load_data(cfg)


def test_a_symbol_with_one_bar_is_refused_by_name() -> None:
    with pytest.raises(DataError, match="symbol ONE has fewer than 2 bars"):
        DataPreparer(
            [named(synthetic_ohlcv(500, seed=1), "X"), named(synthetic_ohlcv(500, seed=2).iloc[:1], "ONE")],
            DataConfig(),
        )


def test_two_inputs_with_one_symbol_name_are_refused() -> None:
    with pytest.raises(DataError, match="symbol 'X'"):
        DataPreparer([named(synthetic_ohlcv(500, seed=1), "X"), named(synthetic_ohlcv(500, seed=2), "X")], DataConfig())


def test_the_time_bootstrap_does_not_count_a_copied_symbol_as_new_evidence() -> None:
    """The same symbol twice: the pooled interval equals the one-symbol interval (blocks of time, not samples)."""
    rng = np.random.default_rng(0)
    n = 400
    labels = rng.integers(0, 3, n)
    model = np.where(rng.random(n) < 0.6, labels, rng.integers(0, 3, n))
    base = rng.integers(0, 3, n)
    returns = rng.normal(size=n)
    times = np.arange(n).astype("datetime64[h]").astype("datetime64[ns]")
    one = paired_bootstrap(labels, returns, model, base, block_length=8, seed=1, n_resamples=300)
    twice = paired_bootstrap(
        np.repeat(labels, 2),
        np.repeat(returns, 2),
        np.repeat(model, 2),
        np.repeat(base, 2),
        block_length=8,
        seed=1,
        n_resamples=300,
        times=np.repeat(times, 2),
    )
    np.testing.assert_allclose(one[0], twice[0], atol=1e-12)
    np.testing.assert_allclose(one[1], twice[1], atol=1e-9)


def test_correlated_symbols_do_not_fake_a_narrow_interval() -> None:
    """Four copies of a symbol whose hits come in runs: blocks of samples would cut the runs, blocks of time do not."""
    rng = np.random.default_rng(3)
    n_times, run, copies = 240, 12, 4
    labels = rng.integers(0, 3, n_times)
    hit = np.repeat(rng.random(n_times // run) < 0.5, run)  # the model is right or wrong for 12 bars at a time
    model = np.where(hit, labels, (labels + 1) % 3)
    base = np.where(rng.random(n_times) < 0.5, labels, (labels + 2) % 3)
    times = np.arange(n_times).astype("datetime64[h]").astype("datetime64[ns]")
    args = [np.repeat(x, copies) for x in (labels, rng.normal(size=n_times), model)]
    naive = compare(*args, {"b": np.repeat(base, copies)}, block_length=run, seed=1, n_resamples=600)
    timed = compare(
        *args, {"b": np.repeat(base, copies)}, block_length=run, seed=1, n_resamples=600, times=np.repeat(times, copies)
    )
    width = lambda v: v.interval_macro_f1[1] - v.interval_macro_f1[0]  # noqa: E731
    assert width(naive) < 0.75 * width(timed)


def test_a_folder_given_to_the_api_is_fingerprinted_as_its_files(tmp_path) -> None:
    from hyperopt_cli.run.checks import data_fingerprint

    for name, seed in (("AAA", 1), ("BBB", 2)):
        synthetic_ohlcv(300, seed=seed).to_csv(tmp_path / f"{name}.csv", index_label="timestamp")
    before = data_fingerprint(str(tmp_path), 600)
    assert sorted(before["files"]) == [str(tmp_path / "AAA.csv"), str(tmp_path / "BBB.csv")]
    synthetic_ohlcv(300, seed=3).to_csv(tmp_path / "CCC.csv", index_label="timestamp")
    assert data_fingerprint(str(tmp_path), 600)["sha256"] != before["sha256"]  # a file added later is a change


def test_a_long_format_file_is_refused_with_the_way_out(tmp_path) -> None:
    from hyperopt_cli.data.load import load_ohlcv

    a, b = synthetic_ohlcv(50, seed=1), synthetic_ohlcv(50, seed=2)
    long = pd.concat([a.assign(symbol="AAA"), b.assign(symbol="BBB")])
    long.to_csv(tmp_path / "long.csv", index_label="timestamp")
    with pytest.raises(DataError, match="column 'symbol' holds 2 different symbols; .*one file per symbol"):
        load_ohlcv(tmp_path / "long.csv")
    a.assign(symbol="AAA").to_csv(tmp_path / "one.csv", index_label="timestamp")
    assert len(load_ohlcv(tmp_path / "one.csv")) == 50  # one symbol in the column is fine
