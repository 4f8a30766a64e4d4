"""Several symbols (issue 24): the saved model records its symbols and scalers; predict per symbol, seen or not."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_helpers import hyperopt, tiny_raw
from hyperopt_cli.config import config_from_dict, families_for, model_for, read_yaml, with_params
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.data.features import compute_features
from hyperopt_cli.data.load import load_data, load_ohlcv
from hyperopt_cli.data.panel import Scaler, fit_scaler
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.evaluation.walkforward import WalkForwardSource, fold_scaler, walk_forward_folds
from hyperopt_cli.model.artifact import SavedModel, load_model, read_manifest
from hyperopt_cli.model.build import scaler_section
from hyperopt_cli.model.predict import predict_bars, predict_paths, several_inputs
from hyperopt_cli.run.export import export_config, refit
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.run.records import load_run_config
from model_helpers import write_bars

SYMBOLS = ("AAA", "BBB")
CLASSES = ["SELL", "HOLD", "BUY"]
COLUMNS = ["timestamp", "signal", "p_sell", "p_hold", "p_buy"]


@dataclasses.dataclass
class PanelRun:
    run_dir: Path
    folder: Path  # AAA.csv and BBB.csv
    results: dict[str, Any]

    def file(self, symbol: str) -> Path:
        return self.folder / f"{symbol}.csv"


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory: pytest.TempPathFactory) -> PanelRun:
    """A finished quick tiny run on a folder of two hourly symbols (different seeds), per-symbol scaling."""
    root = tmp_path_factory.mktemp("panel_model")
    folder = root / "prices"
    folder.mkdir()
    for seed, symbol in enumerate(SYMBOLS, start=11):
        write_bars(folder / f"{symbol}.csv", seed=seed)
    raw = tiny_raw("mode=quick", "trainer.device=cpu")
    raw["data"]["path"] = [str(folder / f"{symbol}.csv") for symbol in SYMBOLS]  # as `start` freezes a folder
    run_dir = root / "runs" / "job"
    results = HyperparameterOptimizer(config_from_dict(raw), run_dir).optimize()
    return PanelRun(run_dir, folder, results)


def _source(run_dir: Path, results: dict[str, Any]) -> tuple[Any, WalkForwardSource]:
    """The run's walk-forward source, rebuilt from its frozen config as the final evaluation builds it."""
    cfg = load_run_config(run_dir, for_display=True)
    fixed = dict(results.get("fixed_params") or {})
    _, labels_cfg = with_params(cfg, fixed)
    preparer = DataPreparer.for_run(load_data(cfg), cfg)  # samples fixed by the longest window the run may try
    data = preparer.prepare(labels_cfg, families_for(cfg, fixed), model_for(cfg, fixed)[1])
    return cfg, WalkForwardSource.from_prepared(preparer, data)


def _with_scaler(saved: SavedModel, mean: np.ndarray, std: np.ndarray) -> SavedModel:
    """The same members with one scaler for every file, as a single-symbol model has."""
    return SavedModel(saved.manifest, saved.members, np.asarray(mean), np.asarray(std))


def _model_features(saved: SavedModel, path: Path) -> np.ndarray:
    raw, names = compute_features(load_ohlcv(path, None, "UTC"))
    return raw[:, [names.index(n) for n in saved.feature_names]]


