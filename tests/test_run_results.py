"""run/results.py: results.json, a group's result and the final evaluation as typed records."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import tiny
from hyperopt_cli.run.records import build_results
from hyperopt_cli.run.results import FinalResult, GroupResult, RunResults, panel_of, results_layout

GROUP_ROW: dict[str, Any] = {
    "metric": "val_loss",
    "direction": "minimize",
    "best_value": 1.15,
    "best_params": {"learning_rate": 0.001},
    "best_trial": 0,
    "best_metrics": {"epoch": 0, "val_f1": 0.22},
    "best_epochs": 1,
    "kept": "not confirmed",
    "challenger": {"trial": 1},
    "pbo": 0.33,
    "n_trials": {"complete": 2, "pruned": 0, "failed": 0, "running": 0, "finished": 2},
    "collapsed_trials": [0],
    "failed_trials": [],
    "duration_s": 0.1,
    "wall_s": 0.3,
    "history": [[0, 1.15], [1, 1.07]],
    "completed": True,
    "converged": False,
    "reason": "budget",
}

# results.json of a run written before the final checks and per-symbol runs existed: no `precision`,
# `epochs`, `pbo`, `decision`, `run_check`, `epoch_check`, `search_changed`, `feature_importance`.
OLD_RESULTS: dict[str, Any] = {
    "job_id": "20250101_000000",
    "mode": "quick",
    "best_params": {"learning_rate": 0.001},
    "best_value": 1.15,
    "best_value_metric": "val_loss",
    "fixed_params": {"learning_rate": 0.001},
    "group_results": {"learning_rate": {k: v for k, v in GROUP_ROW.items() if k not in ("kept", "challenger", "pbo")}},
    "test_metrics": {"macro_f1": 0.3},
    "validation_metrics": None,
    "baselines": {"majority": {"macro_f1": 0.2}},
    "test_range": ["2021-01-01T00:00:00", "2021-02-01T00:00:00"],
    "verdict": {"wording": "no evidence"},
}


def full_results() -> RunResults:
    final = FinalResult(
        params_tag="abc",
        epochs=2,
        precision="fp32",
        test_metrics={"macro_f1": 0.4},
        baselines={"majority": {"macro_f1": 0.2}},
        verdict={"wording": "beats"},
        decision={"rule": "argmax", "blocks": []},
        symbols={"AAA": {"test_metrics": None}},
        scaling="per_symbol",
    )
    return build_results(tiny(), {}, {}, {"learning_rate": 0.001}, final, job_id="run1")


@pytest.mark.parametrize(
    "record",
    [
        GroupResult.from_json(GROUP_ROW),
        GroupResult.of(
            {k: v for k, v in GROUP_ROW.items() if k not in ("completed", "converged", "reason")}, "converged"
        ),
        RunResults.from_json(OLD_RESULTS),
        RunResults(job_id="x", group_results={"learning_rate": GroupResult.from_json(GROUP_ROW)}),
        FinalResult(params_tag="t", epochs=3, verdict={"wording": "w"}),
    ],
)
def test_a_record_round_trips_through_json(record: Any) -> None:
    again = type(record).from_json(json.loads(json.dumps(record.to_json())))
    assert again == record
    assert again.to_json() == record.to_json()


def test_built_results_round_trip_and_keep_their_key_order() -> None:
    built = full_results()
    raw = json.loads(json.dumps(built.to_json()))
    assert list(raw) == list(results_layout(panel=True))
    assert RunResults.from_json(raw).to_json() == raw
    assert list(RunResults.from_json(raw).to_json()) == list(raw)


def test_one_symbol_results_leave_the_panel_keys_out() -> None:
    raw = build_results(tiny(), {}, {}, {}, FinalResult(verdict={"wording": "w"})).to_json()
    assert "symbols" not in raw and "scaling" not in raw
    assert list(raw) == list(results_layout(panel=False))


def test_an_old_results_json_loads_with_the_readers_defaults_and_is_given_back_as_read() -> None:
    results = RunResults.from_json(OLD_RESULTS)
    assert results.pbo is None and results.epochs is None and results.decision is None
    assert results.run_check is None and results.feature_importance is None and results.symbols is None
    assert results.group_results["learning_rate"].kept is None
    assert results.group_results["learning_rate"].best_value == 1.15
    assert results.to_json() == OLD_RESULTS  # no key it lacked is added, none it had is lost
    assert list(results.to_json()) == list(OLD_RESULTS)


def test_unknown_keys_are_kept_in_their_place() -> None:
    raw = {"job_id": "x", "note": "rebuilt from the studies", "mode": "quick"}
    results = RunResults.from_json(raw)
    assert results.extra == {"note": "rebuilt from the studies"}
    assert list(results.to_json()) == ["job_id", "note", "mode"]
    row = GroupResult.from_json({"status": "paused", "reason": None, "max_trials": 2, "metric": "val_loss"})
    assert row.extra == {"status": "paused", "max_trials": 2} and row.metric == "val_loss"
    assert list(row.to_json()) == ["status", "reason", "max_trials", "metric"]


def test_an_empty_object_reads_as_every_default() -> None:
    assert RunResults.from_json({}) == RunResults()
    assert RunResults.from_json({}).best_params == {}
    assert GroupResult.from_json({}).n_trials == {}


def test_the_panel_is_where_the_symbols_are() -> None:
    single = RunResults.from_json(OLD_RESULTS)
    final = FinalResult(symbols={"AAA": {}}, scaling="pooled")
    assert panel_of(single, None) is None
    assert panel_of(single, final) is final
    assert panel_of(full_results(), final).scaling == "per_symbol"  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def finished(quick_csv_run: tuple[Path, Path, dict[str, Any]]) -> Path:
    return quick_csv_run[0]  # shared: this module only reads the run


SAID_BY_THE_RECORD = "said by the record, not by the file"


@pytest.fixture
def reworded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every RunResults read from JSON carries SAID_BY_THE_RECORD as its verdict; the files stay as written."""
    real = RunResults.from_json.__func__  # type: ignore[attr-defined]

    def from_json(cls: type[RunResults], raw: Mapping[str, Any]) -> RunResults:
        record = real(cls, raw)
        return dataclasses.replace(record, verdict={**(record.verdict or {}), "wording": SAID_BY_THE_RECORD})

    monkeypatch.setattr(RunResults, "from_json", classmethod(from_json))


