"""The report's verdict section: the wording as results.json states it, and a collapsed final model called out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperopt_cli.evaluation.verdict import compare
from hyperopt_cli.report.page import _Builder, _verdict_section


def _mostly_hold_verdict() -> dict[str, object]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    mostly_hold = np.where(rng.random(600) < 0.95, 1, labels)
    return compare(
        labels, rng.normal(size=600), mostly_hold, {"majority": labels.copy()}, block_length=8, seed=0, n_resamples=200
    ).as_dict()


def test_a_collapsed_worse_model_is_called_both_in_the_report(tmp_path: Path) -> None:
    verdict = _mostly_hold_verdict()
    html = _verdict_section(_Builder(tmp_path, tmp_path), verdict)
    assert f"<strong>{verdict['wording']}</strong>" in html
    assert "significantly worse than majority" in html
    share = round(100 * float(verdict["top_class_share"]))  # type: ignore[arg-type]
    assert f"The final model is collapsed: {share}% of its test predictions are HOLD" in html


def test_a_spread_model_gets_no_collapse_note(tmp_path: Path) -> None:
    verdict = {**_mostly_hold_verdict(), "collapsed": False}
    assert "collapsed:" not in _verdict_section(_Builder(tmp_path, tmp_path), verdict).split("</strong></p>", 1)[1]
