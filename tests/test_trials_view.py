"""`hyperopt trials`, `hyperopt show` and `hyperopt status` without a run: schemas and errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli_helpers import hyperopt, into_closed_pipe
from hyperopt_cli.cli import app
from hyperopt_cli.run.events import short_params
from model_helpers import finished_run

runner = CliRunner()
TRIAL_KEYS = {
    "group",
    "number",
    "state",
    "value",
    "partial",
    "params",
    "epochs_run",
    "folds_run",
    "pruned_at",
    "pruned_in_fold",
    "pruned_by",
    "collapsed",
    "duration_s",
    "worker",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    return finished_run(tmp_path_factory.mktemp("trials"), "max_trials_per_group=3")


def test_trials_json_has_one_row_per_trial_with_its_schema(run: Any) -> None:
    run_dir, _, results = run
    shown = runner.invoke(app, ["trials", str(run_dir), "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert [r["number"] for r in rows] == [0, 1, 2] and all(set(r) == TRIAL_KEYS | {"run"} for r in rows)
    assert {r["group"] for r in rows} == {"learning_rate"}
    best = results["group_results"]["learning_rate"]["best_trial"]
    assert max(r["value"] for r in rows if r["state"] == "COMPLETE") == pytest.approx(results["best_value"])
    assert all(r["epochs_run"] == 1 and r["duration_s"] > 0 and r["worker"] for r in rows if r["state"] == "COMPLETE")
    assert best in [r["number"] for r in rows]
    table = runner.invoke(app, ["trials", str(run_dir), "--group", "learning_rate"])
    assert table.exit_code == 0 and "COMPLETE" in table.stdout


def test_show_gives_every_epochs_metrics(run: Any) -> None:
    run_dir, _, _ = run
    shown = runner.invoke(app, ["show", str(run_dir), "learning_rate", "0", "--json"])
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert set(detail) == (TRIAL_KEYS - {"epochs_run"}) | {
        "raw_value",
        "metric",
        "epochs",
        "run",
        "folds",
        "chosen_epochs",
        "race",
        "rung",
    }
    assert detail["metric"] == "val_loss" and len(detail["epochs"]) == 1
    epoch = detail["epochs"][0]
    assert {"epoch", "value", "train_loss", "val_loss", "val_f1", "trading_score"} <= set(epoch)
    # The objective: the mean of the selection sub-blocks (the earlier half; the rest confirm, docs/selection.md).
    blocks = epoch["val_blocks"]["val_loss"]
    assert epoch["value"] == pytest.approx(sum(blocks[: len(blocks) // 2]) / (len(blocks) // 2))
    assert (
        epoch["fold"] == 1 and epoch["epoch"] == 1
    )  # counted from 1, as the log ("epoch 1/1") and the report's curves say it


def test_trials_without_a_run_uses_the_newest_and_says_so(run: Any) -> None:
    run_dir, _, _ = run
    shown = runner.invoke(app, ["trials", "--runs-dir", str(run_dir.parent), "--json"])
    assert shown.exit_code == 0, shown.output
    assert shown.stderr == f"Using run {run_dir} (newest)\n"
    assert {r["run"] for r in json.loads(shown.stdout)} == {str(run_dir)}


def _rows(run_dir: Path, *args: str) -> list[dict[str, Any]]:
    shown = runner.invoke(app, ["trials", str(run_dir), "--json", *args])
    assert shown.exit_code == 0, shown.output
    return list(json.loads(shown.stdout))


def test_sort_state_and_top(run: Any) -> None:
    run_dir, _, results = run
    every = _rows(run_dir)
    by_value = _rows(run_dir, "--sort", "value")
    values = [r["value"] for r in by_value if r["value"] is not None]
    assert values == sorted(values) and len(by_value) == len(every)  # val_loss: best (lowest) first
    durations = [r["duration_s"] for r in _rows(run_dir, "--sort", "duration") if r["duration_s"] is not None]
    assert durations == sorted(durations, reverse=True)
    assert [r["number"] for r in _rows(run_dir, "--sort", "number")] == sorted(r["number"] for r in every)
    complete = _rows(run_dir, "--state", "complete")
    assert complete and {r["state"] for r in complete} == {"COMPLETE"}
    assert len(complete) == sum(r["state"] == "COMPLETE" for r in every)
    [best] = _rows(run_dir, "--sort", "value", "--state", "complete", "--top", "1")
    group = results["group_results"]["learning_rate"]
    # The best value is the group's pick unless the incumbent guard kept the incumbent over it.
    assert best["number"] == (group["challenger"]["trial"] if group["kept"] else group["best_trial"])


def test_csv_has_a_column_per_param_and_excludes_json(run: Any) -> None:
    run_dir, _, _ = run
    shown = runner.invoke(app, ["trials", str(run_dir), "--csv"])
    assert shown.exit_code == 0, shown.output
    table = list(csv.DictReader(io.StringIO(shown.stdout)))
    every = _rows(run_dir)
    assert [int(r["number"]) for r in table] == [r["number"] for r in every]
    assert list(table[0])[:13] == [
        "group",
        "number",
        "state",
        "value",
        "partial",
        "epochs_run",
        "folds_run",
        "pruned_at",
        "pruned_in_fold",
        "pruned_by",
        "collapsed",
        "duration_s",
        "worker",
    ]
    assert {"learning_rate", "batch_size"} <= set(table[0])
    assert [float(r["learning_rate"]) for r in table] == [r["params"]["learning_rate"] for r in every]
    both = runner.invoke(app, ["trials", str(run_dir), "--csv", "--json"])
    assert both.exit_code == 2 and "--csv and --json both write to stdout" in both.stderr


def test_a_piped_table_never_wraps(run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir, _, _ = run
    monkeypatch.setenv("COLUMNS", "80")
    shown = hyperopt("trials", run_dir, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if "learning_rate" in line and "│" in line]
    every = _rows(run_dir)
    assert len(lines) == len(every)  # one line per trial
    for line, row in zip(lines, every):
        assert short_params(row["params"]) in line


@pytest.mark.parametrize("args", [["--json"], []])
def test_a_reader_that_goes_away_ends_trials_quietly(run: Any, tmp_path: Path, args: list[str]) -> None:
    run_dir, _, _ = run
    code, stderr = into_closed_pipe("trials", run_dir, *args, cwd=tmp_path, timeout=120)
    assert code == 141, stderr
    assert "Error" not in stderr and "Traceback" not in stderr and "Exception ignored" not in stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["trials", "RUN", "--group", "nope"], "Error: RUN has no group 'nope'"),
        (["show", "RUN", "learning_rate", "99"], "Error: group 'learning_rate' of RUN has no trial 99"),
        (["trials", "no_such_run"], "Error: run not found: 'no_such_run' is neither a directory nor a job id"),
    ],
)
def test_bad_arguments_are_run_state_errors(run: Any, args: list[str], message: str) -> None:
    run_dir, _, _ = run
    shown = runner.invoke(app, [a.replace("RUN", str(run_dir)) for a in args])
    assert shown.exit_code == 6
    assert shown.stderr.strip().splitlines()[0].startswith(message.replace("RUN", str(run_dir)))


def test_status_without_a_run_lists_best_value_test_f1_and_verdict(run: Any) -> None:
    run_dir, _, results = run
    shown = runner.invoke(app, ["status", "--runs-dir", str(run_dir.parent), "--json"])
    assert shown.exit_code == 0, shown.output
    [row] = json.loads(shown.stdout)
    assert row["best_value"] == results["best_value"]
    assert row["test_macro_f1"] == results["test_metrics"]["macro_f1"]
    assert row["verdict"] == results["verdict"]["wording"]
    table = runner.invoke(app, ["status", "--runs-dir", str(run_dir.parent)])
    assert "test F1" in table.stdout and f"{results['test_metrics']['macro_f1']:.4f}" in table.stdout
