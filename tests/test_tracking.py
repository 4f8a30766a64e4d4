"""MLflow tracking: parent run per group, nested run per trial, resume into the same runs, early error."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli_helpers import tiny_raw, write_config
from hyperopt_cli.config import GROUPS, config_from_dict
from hyperopt_cli.core.errors import ConfigError, StopRequested
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.search.events import EpochEnd, Event

INSTALL_MESSAGE = "use_mlflow is true but mlflow is not installed; install it with: pip install 'hyperopt-cli[mlflow]'"


def test_use_mlflow_without_mlflow_fails_at_config_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # importlib.util.find_spec("mlflow") -> None
    raw = tiny_raw("use_mlflow=true")
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert str(info.value) == INSTALL_MESSAGE


def test_start_without_mlflow_is_one_error_line_and_no_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hyperopt_cli.cli import app

    monkeypatch.setitem(sys.modules, "mlflow", None)
    config = write_config(tmp_path, use_mlflow=True)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["start", "--config", str(config), "--runs-dir", str(runs)])
    assert result.exit_code == 3
    assert f"Error: {INSTALL_MESSAGE} ({config})" in result.output
    assert not runs.exists()


class StopAtFirstEpochOf:
    """Sets the stop event after the first epoch of one trial, once."""

    def __init__(self, stop: threading.Event, group: str, trial: int) -> None:
        self.stop, self.group, self.trial, self.fired = stop, group, trial, False

    def emit(self, event: Event) -> None:
        if isinstance(event, EpochEnd) and not self.fired and (event.group, event.trial) == (self.group, self.trial):
            self.fired = True
            self.stop.set()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # SQLAlchemy, inside MLflow's store
def test_mlflow_parent_and_nested_runs_survive_a_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install 'hyperopt-cli[mlflow]'")
    from mlflow.tracking import MlflowClient

    from hyperopt_cli.run.tracking import experiment_name, tracking_uri

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    raw = tiny_raw(
        "use_mlflow=true",
        "epochs_per_trial=2",
        "n_warmup_steps=2",
    )
    cfg = config_from_dict(raw)
    run = tmp_path / "run"
    stop = threading.Event()
    with pytest.raises(StopRequested):  # stopped in the middle of regularization's trial 1
        HyperparameterOptimizer(cfg, run, events=StopAtFirstEpochOf(stop, "regularization", 1)).optimize(stop)
    results = HyperparameterOptimizer(cfg, run).optimize()

    assert (run / "mlruns" / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=tracking_uri(cfg, run))
    experiment = client.get_experiment_by_name(experiment_name(cfg, run))
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    by_kind: dict[str, list[Any]] = {}
    for r in runs:
        by_kind.setdefault(r.data.tags["hyperopt_kind"], []).append(r)
    assert sorted(r.info.run_name for r in by_kind["group"]) == sorted(GROUPS)  # one parent per group, no duplicate
    assert len(by_kind["trial"]) == len(GROUPS) * 2  # one nested run per trial, the resumed one included
    parents = {r.data.tags["hyperopt_group"]: r for r in by_kind["group"]}
    for parent in parents.values():
        assert parent.info.status == "FINISHED"
        assert "best_value" in parent.data.metrics and parent.data.tags["reason"] in ("budget", "converged")
    # the regularization parent carries the learning_rate group's best values in
    lr_best = results["group_results"]["learning_rate"]["best_params"]
    reg = parents["regularization"].data.params
    assert {k: reg[f"fixed.{k}"] for k in lr_best} == {k: str(v) for k, v in lr_best.items()}
    for trial in by_kind["trial"]:
        group = trial.data.tags["hyperopt_group"]
        assert trial.data.tags["mlflow.parentRunId"] == parents[group].info.run_id
        assert set(trial.data.params) == set(cfg.search_space[group])
        assert trial.data.tags["state"] in ("COMPLETE", "PRUNED", "FAIL")
        assert trial.data.tags["collapsed"] in ("true", "false")
        steps = [m.step for m in client.get_metric_history(trial.info.run_id, "objective")]
        assert sorted(steps) == [0, 1], (group, trial.data.tags["hyperopt_trial"], steps)  # each epoch once
        for key in ("val_f1", "val_loss", "train_loss", "trading_score", "per_class_f1_buy"):
            assert len(client.get_metric_history(trial.info.run_id, key)) == 2
    (final,) = by_kind["final"]
    assert final.info.status == "FINISHED"
    assert final.data.metrics["test_macro_f1"] == pytest.approx(results["test_metrics"]["macro_f1"])
    assert "baseline_majority_class_macro_f1" in final.data.metrics
    assert final.data.params == {k: str(v) for k, v in results["best_params"].items()}
    saved = {a.path for a in client.list_artifacts(final.info.run_id, "model")}
    assert {"model/model.json", "model/member_0.pt"} <= saved  # the saved model travels with the final run
