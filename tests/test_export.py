"""`hyperopt export`: a best-params config that `start` accepts as is, and a refit on every labelled bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli_helpers import hyperopt
from hyperopt_cli.config import read_yaml, with_params
from hyperopt_cli.control import resolve_config
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.model.artifact import read_manifest
from hyperopt_cli.model.predict import predict_file
from hyperopt_cli.run.export import MACHINE_TRAINER_KEYS, export_config, refit


@pytest.fixture(scope="module")
def run(quick_csv_run: tuple[Path, Path, dict[str, Any]]) -> tuple[Path, Path, dict[str, Any]]:
    return quick_csv_run  # shared: this module only reads the run


def _resolved(cfg: Any) -> dict[str, Any]:
    import dataclasses

    trainer, labels = with_params(cfg, {})
    model = {"hidden_size": cfg.model.hidden_size, "num_layers": cfg.model.num_layers, "window": cfg.data.window}
    return {"trainer": _found(dataclasses.asdict(trainer)), "labels": dataclasses.asdict(labels), "model": model}


def _found(trainer: dict[str, Any]) -> dict[str, Any]:
    """The trainer settings that are the configuration, not the machine (which the export leaves to auto)."""
    return {k: v for k, v in trainer.items() if k not in MACHINE_TRAINER_KEYS}


def test_exported_config_resolves_to_the_runs_best_params(run: Any, tmp_path: Path) -> None:
    run_dir, _, results = run
    best = tmp_path / "best.yaml"
    params = export_config(run_dir, best)
    assert params == results["fixed_params"] and params
    cfg = resolve_config(best, [])  # what `start --config best.yaml` builds
    expected = results["resolved_params"]
    expected = {**expected, "trainer": _found(expected["trainer"])}
    assert _resolved(cfg) == expected
    with pytest.raises(RunStateError, match="exists"):
        export_config(run_dir, best)
    assert read_yaml(best)["trainer"]["learning_rate"] == results["fixed_params"]["learning_rate"]


def test_the_export_leaves_machine_settings_to_the_next_machine_and_does_not_search(run: Any, tmp_path: Path) -> None:
    run_dir, _, _ = run
    frozen = read_yaml(run_dir / "config.yaml")
    assert frozen["workers"] != 0 or frozen["trainer"]["num_threads"] != 0  # start froze this machine's choice
    best = tmp_path / "best.yaml"
    export_config(run_dir, best)
    raw = read_yaml(best)
    assert (raw["workers"], raw["storage_url"], raw["study_name"], raw["checkpoint_dir"]) == (
        0,
        None,
        "ml_hyperopt",
        None,
    )
    assert (raw["trainer"]["num_threads"], raw["trainer"]["precision"], raw["trainer"]["device"]) == (0, "auto", "auto")
    assert (raw["mode"], raw["max_trials_per_group"], raw["incumbent_first"]) == ("quick", 1, True)
    header = best.read_text().split("\nstudy_name:")[0]
    assert f"`hyperopt start --config {best}` does NOT search again" in header
    assert f"To re-tune around these values instead: hyperopt start --config {best} --set mode=full" in header


@pytest.mark.slow
def test_start_with_the_exported_config_trains_the_found_values_once(run: Any, tmp_path: Path) -> None:
    run_dir, _, results = run
    done = hyperopt("export", run_dir, "--config", tmp_path / "best.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    started = hyperopt("start", "--config", "best.yaml", "--run-dir", "runs/again", "--json", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    again = read_yaml(tmp_path / "runs" / "again" / "results.json")  # JSON is YAML
    assert again["group_results"]["learning_rate"]["n_trials"]["complete"] == 1
    assert again["fixed_params"] == results["fixed_params"]  # the one trial was the found values, not a search


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
    # Its own decision rule, fitted on its own validation predictions (argmax where the fit did not help).
    assert manifest["decision"]["kind"] in ("fitted", "argmax") and manifest["decision"]["n_val"] > 0
    with pytest.raises(RunStateError, match="exists"):
        refit(run_dir)
    assert not list((run_dir / "checkpoints").glob("refit_*.pt"))


def test_refit_trains_the_final_configurations_epochs_and_records_them(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """results.json `epochs` (what the walk-forward models trained for), not epochs_per_trial."""
    import shutil

    from hyperopt_cli.run import rundir
    from hyperopt_cli.training import trainer

    run_dir = shutil.copytree(run[0], tmp_path / "job")
    results = rundir.read_json(run_dir / rundir.RESULTS_FILE)
    per_trial = read_yaml(run_dir / rundir.CONFIG_FILE)["epochs_per_trial"]
    chosen = per_trial + 2  # a count only the results can give
    rundir.write_json(run_dir / rundir.RESULTS_FILE, {**results, "epochs": chosen})
    trained = []
    real = trainer.train_model

    def counting(*args: Any, **kwargs: Any) -> Any:
        trained.append(kwargs["epochs"])
        fit = real(*args, **kwargs)
        trained.append(len(fit.history))
        return fit

    monkeypatch.setattr(trainer, "train_model", counting)
    made = refit(run_dir, tmp_path / "refit")
    assert trained and set(trained) == {chosen}  # asked for, and ran, the chosen epochs (every member)
    assert read_manifest(made)["training"]["epochs"] == chosen


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
