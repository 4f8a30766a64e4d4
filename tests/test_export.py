"""`hyperopt export`: a best-params config that `start` accepts as is, and a refit on every labelled bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli_helpers import hyperopt
from model_helpers import finished_run
from hyperopt_cli.config import read_yaml, with_params
from hyperopt_cli.control import resolve_config
from hyperopt_cli.errors import RunStateError
from hyperopt_cli.model.artifact import read_manifest
from hyperopt_cli.model.export import export_config, refit
from hyperopt_cli.model.predict import predict_file
from hyperopt_cli.training.precision import frozen_precision


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    return finished_run(tmp_path_factory.mktemp("export"))


def _resolved(cfg: Any) -> dict[str, Any]:
    import dataclasses

    trainer, labels = with_params(cfg, {})
    return {"trainer": dataclasses.asdict(trainer), "labels": dataclasses.asdict(labels)}


def test_exported_config_resolves_to_the_runs_best_params(run: Any, tmp_path: Path) -> None:
    run_dir, _, results = run
    best = tmp_path / "best.yaml"
    params = export_config(run_dir, best)
    assert params == results["fixed_params"] and params
    cfg = resolve_config(best, [])  # what `start --config best.yaml` builds
    expected = results["resolved_params"]
    trainer = expected["trainer"]  # start freezes precision "auto" into what it resolves to on this machine
    expected = {**expected, "trainer": {**trainer, "precision": frozen_precision(trainer["precision"], trainer["device"])}}
    assert _resolved(cfg) == expected
    with pytest.raises(RunStateError, match="exists"):
        export_config(run_dir, best)
    assert read_yaml(best)["trainer"]["learning_rate"] == results["fixed_params"]["learning_rate"]


@pytest.mark.slow
def test_start_accepts_the_exported_config_as_is(run: Any, tmp_path: Path) -> None:
    run_dir, _, results = run
    done = hyperopt("export", run_dir, "--config", tmp_path / "best.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    started = hyperopt("start", "--config", "best.yaml", "--set", "mode=group", "--set", "target_group=scheduler",
                       "--set", "max_trials_per_group=1", "--run-dir", "runs/again", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    frozen = read_yaml(tmp_path / "runs" / "again" / "config.yaml")
    assert frozen["trainer"]["learning_rate"] == results["resolved_params"]["trainer"]["learning_rate"]
    assert frozen["trainer"]["batch_size"] == results["resolved_params"]["trainer"]["batch_size"]


def test_refit_trains_on_every_labelled_bar_into_its_own_folder(run: Any, tmp_path: Path) -> None:
    run_dir, data, results = run
    evaluated = (run_dir / "model" / "member_0.pt").read_bytes()
    made = refit(run_dir)
    assert made == run_dir / "model_refit_all_bars"
    manifest = read_manifest(made)
    assert manifest["kind"] == "refit_all_bars"
    assert manifest["evaluation"]["test_metrics"] == results["test_metrics"]
    evaluated_manifest = read_manifest(run_dir / "model")
    assert manifest["training"]["last_timestamp"] > evaluated_manifest["training"]["last_timestamp"]
    assert manifest["training"]["last_timestamp"] >= results["walk_forward"]["blocks"][-1]["last_timestamp"]
    assert (run_dir / "model" / "member_0.pt").read_bytes() == evaluated  # never over the evaluated model
    assert len(predict_file(made, data).frame) > 0
    with pytest.raises(RunStateError, match="exists"):
        refit(run_dir)
    assert not list((run_dir / "checkpoints").glob("refit_*.pt"))


def test_export_without_a_run_uses_the_newest_and_says_so(run: Any, tmp_path: Path) -> None:
    run_dir, _, _ = run
    done = hyperopt("export", "--runs-dir", run_dir.parent, "--config", tmp_path / "b.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == f"Using run {run_dir} (newest)"


def test_export_needs_something_to_do(run: Any, tmp_path: Path) -> None:
    run_dir, _, _ = run
    done = hyperopt("export", run_dir, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["Error: export needs --config FILE, --refit, or both"]
