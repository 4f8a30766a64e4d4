"""`show` and `trials` on a run with several selection folds: numbers that mean what they say (issue 33, item 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hyperopt_cli.cli import app
from model_helpers import finished_run

runner = CliRunner()
FOLDS, EPOCHS = 3, 2


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    return finished_run(
        tmp_path_factory.mktemp("folds"),
        "max_trials_per_group=2",
        f"selection_folds={FOLDS}",
        f"epochs_per_trial={EPOCHS}",
        "n_warmup_steps=100",
    )


@pytest.mark.slow  # a whole search on 3 folds (~6 s)
def test_show_names_fold_and_epoch_and_keeps_metrics_beside_their_own_value(run: Any) -> None:
    run_dir, _, _ = run
    shown = runner.invoke(app, ["show", str(run_dir), "learning_rate", "0", "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    rows = detail["epochs"]
    assert [(r["fold"], r["epoch"]) for r in rows] == [
        (f, e) for f in range(1, FOLDS + 1) for e in range(1, EPOCHS + 1)
    ]
    assert detail["folds"] == FOLDS and 1 <= detail["chosen_epochs"] <= EPOCHS
    for r in rows:
        if r["fold"] < FOLDS:  # earlier folds reported their objective only
            assert "val_loss" not in r and "train_loss" not in r
        else:  # the last fold's metrics, beside that fold's own reported value: the objective (val_loss) of
            # its selection sub-blocks (the earlier half, docs/selection.md), computed from this very row
            blocks = r["val_blocks"]["val_loss"]
            assert r["value"] == pytest.approx(sum(blocks[: len(blocks) // 2]) / (len(blocks) // 2))


@pytest.mark.slow  # a whole search on 3 folds (~6 s)
def test_trials_counts_epochs_per_fold(run: Any) -> None:
    run_dir, _, _ = run
    rows = json.loads(runner.invoke(app, ["trials", str(run_dir), "--json"]).stdout)
    assert rows and all((r["epochs_run"], r["folds_run"]) == (EPOCHS, FOLDS) for r in rows if r["state"] == "COMPLETE")


@pytest.mark.slow  # a whole search on 3 folds (~6 s)
def test_show_table_labels_folds_and_losses(run: Any) -> None:
    run_dir, _, _ = run
    shown = runner.invoke(app, ["show", str(run_dir), "learning_rate", "0"])
    assert shown.exit_code == 0, shown.output
    assert "fold" in shown.stdout and f"mean over {FOLDS} folds" in shown.stdout
    assert "val_loss is plain cross-entropy" in shown.stdout