@pytest.mark.slow  # a full run on two symbols (~21 s); test_panel_evaluation keeps a panel run in the fast suite
def test_the_manifest_lists_both_symbols_with_the_last_blocks_per_symbol_scalers(panel_run: PanelRun) -> None:
    manifest = read_manifest(panel_run.run_dir / "model")
    assert manifest["symbols"] == list(SYMBOLS)
    scaler = manifest["scaler"]
    assert scaler["scaling"] == "per_symbol" and set(scaler["by_symbol"]) == set(SYMBOLS)
    assert "mean" not in scaler and "std" not in scaler  # no one symbol's statistics posing as the model's
    cfg, source = _source(panel_run.run_dir, panel_run.results)
    last = walk_forward_folds(source, cfg.walk_forward_blocks)[-1]
    expected = fold_scaler(source, last)
    for s, symbol in enumerate(SYMBOLS):
        np.testing.assert_array_equal(
            np.asarray(scaler["by_symbol"][symbol]["mean"], dtype=np.float32), expected.mean[s]
        )
        np.testing.assert_array_equal(np.asarray(scaler["by_symbol"][symbol]["std"], dtype=np.float32), expected.std[s])
    assert not np.allclose(expected.mean[0], expected.mean[1])  # two symbols, two scalers
    assert pd.Timestamp(scaler["fitted_up_to"]) == pd.Timestamp(source.timestamps[last.train_idx[-1]], tz="UTC")
    assert manifest["data"]["path"] == [str(panel_run.file(s)) for s in SYMBOLS]


@pytest.mark.slow  # a full run on two symbols (~21 s); test_panel_evaluation keeps a panel run in the fast suite
def test_predict_on_a_seen_symbol_scales_it_with_its_own_saved_statistics(panel_run: PanelRun) -> None:
    saved = load_model(panel_run.run_dir / "model")
    bbb = load_ohlcv(panel_run.file("BBB"), None, "UTC")
    prediction = predict_bars(saved, bbb)  # the symbol comes from the file's name
    assert prediction.symbol == "BBB"
    assert not any("not in training" in w for w in prediction.warnings)
    own = _with_scaler(saved, *saved.by_symbol["BBB"])
    pd.testing.assert_frame_equal(prediction.frame, predict_bars(own, bbb).frame)
    other = predict_bars(_with_scaler(saved, *saved.by_symbol["AAA"]), bbb).frame
    assert not np.allclose(prediction.frame["p_buy"], other["p_buy"])  # the scaler matters: not a vacuous check


@pytest.mark.slow  # a full run on two symbols (~21 s); test_panel_evaluation keeps a panel run in the fast suite
def test_predict_on_the_runs_own_files_reproduces_the_last_blocks_predictions_per_symbol(panel_run: PanelRun) -> None:
    _, source = _source(panel_run.run_dir, panel_run.results)
    block = panel_run.results["walk_forward"]["blocks"][-1]
    positions = np.arange(block["start"], block["stop"])
    stored = np.asarray(block["predictions"]["model"])
    both = predict_paths(panel_run.run_dir, [panel_run.folder]).frame
    for s, symbol in enumerate(SYMBOLS):
        mine = source.symbols[positions] == s
        assert mine.any()
        times = pd.DatetimeIndex(source.timestamps[positions][mine]).tz_localize("UTC")
        rows = both[(both["symbol"] == symbol) & both["timestamp"].isin(times)]
        assert len(rows) == int(mine.sum())
        assert [CLASSES.index(x) for x in rows["signal"]] == stored[mine].tolist()


