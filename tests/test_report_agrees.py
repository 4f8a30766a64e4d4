"""Charts and words that agree with the tables (issue 33, item 3)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hyperopt_cli.report.pictures import BlockSeries, equity_curves
from hyperopt_cli.report.words import pbo_meaning, small_sample_note
from hyperopt_cli.training.metrics import trading_score


def test_each_equity_curve_ends_at_the_pooled_trading_score_with_its_sign() -> None:
    rng = np.random.default_rng(3)
    # Block 1 trends up, block 2 down; "lean" is long in block 1 and flat in block 2: demeaned per block it
    # earns nothing, pooled it times the trend. The table's score is the pooled one.
    r1, r2 = rng.normal(0.01, 0.01, 40), rng.normal(-0.01, 0.01, 40)
    lean = np.concatenate([np.full(40, 2), np.full(40, 1)])
    noise = rng.integers(0, 3, 80)
    blocks = [
        BlockSeries(
            i, np.ones(40, dtype=np.int64), r, {"lstm": p[40 * i : 40 * (i + 1)], "noise": noise[40 * i : 40 * (i + 1)]}
        )
        for i, (r, p) in enumerate([(r1, lean), (r2, lean)])
    ]
    curves = equity_curves(blocks)
    pooled_r = np.concatenate([r1, r2])
    for name, pred in (("lstm", lean), ("noise", noise)):
        assert curves[name][-1] == pytest.approx(trading_score(pred, pooled_r), abs=1e-12)
    assert curves["lstm"][-1] > 0.1  # the old per-block curve ended at 0 for this signal


@pytest.mark.parametrize(
    "pbo, words",
    [
        (0.05, "holds up"),
        (0.3, "likely"),
        (0.5, "no better than chance"),
        (0.61, "worse than chance"),
        (0.79, "worse than chance"),
    ],
)
def test_pbo_is_explained_over_its_whole_range(pbo: float, words: str) -> None:
    assert words in pbo_meaning(pbo)


def test_a_33_sample_verdict_carries_a_small_sample_warning() -> None:
    assert "only 33 test samples" in (small_sample_note(33) or "")
    assert small_sample_note(5000) is None and small_sample_note(None) is None


def test_results_print_the_small_sample_note(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from hyperopt_cli.cli.render import print_results
    from hyperopt_cli.run.results import RunResults

    print_results(
        RunResults(verdict={"wording": "the LSTM is significantly worse than boosting", "n_samples": 33}), Path("r")
    )
    shown = capsys.readouterr().out
    assert "significantly worse" in shown and "only 33 test samples" in shown


def test_only_the_best_macro_f1_cell_is_bold() -> None:
    from hyperopt_cli.report.page import _baselines_section, _Builder
    from hyperopt_cli.run.results import RunResults

    metrics = {
        "macro_f1": 0.30,
        "trading_score": -0.02,
        "macro_precision": 0.3,
        "macro_recall": 0.3,
        "accuracy": 0.4,
        "pred_distribution": [0.3, 0.4, 0.3],
    }
    best = {**metrics, "macro_f1": 0.35, "trading_score": 0.01}
    html = _baselines_section(
        _Builder.__new__(_Builder), RunResults(test_metrics=metrics, baselines={"gradient_boosting": best}), None
    )
    assert "class=best" not in html
    assert re.findall(r"<b>([^<]*)</b>", html) == ["0.3500"]
