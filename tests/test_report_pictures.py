"""The report's newer pictures: the verdict at the top, Optuna's plots, the equity curve, predictions vs labels."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import tiny
from hyperopt_cli.evaluation.walkforward import MODEL, BlockResult
from hyperopt_cli.report.page import write_report
from hyperopt_cli.report.pictures import (
    BlockSeries,
    distribution_rows,
    equity_curves,
    market_neutral_returns,
)
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.training.metrics import trading_score
from test_report import check_pngs, embedded_pngs


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("quick") / "run"
    HyperparameterOptimizer(tiny("mode=quick", "max_trials_per_group=3", "n_warmup_steps=1"), run).optimize(
        threading.Event()
    )
    return run


@pytest.mark.slow  # a whole quick search (~5 s); the pictures' unit tests stay fast
def test_the_verdict_is_stated_in_words_above_everything_else(quick_run: Path) -> None:
    report = write_report(quick_run)
    page = report.html.read_text(encoding="utf-8")
    verdict = json.loads((quick_run / "results.json").read_text())["verdict"]
    wording = verdict["wording"]
    top = page.index('<section id="verdict">')
    assert top < page.index('<section id="overview">')
    assert f"<strong>{wording}</strong>" in page[top : page.index("</section>", top)]
    said_worse = wording.startswith("the LSTM is significantly worse than ")
    assert said_worse or (("beats" in wording) and ("no evidence" in wording) != verdict["beats_best_baseline"])
    assert said_worse == verdict["worse_than_best_baseline"]


@pytest.mark.slow  # a whole quick search (~5 s); the pictures' unit tests stay fast
def test_every_new_picture_renders_from_a_small_real_run(quick_run: Path) -> None:
    report = write_report(quick_run)
    names = {p.name for p in report.figures}
    assert {"parallel_learning_rate.png", "slice_learning_rate.png", "equity.png", "predictions.png"} <= names
    assert report.missing == {}
    check_pngs(report.figures)
    page = report.html.read_text(encoding="utf-8")
    assert len(embedded_pngs(page)) == len(report.figures)
    predictions = page.split('id="predictions"')[1].split("</section>")[0]
    assert "block 1" in predictions and "walk-forward pooled" in predictions


@pytest.mark.slow  # a whole quick search (~5 s); the pictures' unit tests stay fast
def test_blocks_keep_what_the_pictures_need_and_older_blocks_still_load(quick_run: Path) -> None:
    walk = json.loads((quick_run / "results.json").read_text())["walk_forward"]
    for raw in walk["blocks"]:
        n = raw["stop"] - raw["start"]
        assert len(raw["labels"]) == len(raw["forward_returns"]) == len(raw["predictions"][MODEL]) == n
    older = {k: v for k, v in walk["blocks"][0].items() if k not in ("labels", "forward_returns")}
    block = BlockResult.from_dict(older)
    assert block.labels == [] and block.forward_returns == []


def test_market_neutral_returns_ignore_constant_signals_and_the_drift() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.01, 300)
    pred = rng.integers(0, 3, 300)
    for constant in (0, 1, 2):
        assert np.all(market_neutral_returns(np.full(300, constant), r) == 0.0)
    np.testing.assert_allclose(market_neutral_returns(pred, r + 0.05), market_neutral_returns(pred, r), atol=1e-15)
    # The summand of the trading score: its mean over the block is the score times std(r).
    assert market_neutral_returns(pred, r).mean() == pytest.approx(trading_score(pred, r) * r.std())


def test_the_equity_curve_is_the_running_pooled_trading_score_across_blocks() -> None:
    rng = np.random.default_rng(4)
    blocks = []
    for k in range(3):
        r = rng.normal(0.002 * k, 0.01, 50)
        blocks.append(
            BlockSeries(k, rng.integers(0, 3, 50), r, {MODEL: rng.integers(0, 3, 50), "majority_class": np.full(50, 2)})
        )
    curves = equity_curves(blocks)
    assert np.all(curves["majority_class"] == 0.0)  # always-BUY earns nothing, even in a rising block
    pooled = np.concatenate([b.forward_returns for b in blocks])
    model = np.concatenate([b.predictions[MODEL] for b in blocks])
    assert len(curves[MODEL]) == 150  # one point a sample, continuing across the blocks
    assert curves[MODEL][-1] == pytest.approx(trading_score(model, pooled))  # ends at the table's score (issue 33)


def test_distribution_rows_compare_true_and_predicted_shares() -> None:
    block = BlockSeries(0, np.array([0, 0, 1, 2]), np.zeros(4), {MODEL: np.array([2, 2, 2, 1])})
    rows = distribution_rows([block], {"test": [[1, 0, 1], [0, 2, 0], [0, 0, 4]]})
    (segment, truth, pred, n), (final_segment, final_truth, final_pred, final_n) = rows
    assert segment == "block 1" and n == 4
    np.testing.assert_allclose(truth, [0.5, 0.25, 0.25])
    np.testing.assert_allclose(pred, [0.0, 0.25, 0.75])
    assert final_segment == "final model, test" and final_n == 8
    np.testing.assert_allclose(final_truth, [0.25, 0.25, 0.5])
    np.testing.assert_allclose(final_pred, [0.125, 0.25, 0.625])