@pytest.mark.slow  # a full run on two symbols (~21 s); test_panel_evaluation keeps a panel run in the fast suite
def test_predict_on_an_unseen_symbol_scales_it_on_its_own_rows_and_warns(panel_run: PanelRun, tmp_path: Path) -> None:
    unseen = write_bars(tmp_path / "CCC.csv", seed=99)
    saved = load_model(panel_run.run_dir / "model")
    prediction = predict_paths(panel_run.run_dir, [unseen])
    warning = prediction.warnings[0]
    assert "symbol CCC was not in training (AAA, BBB)" in warning and "approximation" in warning
    raw = _model_features(saved, unseen)
    own = _with_scaler(saved, *fit_scaler(raw, ~np.isnan(raw).any(axis=1)))
    pd.testing.assert_frame_equal(prediction.frame, predict_bars(own, load_ohlcv(unseen, None, "UTC")).frame)
    assert list(prediction.frame.columns) == COLUMNS  # one plain file: no symbol column
    done = hyperopt("predict", panel_run.run_dir, "--data", unseen, "--out", tmp_path / "ccc.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning: symbol CCC was not in training" in done.stderr


@pytest.mark.slow  # a full run
def test_two_files_give_one_output_with_a_symbol_column(panel_run: PanelRun, tmp_path: Path) -> None:
    unseen = write_bars(tmp_path / "CCC.csv", seed=99)
    out = tmp_path / "signals.csv"
    done = hyperopt(
        "predict",
        panel_run.run_dir,
        "--data",
        panel_run.file("BBB"),
        "--data",
        unseen,
        "--out",
        out,
        "--last",
        "30",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "60 signals for 2 symbols" in done.stdout
    assert "warning: CCC: symbol CCC was not in training" in done.stderr
    assert "BBB: symbol" not in done.stderr
    written = pd.read_csv(out)
    assert list(written.columns) == ["symbol", *COLUMNS]
    assert written["symbol"].tolist() == ["BBB"] * 30 + ["CCC"] * 30
    for symbol, path in (("BBB", panel_run.file("BBB")), ("CCC", unseen)):
        alone = predict_paths(panel_run.run_dir, [path], last=30).frame
        assert written[written["symbol"] == symbol]["signal"].tolist() == alone["signal"].tolist()
    shown = hyperopt(
        "predict", panel_run.run_dir, "--data", f"{panel_run.folder}/*.csv", "--json", "--last", "2", cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    parsed = json.loads(shown.stdout)
    assert [s["symbol"] for s in parsed["symbols"]] == list(SYMBOLS)
    assert [r["symbol"] for r in parsed["rows"]] == ["AAA", "AAA", "BBB", "BBB"]
    assert parsed["predicted"] == 4 and set(parsed["rows"][0]) == {"symbol", *COLUMNS}
    screen = hyperopt("predict", panel_run.run_dir, "--data", panel_run.folder, cwd=tmp_path)
    assert screen.returncode == 0, screen.stderr
    assert "Latest signal per symbol" in screen.stdout and "AAA" in screen.stdout and "BBB" in screen.stdout


@pytest.mark.slow  # a full run
def test_one_file_keeps_todays_output_without_a_symbol_column(panel_run: PanelRun, tmp_path: Path) -> None:
    piped = hyperopt(
        "predict", panel_run.run_dir, "--data", panel_run.file("AAA"), "--out", "-", "--last", "3", cwd=tmp_path
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines()[0] == ",".join(COLUMNS)
    shown = hyperopt(
        "predict", panel_run.run_dir, "--data", panel_run.file("AAA"), "--json", "--last", "1", cwd=tmp_path
    )
    parsed = json.loads(shown.stdout)
    assert "symbols" not in parsed and set(parsed["rows"][0]) == set(COLUMNS)


@pytest.mark.slow  # a full run on two symbols (~21 s); test_panel_evaluation keeps a panel run in the fast suite
def test_a_pooled_model_scales_every_symbol_with_the_pooled_statistics_without_a_warning(
    panel_run: PanelRun, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(panel_run.run_dir / "model", folder)
    manifest = json.loads((folder / "model.json").read_text())
    n = len(manifest["features"]["names"])
    mean, std = [0.5] * n, [2.0] * n
    manifest["scaler"] = {"scaling": "pooled", "mean": mean, "std": std, "fitted_up_to": "2020-01-01T00:00:00+00:00"}
    (folder / "model.json").write_text(json.dumps(manifest))
    saved = load_model(folder)
    assert saved.scaling == "pooled" and saved.by_symbol == {}
    unseen = write_bars(tmp_path / "CCC.csv", seed=99)
    for path in (panel_run.file("AAA"), unseen):
        prediction = predict_paths(folder, [path])
        assert not any("its features are scaled with" in w for w in prediction.warnings)  # no own-rows scaling
        expected = predict_bars(_with_scaler(saved, np.float32(mean), np.float32(std)), load_ohlcv(path, None, "UTC"))
        pd.testing.assert_frame_equal(prediction.frame, expected.frame)


def test_the_scaler_section_of_one_symbol_is_todays() -> None:
    scaler = Scaler(np.array([[1.0, 2.0]], dtype=np.float32), np.array([[3.0, 4.0]], dtype=np.float32))
    assert scaler_section(scaler, ("bars",), "T") == {"mean": [1.0, 2.0], "std": [3.0, 4.0], "fitted_up_to": "T"}
    pooled = Scaler(np.ones((2, 2), dtype=np.float32), np.ones((2, 2), dtype=np.float32), "pooled")
    assert scaler_section(pooled, SYMBOLS, "T") == {
        "scaling": "pooled",
        "mean": [1.0, 1.0],
        "std": [1.0, 1.0],
        "fitted_up_to": "T",
    }


def _drop_by_symbol(m: dict[str, Any]) -> None:
    m["scaler"].pop("by_symbol")


def _extra_symbol(m: dict[str, Any]) -> None:
    m["symbols"] = [*m["symbols"], "CCC"]


def _zero_std(m: dict[str, Any]) -> None:
    std = m["scaler"]["by_symbol"]["BBB"]["std"]
    std[0] = 0.0


BAD: dict[str, Callable[[dict[str, Any]], None]] = {
    "no_by_symbol": _drop_by_symbol,
    "symbol_without_scaler": _extra_symbol,
    "zero_std": _zero_std,
    "unknown_scaling": lambda m: m["scaler"].update(scaling="trailing"),
    "symbols_not_a_list": lambda m: m.update(symbols="AAA"),
    "duplicate_symbols": lambda m: m.update(symbols=["AAA", "AAA"]),
}


@pytest.mark.slow  # a full run on two symbols (~21 s); test_panel_evaluation keeps a panel run in the fast suite
@pytest.mark.parametrize("case", list(BAD))
def test_a_broken_panel_manifest_is_one_error_line_and_exit_6(panel_run: PanelRun, tmp_path: Path, case: str) -> None:
    folder = tmp_path / "model"
    shutil.copytree(panel_run.run_dir / "model", folder)
    manifest = json.loads((folder / "model.json").read_text())
    BAD[case](manifest)
    (folder / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(RunStateError, match="model.json: "):
        load_model(folder)
    if case == "no_by_symbol":
        done = hyperopt("predict", folder, "--data", panel_run.file("AAA"), cwd=tmp_path, timeout=60)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 6 and len(lines) == 1, done.stderr
        assert lines[0].startswith(f"Error: {folder / 'model.json'}: scaler.by_symbol must hold"), done.stderr


@pytest.mark.slow  # a full run on two symbols (~21 s); test_panel_evaluation keeps a panel run in the fast suite
def test_export_config_keeps_every_symbols_file(panel_run: PanelRun, tmp_path: Path) -> None:
    best = tmp_path / "best.yaml"
    export_config(panel_run.run_dir, best)
    assert read_yaml(best)["data"]["path"] == [str(panel_run.file(s)) for s in SYMBOLS]


@pytest.mark.slow  # a full run on two symbols (~21 s); test_panel_evaluation keeps a panel run in the fast suite
def test_refit_writes_the_panel_manifest(panel_run: PanelRun, tmp_path: Path) -> None:
    made = refit(panel_run.run_dir, tmp_path / "refit")
    manifest = read_manifest(made)
    assert manifest["kind"] == "refit_all_bars" and manifest["symbols"] == list(SYMBOLS)
    _, source = _source(panel_run.run_dir, panel_run.results)
    expected = source.scaler_until(source.timestamps[-1])
    for s, symbol in enumerate(SYMBOLS):
        np.testing.assert_array_equal(
            np.asarray(manifest["scaler"]["by_symbol"][symbol]["mean"], dtype=np.float32), expected.mean[s]
        )
    assert len(predict_paths(made, [panel_run.folder]).frame) > 0


def test_a_symbol_column_comes_with_several_inputs_a_folder_or_a_glob(tmp_path: Path) -> None:
    one, bracketed = tmp_path / "AAA.csv", tmp_path / "B[1].csv"
    one.write_text("x")
    bracketed.write_text("x")
    assert not several_inputs([one]) and not several_inputs([bracketed])  # an existing file is a file
    assert several_inputs([one, one]) and several_inputs([tmp_path]) and several_inputs([str(tmp_path / "A*.csv")])
