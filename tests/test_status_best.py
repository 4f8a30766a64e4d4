"""`status` over runs: the best value always says which metric it is in (groups score by val_f1 or trading_score)."""

from __future__ import annotations

import json
from pathlib import Path

from hyperopt_cli.cli.runs_overview import best_label, value_with_metric, with_scores


def test_a_finished_run_names_the_metric_of_its_best_value(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"best_value": -0.0008, "best_value_metric": "trading_score"}))
    row = with_scores({"groups": {}}, tmp_path)
    assert best_label(row) == "-0.0008 trading_score"


def test_an_unfinished_run_names_the_metric_of_the_group_it_shows(tmp_path: Path) -> None:
    groups = {"learning_rate": {"best_value": 0.4186, "metric": "val_f1"}, "regularization": {"best_value": None}}
    assert best_label(with_scores({"groups": groups}, tmp_path)) == "0.4186 val_f1"


def test_no_value_is_a_dash() -> None:
    assert value_with_metric(None, "val_f1") == "-" and value_with_metric(0.5, None) == "0.5000"
