"""Several symbols (issue 24): per-symbol and pooled evaluation in results.json, `hyperopt results`, the report, the page.

One real tiny run over a folder of three hourly CSVs (the CLI freezes the folder into its
files); a single-file run keeps its outputs without any per-symbol content.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import hyperopt, write_config
from hyperopt_cli.config import DataConfig, OptimizationConfig
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.run.optimizer import data_name
from hyperopt_cli.run.symbols import data_label

SYMBOLS = ("AAA", "BBB", "CCC")
TINY_RUN = ("--set", "mode=quick", "--set", "max_trials_per_group=1", "--set", "trainer.device=cpu")


def write_symbols(folder: Path) -> Path:
    """Three hourly symbols over the same weeks, each from its own seed, as CSV files named by symbol."""
    folder.mkdir(parents=True)
    for seed, name in enumerate(SYMBOLS, start=1):
        frame = synthetic_ohlcv(700, seed=seed, start="2021-01-01", freq="1h")
        frame.index.name = "timestamp"
        frame.to_csv(folder / f"{name}.csv")
    return folder


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(run dir, results.json) of `hyperopt start --data FOLDER` on three symbols."""
    root = tmp_path_factory.mktemp("panel_eval")
    folder = write_symbols(root / "prices")
    run = root / "runs" / "20260101_000000"
    done = hyperopt("start", "--config", write_config(root), "--data", folder, "--run-dir", run, *TINY_RUN, cwd=root)
    assert done.returncode == 0, done.stderr
    return run, json.loads((run / "results.json").read_text())


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model_helpers import finished_run

    run, _, _ = finished_run(tmp_path_factory.mktemp("single_eval"), "max_trials_per_group=1")
    return run


def test_results_json_holds_each_symbol_and_their_samples_add_up_to_the_pooled_ones(
    panel_run: tuple[Path, dict[str, Any]],
) -> None:
    _, results = panel_run
    per_symbol = results["symbols"]
    assert list(per_symbol) == list(SYMBOLS)
    assert results["scaling"] == "per_symbol"
    pooled_n = results["test_metrics"]["n_samples"]
    assert sum(s["test_metrics"]["n_samples"] for s in per_symbol.values()) == pooled_n
    assert results["verdict"]["n_samples"] == pooled_n  # the pooled verdict stays the run's verdict
    for name, entry in per_symbol.items():
        assert entry["verdict"]["n_samples"] == entry["test_metrics"]["n_samples"] > 0, name
        assert set(entry["baselines"]) == set(results["baselines"])


def test_per_symbol_scores_are_the_pooled_scores_split_by_symbol(panel_run: tuple[Path, dict[str, Any]]) -> None:
    """Accuracy is a mean over samples: the symbols' accuracies, weighted by their samples, give the pooled one."""
    _, results = panel_run
    pooled = {"model": results["test_metrics"], **results["baselines"]}
    for predictor, metrics in pooled.items():
        split = [({"model": e["test_metrics"], **e["baselines"]})[predictor] for e in results["symbols"].values()]
        weighted = sum(m["accuracy"] * m["n_samples"] for m in split) / metrics["n_samples"]
        assert weighted == pytest.approx(metrics["accuracy"]), predictor


def test_each_symbol_is_judged_against_its_own_best_baseline(panel_run: tuple[Path, dict[str, Any]]) -> None:
    _, results = panel_run
    for name, entry in results["symbols"].items():
        verdict, baselines = entry["verdict"], entry["baselines"]
        best = max(baselines, key=lambda k: baselines[k]["macro_f1"])
        assert baselines[verdict["baseline"]]["macro_f1"] == baselines[best]["macro_f1"], name
        assert verdict["delta_macro_f1"] == pytest.approx(
            entry["test_metrics"]["macro_f1"] - baselines[verdict["baseline"]]["macro_f1"]
        )
        lo, hi = verdict["interval_macro_f1"]
        assert lo <= hi
        assert verdict["wording"]