def test_the_report_reads_results_json_through_the_record(finished: Path, reworded: None, tmp_path: Path) -> None:
    from hyperopt_cli.report.page import write_report

    assert SAID_BY_THE_RECORD not in (finished / "results.json").read_text()
    html = write_report(finished, tmp_path / "report").html.read_text()
    assert SAID_BY_THE_RECORD in html


def test_results_and_its_json_read_results_json_through_the_record(finished: Path, reworded: None) -> None:
    from typer.testing import CliRunner

    from hyperopt_cli.cli import app

    shown = CliRunner().invoke(app, ["results", str(finished)])
    assert shown.exit_code == 0, shown.output
    assert SAID_BY_THE_RECORD in " ".join(shown.output.split())
    answer = CliRunner().invoke(app, ["results", str(finished), "--json"])
    assert json.loads(answer.output)["verdict"]["wording"] == SAID_BY_THE_RECORD  # the server's answer too


def test_the_results_answer_is_the_file_plus_the_status_keys(finished: Path) -> None:
    from hyperopt_cli.control import results_of

    raw = json.loads((finished / "results.json").read_text())
    answer = results_of(finished)
    assert list(answer)[: len(raw)] == list(raw)
    assert {k: answer[k] for k in raw} == raw
    assert list(answer)[len(raw) :] == ["status", "complete", "trials_per_hour"]


def test_results_prints_every_section_from_the_file(finished: Path) -> None:
    """Each section print_results draws (groups, scores, verdict) shows the numbers results.json holds."""
    from typer.testing import CliRunner

    from hyperopt_cli.cli import app
    from hyperopt_cli.cli.render import fmt

    raw = json.loads((finished / "results.json").read_text())
    shown = CliRunner().invoke(app, ["results", str(finished)], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    for group, row in raw["group_results"].items():
        assert any(group in ln and fmt(row["best_value"]) in ln for ln in lines), group
    tuned = next(ln for ln in lines if "tuned LSTM" in ln)
    assert fmt(raw["test_metrics"]["macro_f1"]) in tuned and fmt(raw["test_metrics"]["accuracy"]) in tuned
    for name, metrics in raw["baselines"].items():
        assert any(name in ln and fmt(metrics["macro_f1"]) in ln for ln in lines), name
    assert f"Verdict: {raw['verdict']['wording']}"[:60] in " ".join(shown.output.split())
