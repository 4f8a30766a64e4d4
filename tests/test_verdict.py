from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hyperopt_cli.config import DataConfig, LabelsConfig
from hyperopt_cli.data.prepare import DataPreparer, Segment
from hyperopt_cli.data.synthetic import synthetic_ohlcv
from hyperopt_cli.evaluation.baselines import BASELINES
from hyperopt_cli.evaluation.verdict import (
    Verdict,
    circular_block_indices,
    compare,
    default_block_length,
    macro_f1_rows,
    trading_score_rows,
    verdict,
)
from hyperopt_cli.evaluation.walkforward import MODEL, WalkForwardResult, WalkForwardSource, walk_forward
from hyperopt_cli.training.metrics import classification_metrics, trading_score

DATA = DataConfig(window=8)
LABELS = LabelsConfig(horizon=6)


def _random_walk(n: int, seed: int) -> pd.DataFrame:
    """Gaussian log-price random walk: no feature can predict the next return."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wiggle = np.abs(rng.normal(0, 0.001, n))
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + wiggle),
            "low": np.minimum(open_, close) * (1 - wiggle),
            "close": close,
            "volume": rng.integers(100, 1000, n).astype(float),
        },
        index=pd.date_range("2021-01-01", periods=n, freq="1h", tz="UTC"),
    )
    return frame


def _source(frame: pd.DataFrame) -> WalkForwardSource:
    preparer = DataPreparer(frame, DATA)
    return WalkForwardSource.from_prepared(preparer, preparer.prepare(LABELS))


@pytest.fixture(scope="module")
def random_walk_result() -> WalkForwardResult:
    """Every baseline walked forward over a signal-free series; the model slot is filled per test."""
    return walk_forward(
        _source(_random_walk(1500, seed=11)), lambda tr, te: np.ones(len(te), np.int64), n_blocks=3, seed=0
    )


def test_circular_blocks_are_runs_of_consecutive_samples() -> None:
    idx = circular_block_indices(50, 7, 20, np.random.default_rng(0))
    assert idx.shape == (20, 50)
    runs = idx[:, :49].reshape(20, 7, 7)
    assert ((np.diff(runs, axis=2) % 50) == 1).all()


def test_vectorised_scores_match_the_metrics_module() -> None:
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 3, (6, 40)), rng.integers(0, 3, (6, 40))
    r = rng.normal(0.001, 0.01, (6, 40))
    p[0] = 2  # a constant signal
    for i in range(6):
        assert macro_f1_rows(y, p)[i] == pytest.approx(classification_metrics(y[i], p[i])["macro_f1"])
        assert trading_score_rows(p, r)[i] == pytest.approx(trading_score(p[i], r[i]), abs=1e-12)
    assert trading_score_rows(p, r)[0] == 0.0


def test_block_length_is_at_least_the_purge_gap() -> None:
    assert default_block_length(700, purge_bars=12) == 12
    assert default_block_length(100_000, purge_bars=12) == 47


def test_bootstrap_is_reproducible_by_seed(random_walk_result: WalkForwardResult) -> None:
    r = random_walk_result
    model = np.random.default_rng(1).integers(0, 3, len(r.labels))
    base = {k: p for k, p in r.predictions.items() if k != MODEL}
    one = compare(r.labels, r.forward_returns, model, base, block_length=8, seed=4, n_resamples=500)
    again = compare(r.labels, r.forward_returns, model, base, block_length=8, seed=4, n_resamples=500)
    other = compare(r.labels, r.forward_returns, model, base, block_length=8, seed=5, n_resamples=500)
    assert one == again
    assert other.interval_macro_f1 != one.interval_macro_f1
    assert other.delta_macro_f1 == one.delta_macro_f1  # the point estimate does not resample


def test_a_random_predictor_never_beats_the_baselines_on_a_random_walk(random_walk_result: WalkForwardResult) -> None:
    r = random_walk_result
    base = {k: p for k, p in r.predictions.items() if k != MODEL}
    for seed in range(10):
        model = np.random.default_rng(100 + seed).integers(0, 3, len(r.labels))
        v = compare(r.labels, r.forward_returns, model, base, block_length=8, seed=seed, n_resamples=500)
        assert not v.beats_best_baseline
        assert v.interval_macro_f1[0] <= 0
        assert v.wording().startswith("no evidence the LSTM beats ")


def test_a_planted_signal_gets_an_interval_above_zero() -> None:
    """An oracle that knows 70% of the block labels beats every baseline on a synthetic series."""
    source = _source(synthetic_ohlcv(1500, seed=9))

    def oracle(train: Segment, block: Segment) -> np.ndarray:
        rng = np.random.default_rng(int(block.end_rows[0]))
        noise = rng.integers(0, 3, len(block))
        return np.where(rng.random(len(block)) < 0.7, block.labels, noise)

    result = walk_forward(source, oracle, n_blocks=3, seed=0)
    v = verdict(result, seed=0, n_resamples=500)
    assert v.baseline in BASELINES
    assert v.beats_best_baseline and v.interval_macro_f1[0] > 0
    assert v.delta_macro_f1 > 0.2
    assert v.wording().startswith("the LSTM beats ")
    assert v.block_length >= result.purge_bars
    raw = v.as_dict()
    assert raw["beats_best_baseline"] is True and raw["wording"] == v.wording()


def test_wording_states_the_numbers_with_signs() -> None:
    v = Verdict(False, "logistic_regression", -0.031, (-0.07, 0.012), -0.1, (-0.2, 0.05), 0.95, 12, 2000, 700, 0)
    assert v.wording() == "no evidence the LSTM beats logistic regression: \u0394 \u22120.03 [\u22120.07, +0.01]"


def test_a_model_worse_than_the_baseline_is_called_worse_and_a_collapsed_one_is_flagged() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    returns = rng.normal(size=600)
    mostly_hold = np.where(rng.random(600) < 0.95, 1, labels)
    v = compare(labels, returns, mostly_hold, {"majority": labels.copy()}, block_length=8, seed=0, n_resamples=300)
    assert v.interval_macro_f1[1] < 0 and not v.beats_best_baseline
    wording = v.wording()
    assert wording.startswith("the LSTM is significantly worse than majority: \u0394 \u2212")
    assert wording.endswith(f"; collapsed: {100 * v.top_class_share:.0f}% of its test predictions are HOLD")
    raw = v.as_dict()
    assert raw["worse_than_best_baseline"] is True and raw["collapsed"] is True and raw["top_class"] == "HOLD"
    assert raw["top_class_share"] > 0.9 and raw["wording"] == wording


def test_a_spread_model_is_not_flagged_collapsed() -> None:
    v = Verdict(
        False,
        "logistic_regression",
        -0.031,
        (-0.07, 0.012),
        -0.1,
        (-0.2, 0.05),
        0.95,
        12,
        2000,
        700,
        0,
        top_class="HOLD",
        top_class_share=0.9,
    )
    assert not v.collapsed and "collapsed" not in v.wording() and not v.worse_than_best_baseline


def test_every_baseline_gets_its_own_interval_and_the_best_one_matches_the_verdict(
    random_walk_result: WalkForwardResult,
) -> None:
    """`against` compares the model with each baseline; a predictor that copies one baseline ties with it."""
    r = random_walk_result
    baselines = {k: p for k, p in r.predictions.items() if k != MODEL}
    copied = next(iter(baselines))
    v = compare(r.labels, r.forward_returns, baselines[copied], baselines, block_length=8, seed=3, n_resamples=300)
    assert set(v.against) == set(baselines)
    assert v.against[v.baseline]["interval_macro_f1"] == v.interval_macro_f1
    assert v.against[v.baseline]["delta_macro_f1"] == v.delta_macro_f1
    assert v.against[copied]["delta_macro_f1"] == 0.0 and v.against[copied]["interval_macro_f1"] == (0.0, 0.0)
    assert not v.against[copied]["beaten"]
    worst = min(baselines, key=lambda k: classification_metrics(r.labels, baselines[k])["macro_f1"])
    assert v.against[worst]["delta_macro_f1"] >= v.against[v.baseline]["delta_macro_f1"]
    assert v.as_dict()["against"][copied]["interval_macro_f1"] == [0.0, 0.0]
