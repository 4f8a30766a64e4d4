"""`hyperopt predict`: the saved model's signals on new bars, reproducing the run's own test predictions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_helpers import env, hyperopt, into_closed_pipe
from hyperopt_cli.data.features import WARMUP_BARS
from hyperopt_cli.model.predict import compact_duration, predict_file

CLASSES = ["SELL", "HOLD", "BUY"]
SLOW = pytest.mark.slow  # for the cases that cost one more `hyperopt predict` process each (~3 s)


@pytest.fixture(scope="module")
def run(quick_csv_run: tuple[Path, Path, dict[str, Any]]) -> tuple[Path, Path, dict[str, Any]]:
    return quick_csv_run  # shared: this module only reads the run


def _last_block(results: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp, list[int]]:
    block = results["walk_forward"]["blocks"][-1]
    return pd.Timestamp(block["first_timestamp"]), pd.Timestamp(block["last_timestamp"]), block["predictions"]["model"]


def _block_signals(frame: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> list[int]:
    inside = frame[(frame["timestamp"] >= first) & (frame["timestamp"] <= last)]
    return [CLASSES.index(s) for s in inside["signal"]]


def test_predict_on_the_runs_own_file_reproduces_the_last_blocks_predictions(run: Any) -> None:
    run_dir, data, results = run
    prediction = predict_file(run_dir, data)
    first, last, stored = _last_block(results)
    assert _block_signals(prediction.frame, first, last) == stored
    window = json.loads((run_dir / "model" / "model.json").read_text())["features"]["window"]
    assert prediction.lacking_history == WARMUP_BARS + window - 1
    assert prediction.n_bars == len(prediction.frame) + prediction.skipped
    probs = prediction.frame[["p_sell", "p_hold", "p_buy"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert any("inside the training range" in w and "in-sample" in w for w in prediction.warnings)


def test_other_column_names_and_time_zone_predict_the_same(run: Any, tmp_path: Path) -> None:
    run_dir, data, results = run
    frame = pd.read_csv(data)
    stamps = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_convert("Europe/Berlin")
    other = pd.DataFrame(
        {
            "Date": stamps.map(lambda t: t.isoformat()),
            "Open": frame["open"],
            "High": frame["high"],
            "Low": frame["low"],
            "Close": frame["close"],
            "Vol": frame["volume"],
        }
    )
    moved = tmp_path / "berlin.csv"
    other.to_csv(moved, index=False, sep=";")
    a, b = predict_file(run_dir, data).frame, predict_file(run_dir, moved).frame
    pd.testing.assert_frame_equal(a, b)


def test_the_scaler_is_never_refitted(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from hyperopt_cli.data import prepare

    def refuse(*_: Any) -> None:
        raise AssertionError("predict refitted the scaler")

    monkeypatch.setattr(prepare, "fit_scaler", refuse)
    monkeypatch.setattr(prepare, "standardise", refuse)
    run_dir, data, results = run
    first, last, stored = _last_block(results)
    assert _block_signals(predict_file(run_dir, data).frame, first, last) == stored


@pytest.mark.slow  # several `hyperopt predict` processes (~7-9 s)
def test_last_n_and_csv_parquet_json_outputs(run: Any, tmp_path: Path) -> None:
    run_dir, data, _ = run
    full = predict_file(run_dir, data).frame
    tail = predict_file(run_dir, data, last=25).frame
    pd.testing.assert_frame_equal(tail.reset_index(drop=True), full.tail(25).reset_index(drop=True))
    csv, parquet = tmp_path / "signals.csv", tmp_path / "signals.parquet"
    for target in (csv, parquet):
        done = hyperopt("predict", run_dir, "--data", data, "--out", target, "--last", "40", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "lack a full window of history" in done.stderr  # the last 40 bars follow the training range
        assert "in-sample" not in done.stderr
    written = pd.read_csv(csv)
    assert list(written.columns) == ["timestamp", "signal", "p_sell", "p_hold", "p_buy"] and len(written) == 40
    assert written["signal"].tolist() == full.tail(40)["signal"].tolist()
    assert pd.read_parquet(parquet)["signal"].tolist() == full.tail(40)["signal"].tolist()
    shown = hyperopt("predict", run_dir, "--data", data, "--json", "--last", "3", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    parsed = json.loads(shown.stdout)
    assert set(parsed) == {"run", "bars", "predicted", "lacking_history", "skipped", "warnings", "rows"}
    assert parsed["run"] == str(run_dir) and shown.stderr == ""  # a named run is not announced
    assert [r["signal"] for r in parsed["rows"]] == full.tail(3)["signal"].tolist()
    assert set(parsed["rows"][0]) == {"timestamp", "signal", "p_sell", "p_hold", "p_buy"}


def test_predict_without_a_run_uses_the_newest_and_says_so(run: Any, tmp_path: Path) -> None:
    run_dir, data, _ = run
    shown = hyperopt("predict", "--runs-dir", run_dir.parent, "--data", data, "--json", "--last", "1", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr.splitlines()[0] == f"Using run {run_dir} (newest)"
    assert json.loads(shown.stdout)["run"] == str(run_dir)


@pytest.mark.slow  # several `hyperopt predict` processes (~7-9 s)
def test_out_dash_writes_the_csv_to_stdout(run: Any, tmp_path: Path) -> None:
    run_dir, data, _ = run
    assert (
        hyperopt("predict", run_dir, "--data", data, "--out", "file.csv", "--last", "5", cwd=tmp_path).returncode == 0
    )
    piped = hyperopt("predict", run_dir, "--data", data, "--out", "-", "--last", "5", cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == (tmp_path / "file.csv").read_text()
    both = hyperopt("predict", run_dir, "--data", data, "--out", "-", "--json", cwd=tmp_path)
    assert both.returncode == 2 and "--out - and --json both write to stdout" in both.stderr


@pytest.mark.parametrize("args", [["--json"], pytest.param([], marks=SLOW), pytest.param(["--out", "-"], marks=SLOW)])
def test_a_reader_that_goes_away_ends_predict_quietly(run: Any, tmp_path: Path, args: list[str]) -> None:
    run_dir, data, _ = run
    code, stderr = into_closed_pipe("predict", run_dir, "--data", data, *args, cwd=tmp_path)
    assert code == 141, stderr
    assert "Error" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3600, "1h"), (900, "15min"), (86400, "1d"), (30, "30s"), (5400, "90min"), (172800, "2d"), (90.5, "90.5s")],
)
def test_bar_spacings_read_as_people_write_them(seconds: float, text: str) -> None:
    assert compact_duration(seconds) == text


def test_a_file_with_another_bar_spacing_warns(run: Any, tmp_path: Path) -> None:
    run_dir, data, _ = run
    frame = pd.read_csv(data)
    frame["timestamp"] = pd.date_range("2030-01-01", periods=len(frame), freq="1D", tz="UTC").map(
        lambda t: t.isoformat()
    )
    daily = tmp_path / "daily.csv"
    frame.to_csv(daily, index=False)
    warnings = predict_file(run_dir, daily).warnings
    assert any("bars are 1d apart, the model was trained on bars 1h apart" in w for w in warnings)
    assert not any("in-sample" in w for w in warnings)  # 2030: after the training range


def test_daily_bars_of_the_training_period_are_not_called_in_sample(run: Any, tmp_path: Path) -> None:
    # An hourly model on daily bars (another symbol's) that overlap its training dates: same period, other bars.
    run_dir, data, _ = run
    frame = pd.read_csv(data)
    # Predictions start after the warm-up and a window (~127 daily bars): from about 2019-12, into the training dates.
    frame["timestamp"] = pd.date_range("2019-08-01", periods=len(frame), freq="1D", tz="UTC").map(
        lambda t: t.isoformat()
    )
    daily = tmp_path / "other_daily.csv"
    frame.to_csv(daily, index=False)
    warnings = predict_file(run_dir, daily).warnings
    assert not any("in-sample" in w for w in warnings), warnings
    assert any("fall in the training period" in w and "they are 1d bars, the model's were 1h" in w for w in warnings)


def test_the_data_summary_writes_bar_sizes_as_predict_does() -> None:
    from hyperopt_cli.data.load import index_info

    for freq, text in [("1h", "1h"), ("1D", "1d"), ("15min", "15min")]:
        assert index_info(pd.date_range("2020-01-01", periods=5, freq=freq, tz="UTC"))["bar_size"] == text
        assert compact_duration(pd.Timedelta(freq).total_seconds()) == text


@pytest.mark.parametrize(
    "case, code, message",
    [
        ("missing_column", 4, "Error: "),
        pytest.param("unreadable", 4, "Error: ", marks=SLOW),
        pytest.param("no_model", 6, "Error: no saved model in ", marks=SLOW),
        pytest.param("bad_out", 4, "Error: --out ", marks=SLOW),
    ],
)
def test_bad_input_gives_one_error_line(run: Any, tmp_path: Path, case: str, code: int, message: str) -> None:
    run_dir, data, _ = run
    target: Path = run_dir
    extra: list[str] = []
    if case == "missing_column":
        frame = pd.read_csv(data).drop(columns=["close"])
        data = tmp_path / "no_close.csv"
        frame.to_csv(data, index=False)
    elif case == "unreadable":
        data = tmp_path / "garbage.parquet"
        data.write_bytes(b"\x00not parquet at all")
    elif case == "no_model":
        target = tmp_path / "bare_run"
        target.mkdir()
        (target / "config.yaml").write_text("seed: 1\n")
    else:
        extra = ["--out", str(tmp_path / "signals.txt")]
    done = hyperopt("predict", target, "--data", data, *extra, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr
    if case == "missing_column":
        assert "close" in lines[0]


def test_predict_imports_neither_optuna_nor_the_trainer(run: Any) -> None:
    run_dir, data, _ = run
    code = (
        "import sys\nfrom hyperopt_cli.model.predict import predict_file\n"
        f"predict_file({str(run_dir)!r}, {str(data)!r})\n"
        "bad = [m for m in ('optuna', 'hyperopt_cli.training.trainer', 'sklearn', 'hyperopt_cli.search.group') "
        "if m in sys.modules]\nassert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
