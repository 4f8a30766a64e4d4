"""Run records: one torch-free home for attribute names, the objective rule, config and results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import tiny
from hyperopt_cli.config import GROUPS, dump_config
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import records, rundir
from hyperopt_cli.search.study_records import FINE_TUNE, SKILL


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("hyperopt_cli.run.records", ("torch", "optuna")),
        ("hyperopt_cli.run.results", ("torch", "optuna")),
        ("hyperopt_cli.run.state_record", ("torch", "optuna")),
        ("hyperopt_cli.control", ("torch", "optuna")),
        ("hyperopt_cli.run.status", ("torch", "optuna")),
        ("hyperopt_cli.core.storage_kind", ("torch", "optuna")),
        ("hyperopt_cli.search.study_records", ("torch", "optuna")),
        ("hyperopt_cli.search.liveness", ("torch", "optuna")),
        ("hyperopt_cli.run.state", ("torch",)),
        ("hyperopt_cli.report.page", ("torch",)),
    ],
)
def test_readers_import_no_training_stack(module: str, absent: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print([m for m in {absent!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_group_objective_uses_skill_over_the_label_prior_only_where_labels_change() -> None:
    cfg = tiny("primary_metric=val_loss", "optimization_direction=minimize")
    assert records.group_objective(cfg, "learning_rate") == ("val_loss", "minimize")
    assert records.group_objective(cfg, "triple_barrier") == (SKILL, "maximize")
    assert records.group_objective(cfg, FINE_TUNE) == (SKILL, "maximize")


@pytest.mark.parametrize(
    ("metric", "direction"), [("val_loss", "minimize"), ("val_f1", "maximize"), ("val_accuracy", "maximize")]
)
def test_auto_direction_minimizes_the_loss_and_maximizes_the_rest(metric: str, direction: str) -> None:
    cfg = tiny(f"primary_metric={metric}")
    assert cfg.optimization_direction == "auto"
    assert records.group_objective(cfg, "learning_rate") == (metric, direction)
    assert set(GROUPS) >= {"learning_rate", "triple_barrier"}


@pytest.mark.parametrize(
    ("stored", "parsed"),
    [
        (None, None),
        ("converged", {"reason": "converged"}),
        ({"reason": "budget", "best_params": {"a": 1}}, {"reason": "budget", "best_params": {"a": 1}}),
        (3, None),
    ],
)
def test_group_done_record_parsing(stored: object, parsed: object) -> None:
    assert records.parse_group_done(stored) == parsed


def test_finished_best_prefers_the_frozen_record_and_fixed_params_are_the_union() -> None:
    assert records.finished_best({"best_params": None}, {"lr": 1}) is None  # no trial completed: kept as None
    assert records.finished_best({"reason": "budget"}, {"lr": 1}) == {"lr": 1}
    assert records.done_reason({}) == "budget"
    fixed = records.fixed_params([{"lr": 1, "bs": 8}, None, {"bs": 16, "wd": 0.1}])
    assert fixed == {"lr": 1, "bs": 16, "wd": 0.1}


def test_load_run_config_reads_the_frozen_config_and_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(RunStateError, match="not a run directory"):
        records.load_run_config(tmp_path)
    cfg = tiny("use_mlflow=false")
    (tmp_path / rundir.CONFIG_FILE).write_text(dump_config(cfg))
    assert records.load_run_config(tmp_path) == cfg
    (tmp_path / rundir.CONFIG_FILE).write_text("seed: -1\n")
    with pytest.raises(RunStateError, match="cannot resume"):
        records.load_run_config(tmp_path)
    with pytest.raises(RunStateError, match="cannot read the run's config"):
        records.load_run_config(tmp_path, for_display=True)


def test_masked_config_hides_the_password() -> None:
    cfg = tiny("storage_url=postgresql://me:secret@db/h")
    assert records.masked_config(cfg)["storage_url"] == "postgresql://me:***@db/h"