def test_results_command_prints_a_row_per_symbol_and_json_carries_results_json(
    panel_run: tuple[Path, dict[str, Any]],
) -> None:
    run, results = panel_run
    shown = hyperopt("results", run, cwd=run.parent, timeout=120)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "Per symbol (3 symbols, scaling per_symbol)" in text
    assert text.index("Verdict: ") < text.index("Per symbol")  # under the pooled verdict
    for name, entry in results["symbols"].items():
        row = next(line for line in text.splitlines() if re.search(rf"\b{name}\b", line))
        assert str(entry["test_metrics"]["n_samples"]) in row
        assert f"{entry['test_metrics']['macro_f1']:.4f}" in row
    as_json = hyperopt("results", run, "--json", cwd=run.parent, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    answer = json.loads(as_json.stdout)
    assert answer["symbols"] == results["symbols"]
    assert answer["scaling"] == "per_symbol"


def test_the_report_has_a_row_per_symbol_and_names_the_symbols(panel_run: tuple[Path, dict[str, Any]]) -> None:
    from hyperopt_cli.report.page import write_report

    run, results = panel_run
    page = write_report(run).html.read_text()
    verdict = page[page.index('<section id="verdict">') : page.index('<section id="overview">')]
    assert "resamples blocks of time across all symbols" in verdict
    assert "blocks of " + str(results["verdict"]["block_length"]) + " times" in verdict
    for name, entry in results["symbols"].items():
        assert f"<tr><td>{name}</td><td>{entry['test_metrics']['n_samples']}</td>" in verdict
    assert "<td>data</td><td>3 symbols (AAA, BBB, CCC)</td>" in page
    assert "[&#x27;" not in page  # no Python list shown for the data path


@pytest.mark.slow  # a whole `hyperopt start` run (~9 s)
def test_a_single_file_run_has_no_per_symbol_content(single_run: Path) -> None:
    from hyperopt_cli.report.page import write_report

    results = json.loads((single_run / "results.json").read_text())
    assert "symbols" not in results and "scaling" not in results
    shown = hyperopt("results", single_run, cwd=single_run.parent, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "Per symbol" not in shown.stdout and "Verdict: " in shown.stdout
    page = write_report(single_run).html.read_text()
    assert "Per symbol" not in page and "blocks of time" not in page
    assert " samples). The LSTM wins" in page


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/data/EURUSD.csv", "/data/EURUSD.csv"),
        (["/data/EURUSD.csv", "prices/NASDAQ.parquet"], "2 symbols (EURUSD, NASDAQ)"),
        ([f"/d/S{i}.csv" for i in range(8)], "8 symbols (S0, S1, S2, S3, S4, S5, …)"),
        (None, None),
    ],
)
def test_data_label_names_the_symbols_of_a_list(path: Any, label: str | None) -> None:
    assert data_label(path) == label


def test_the_live_header_names_the_symbols() -> None:
    cfg = OptimizationConfig(data=DataConfig(path=["/p/AAA.csv", "/p/BBB.csv", "/p/CCC.csv"]))
    assert data_name(cfg) == "3 symbols (AAA, BBB, CCC)"
    assert data_name(OptimizationConfig(data=DataConfig(path="/p/AAA.csv"))) == "/p/AAA.csv"


@pytest.mark.slow
def test_the_page_shows_a_row_per_symbol(panel_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    from server_helpers import free_port, spawn_server, stop_server
    from test_web import _guarded_page, _playwright, page_url

    run, results = panel_run
    sync_api = _playwright()
    expect = sync_api.expect
    port = free_port()
    server = spawn_server(tmp_path, port, "--runs-dir", run.parent)
    try:
        with _guarded_page(sync_api, f"http://127.0.0.1:{port}") as (page, outside, errors):
            page.goto(page_url(server))
            expect(page.locator("#verdict")).to_have_text("Verdict: " + results["verdict"]["wording"])
            rows = page.locator("#symbols-table tbody tr")
            expect(rows).to_have_count(len(SYMBOLS))
            for i, (name, entry) in enumerate(results["symbols"].items()):
                cells = rows.nth(i).locator("td")
                expect(cells.nth(0)).to_have_text(name)
                expect(cells.nth(1)).to_have_text(str(entry["test_metrics"]["n_samples"]))
                expect(cells.nth(3)).to_have_text(entry["verdict"]["baseline"])
            expect(page.locator("#symbols-scaling")).to_have_text("(scaling per_symbol)")
    finally:
        stop_server(server)
    assert not outside and not errors, (outside, errors)
