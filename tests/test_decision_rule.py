"""The decision rule: per-class offsets on the log-probabilities, fitted on out-of-fold predictions."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hyperopt_cli.evaluation.decision import ARGMAX, FITTED, MIN_GAIN, DecisionRule, fit_rule
from hyperopt_cli.training.metrics import classification_metrics

CLASSES = ["SELL", "HOLD", "BUY"]


def shares_model(n: int, seed: int, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a model that mostly predicts the label shares (HOLD never wins argmax) plus some signal."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=[0.36, 0.28, 0.36])
    logits = np.array([0.05, -0.35, 0.05]) + signal * np.eye(3)[labels] * rng.random((n, 1))
    logits = logits + 0.05 * rng.standard_normal((n, 3))
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True), labels


def test_a_model_that_drops_a_class_under_argmax_keeps_it_under_the_fitted_rule() -> None:
    probs, labels = shares_model(600, 0, signal=0.4)
    assert (probs.argmax(axis=1) == 1).mean() < 0.05  # argmax (nearly) never says HOLD
    rule = fit_rule(probs, labels)
    assert rule.kind == FITTED and not rule.is_argmax and rule.offsets[1] == 0.0
    shares = np.bincount(rule.apply(probs), minlength=3) / len(labels)
    assert shares.min() >= 0.05
    assert rule.fitted_f1 >= rule.argmax_f1 + MIN_GAIN  # checked on halves it was not fitted on


@pytest.mark.parametrize("seed", range(12))
def test_the_rule_never_makes_macro_f1_worse_on_the_units_it_is_checked_on(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=400)
    probs = rng.dirichlet([2.0, 2.0, 2.0], size=400)  # no signal at all
    rule = fit_rule(probs, labels)
    if rule.kind == FITTED:
        assert rule.fitted_f1 >= rule.argmax_f1 + MIN_GAIN
    else:
        assert rule.is_argmax and np.array_equal(rule.apply(probs), probs.argmax(axis=1))


def test_on_pure_noise_the_rule_mostly_falls_back_to_argmax() -> None:
    fallbacks = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        fallbacks += fit_rule(rng.dirichlet([2.0] * 3, size=400), rng.choice(3, size=400)).kind == ARGMAX
    assert fallbacks >= 18


def test_too_few_predictions_or_one_class_give_argmax() -> None:
    probs, labels = shares_model(20, 1, signal=0.4)
    assert fit_rule(probs, labels).kind == ARGMAX
    probs, _ = shares_model(200, 1, signal=0.4)
    assert fit_rule(probs, np.zeros(200, dtype=int)).kind == ARGMAX


def test_a_stored_rule_reads_back_and_a_broken_one_is_argmax() -> None:
    rule = DecisionRule(FITTED, (0.3, 0.0, -0.2), 0.4, 0.3, 300)
    assert DecisionRule.from_dict(json.loads(json.dumps(rule.as_dict()))) == rule
    for broken in (
        None,
        [],
        {"offsets": [1, 2]},
        {"offsets": ["a", 0, 0]},
        {"offsets": [float("nan"), 0, 0]},
        {"offsets": [True, 0, 0]},
    ):
        assert DecisionRule.from_dict(broken).is_argmax


def _segments(n_train: int = 300, n_block: int = 120, seed: int = 0) -> tuple[Any, Any]:
    from _tiny_data import tiny_data

    data = tiny_data(n_rows=n_train + n_block + 40, seed=seed)
    train = data.train
    return train, data.test


def test_a_baselines_rule_is_fitted_on_training_side_data_only() -> None:
    from hyperopt_cli.evaluation.baselines import logistic_regression_probs, ruled

    train, block = _segments()
    seen: list[np.ndarray] = []

    def recording(fit, test, seed):  # what every model fit saw as training rows
        seen.append(fit.timestamps.copy())
        return logistic_regression_probs(fit, test, seed)

    fit_predict = ruled(recording)
    first = fit_predict(train, block, 0)
    assert all(stamps.max() < block.timestamps.min() for stamps in seen)
    scrambled = dataclasses.replace(block, labels=np.random.default_rng(5).permutation(block.labels))
    again = fit_predict(train, scrambled, 0)
    assert again.rule == first.rule and np.array_equal(again.pred, first.pred)  # the block's labels play no part
    probs = logistic_regression_probs(train, block, 0)
    assert np.array_equal(first.argmax, probs.argmax(axis=1))
    assert np.array_equal(first.pred, first.rule.apply(probs))


def test_the_lstms_rule_is_fitted_on_its_inner_validation_part_only() -> None:
    from _tiny_data import tiny_model, tiny_trainer
    from hyperopt_cli.evaluation.lstm import lstm_fit_predict

    train, block = _segments(seed=3)
    fit_predict = lstm_fit_predict(
        tiny_trainer(),
        tiny_model(),
        epochs=2,
        seed=1,
        purge_bars=3,
        feature_names=("a", "b", "c", "d", "e"),
        decision_rule=FITTED,
    )
    first = fit_predict(train, block)
    scrambled = dataclasses.replace(block, labels=block.labels[::-1].copy())
    again = fit_predict(train, scrambled)
    assert again.rule == first.rule and np.array_equal(again.pred, first.pred)
    assert first.rule.n_val > 0 and first.rule.n_val < len(train)


@pytest.mark.slow  # a walk-forward evaluation with baselines (~7 s)
def test_the_walk_forward_records_argmax_beside_the_rule() -> None:
    from hyperopt_cli.config import DataConfig, LabelsConfig
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.data.synthetic import synthetic_ohlcv
    from hyperopt_cli.evaluation.baselines import baselines_for
    from hyperopt_cli.evaluation.walkforward import MODEL, WalkForwardSource, walk_forward

    preparer = DataPreparer(synthetic_ohlcv(1500, seed=5), DataConfig(window=8, embargo_bars=2))
    src = WalkForwardSource.from_prepared(preparer, preparer.prepare(LabelsConfig(horizon=6)))
    result = walk_forward(
        src,
        lambda train, block: np.ones(len(block), dtype=np.int64),
        n_blocks=2,
        seed=0,
        baselines=baselines_for(FITTED),
    )
    assert set(result.argmax_pooled) == {"logistic_regression", "gradient_boosting", "logistic_regression_window"}
    for block in result.blocks:
        assert set(block.rules) == set(result.argmax_pooled) and MODEL not in block.rules
    plain = walk_forward(
        src,
        lambda train, block: np.ones(len(block), dtype=np.int64),
        n_blocks=2,
        seed=0,
        baselines=baselines_for(ARGMAX),
    )
    for name, metrics in result.argmax_pooled.items():  # argmax beside the rule = the argmax run's own numbers
        assert metrics["macro_f1"] == pytest.approx(plain.pooled[name]["macro_f1"])


@pytest.fixture(scope="module")
def finished(quick_csv_run: tuple[Path, Path, dict[str, Any]]) -> tuple[Path, Path, dict[str, Any]]:
    return quick_csv_run  # shared: this module only reads the run


def test_predict_applies_the_stored_rule_as_the_walk_forward_did(finished: Any, tmp_path: Path) -> None:
    from hyperopt_cli.model.predict import predict_file

    run_dir, data, results = finished
    manifest = json.loads((run_dir / "model" / "model.json").read_text())
    assert results["decision"]["rule"] == FITTED
    assert manifest["decision"] == results["decision"]["blocks"][-1]  # the last block's rule is the model's
    # The same model with strong offsets: its signals follow argmax(log p + offsets) of its own probabilities.
    shutil.copytree(run_dir / "model", tmp_path / "model")
    manifest["decision"] = DecisionRule(FITTED, (1.5, 0.0, -1.5)).as_dict()
    (tmp_path / "model" / "model.json").write_text(json.dumps(manifest))
    frame = predict_file(tmp_path / "model", data).frame
    probs = frame[["p_sell", "p_hold", "p_buy"]].to_numpy()
    expected = (np.log(np.maximum(probs.astype(np.float64), 1e-12)) + np.array([1.5, 0.0, -1.5])).argmax(axis=1)
    assert [CLASSES.index(s) for s in frame["signal"]] == expected.tolist()
    assert not np.array_equal(expected, probs.argmax(axis=1))  # the offsets changed some signals


def test_results_show_what_argmax_would_have_scored(finished: Any) -> None:
    _, _, results = finished
    decision = results["decision"]
    assert len(decision["blocks"]) == len(results["walk_forward"]["blocks"])
    assert set(decision["argmax_baselines"]) == {
        "logistic_regression",
        "gradient_boosting",
        "logistic_regression_window",
    }
    f1 = classification_metrics(
        np.concatenate([b["labels"] for b in results["walk_forward"]["blocks"]]),
        np.concatenate([b["argmax_predictions"]["model"] for b in results["walk_forward"]["blocks"]]),
    )["macro_f1"]
    assert decision["argmax_test_metrics"]["macro_f1"] == pytest.approx(f1)
    assert isinstance(pd.Timestamp(results["walk_forward"]["blocks"][0]["first_timestamp"]), pd.Timestamp)


def test_hyperopt_results_names_the_rule_and_what_argmax_would_have_scored(finished: Any) -> None:
    from typer.testing import CliRunner

    from hyperopt_cli.cli import app

    run_dir, _, results = finished
    shown = CliRunner().invoke(app, ["results", str(run_dir)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    argmax = results["decision"]["argmax_test_metrics"]["macro_f1"]
    assert "Decision rule: fitted (per-class offsets fitted" in shown.stdout and f"{argmax:.4f}" in shown.stdout


def test_the_report_names_the_rule_beside_the_verdict(finished: Any, tmp_path: Path) -> None:
    from hyperopt_cli.report.page import write_report

    run_dir, _, _ = finished
    report = write_report(run_dir, tmp_path / "report")
    html = report.html.read_text()
    assert "Decision rule: fitted (per-class offsets fitted on each block" in html
    assert html.index("Decision rule:") > html.index('class="verdict')


def test_a_model_whose_argmax_uses_every_class_keeps_argmax() -> None:
    # HOLD is under-predicted (offsets would gain on these very predictions), but not dropped.
    probs, labels = shares_model(600, 0, signal=1.2)
    shares = np.bincount(probs.argmax(axis=1), minlength=3) / len(labels)
    assert shares.min() >= 0.05 and shares.max() <= 0.9
    assert fit_rule(probs, labels).kind == ARGMAX
