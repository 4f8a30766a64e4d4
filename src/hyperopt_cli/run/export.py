"""Export what a run found: a complete config with the best params filled in, or a model refitted on every bar.

`export_config` writes the run's own config.yaml with the best params moved into
`trainer:`/`labels:`, this machine's settings (workers, threads, precision, device, storage,
paths) back to their defaults, and `mode: quick` with one trial per group: `hyperopt start
--config best.yaml` then trains the found configuration once (the group's only trial is its
incumbent, the found values) and walks it forward, without a new search. The file's header
says so, and how to re-tune around the values instead (docs/decisions.md, "export").

`refit` trains the final configuration on every labelled bar (the latest share of them,
purged, as validation, as each walk-forward block does) and saves it in its own folder
(RUN_DIR/model_refit_all_bars/ by default), never over the evaluated RUN_DIR/model/: the
refitted model has no out-of-sample score of its own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hyperopt_cli.config import (
    LABEL_PARAMS,
    OptimizationConfig,
    TrainerConfig,
    config_from_dict,
    families_for,
    model_for,
    read_yaml,
    with_params,
)
from hyperopt_cli.core.atomic import atomic_write_text
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.evaluation.decision import ARGMAX, DecisionRule, fit_rule
from hyperopt_cli.model.artifact import REFIT_DIR, model_dir_of, read_manifest
from hyperopt_cli.run import rundir
from hyperopt_cli.run.records import load_run_config
from hyperopt_cli.run.results import RunResults
from hyperopt_cli.run.state_record import read_run_state

# Settings that belong to the machine (or the run's own files), not to the configuration found:
# the export leaves them to their defaults, so the target machine picks its own (auto/0/null).
MACHINE_KEYS = ("workers", "storage_url", "study_name", "checkpoint_dir", "mlflow_tracking_uri")
MACHINE_TRAINER_KEYS = ("num_threads", "precision", "device")
# What makes `start --config best.yaml` train the found values without searching: one group, one
# trial, and that trial is the incumbent (the trainer/labels defaults, i.e. the found values).
REPLAY = {
    "mode": "quick",
    "target_group": None,
    "fine_tune_from": None,
    "max_trials_per_group": 1,
    "incumbent_first": True,
}
RETUNE = "--set mode=full --set max_trials_per_group={trials}"


def _best_params(run_dir: Path) -> tuple[dict[str, Any], bool]:
    """The run's best (fixed) params and whether the run is complete."""
    raw = rundir.read_json(run_dir / rundir.RESULTS_FILE)
    if raw is not None:
        results = RunResults.from_json(raw)
        return dict(results.fixed_params or results.best_params or {}), True
    from hyperopt_cli.run.status import results_of

    return dict(results_of(run_dir).get("fixed_params") or {}), False


def exported_config(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(config mapping with the best params filled in, those params, run complete?)."""
    run_dir = Path(run_dir)
    config_file = run_dir / rundir.CONFIG_FILE
    if not config_file.is_file():
        raise RunStateError(f"{run_dir} is not a run directory: {rundir.CONFIG_FILE} not found")
    raw = read_yaml(config_file)
    params, complete = _best_params(run_dir)
    trainer_fields = {f.name for f in dataclasses.fields(TrainerConfig)}
    raw["trainer"] = {**(raw.get("trainer") or {}), **{k: v for k, v in params.items() if k in trainer_fields}}
    raw["labels"] = {**(raw.get("labels") or {}), **{k: v for k, v in params.items() if k in LABEL_PARAMS}}
    model_cfg, window = model_for(config_from_dict(raw, origin=str(config_file)), params)  # the model group's
    raw["model"] = {
        **(raw.get("model") or {}),
        "hidden_size": model_cfg.hidden_size,
        "num_layers": model_cfg.num_layers,
    }
    raw["data"] = {**(raw.get("data") or {}), "window": window}
    defaults, trainer_defaults = OptimizationConfig(), TrainerConfig()
    raw.update({key: getattr(defaults, key) for key in MACHINE_KEYS})
    raw["trainer"].update({key: getattr(trainer_defaults, key) for key in MACHINE_TRAINER_KEYS})
    raw.update(REPLAY)
    # the features group's use_<family> switches become features.families
    raw["features"] = {
        **(raw.get("features") or {}),
        "families": list(families_for(config_from_dict(raw, origin=str(config_file)), params)),
    }
    config_from_dict(raw, origin=str(config_file))  # what start will check: refuse to write a config it rejects
    return raw, params, complete


def export_config(run_dir: Path, out: Path, force: bool = False) -> dict[str, Any]:
    """Write the best-params config to `out` (YAML); returns the params filled in."""
    out = Path(out)
    if out.exists() and not force:
        raise RunStateError(f"{out} exists; choose another file or pass --force")
    searched = read_yaml(Path(run_dir) / rundir.CONFIG_FILE).get("max_trials_per_group")
    raw, params, complete = exported_config(run_dir)
    atomic_write_text(
        out, export_header(Path(run_dir), out, params, complete, searched) + yaml.safe_dump(raw, sort_keys=False)
    )
    return params


def export_header(run_dir: Path, out: Path, params: dict[str, Any], complete: bool, searched: Any) -> str:
    """The comment on top of an exported config: what it holds, and what `start --config` with it does."""
    trials = searched if isinstance(searched, int) else OptimizationConfig().max_trials_per_group
    note = "" if complete else " (run not finished: the best params of its finished groups)"
    lines = [
        f"Exported by `hyperopt export {run_dir} --config {out}`{note}.",
        f"The run's best params are the trainer:/labels: values below: {', '.join(sorted(params)) or 'none'}.",
        "",
        f"`hyperopt start --config {out}` does NOT search again: mode quick with max_trials_per_group 1",
        "trains exactly these values once (the group's only trial is its incumbent: these values) and",
        "walks them forward over the test blocks next to the baselines: a verdict and a model for this",
        "configuration, on the bars of data.path or of --data FILE.",
        f"To re-tune around these values instead: hyperopt start --config {out} {RETUNE.format(trials=trials)}",
        "(each group's first trial is then these values; a group replaces them only when it measures better).",
        "",
        "This machine's settings are left to the next one's: workers 0 and trainer.num_threads 0 (auto),",
        "trainer.precision and trainer.device auto, storage_url null (journal files), study_name default.",
    ]
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def refit(run_dir: Path, out_dir: Path | None = None) -> Path:
    """Train the run's final configuration on every labelled bar and save it to its own model folder."""
    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.evaluation.lstm import VAL_FRACTION
    from hyperopt_cli.evaluation.walkforward import WalkForwardSource, as_prepared_data
    from hyperopt_cli.model.artifact import save_model
    from hyperopt_cli.model.build import build_manifest
    from hyperopt_cli.run.checks import check_data
    from hyperopt_cli.training.seeding import derive_seed
    from hyperopt_cli.training.trainer import delete_checkpoint, train_model

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / REFIT_DIR
    if out_dir.exists():
        raise RunStateError(f"{out_dir} exists; remove it or pass --out to refit into another folder")
    raw = rundir.read_json(run_dir / rundir.RESULTS_FILE)
    if raw is None:
        raise RunStateError(f"{run_dir} has not finished; refit the final configuration once it has")
    cfg = load_run_config(run_dir, for_display=True)
    results = RunResults.from_json(raw)
    fixed = dict(results.fixed_params or {})
    trainer_cfg, labels_cfg = with_params(cfg, fixed)
    model_cfg, window = model_for(cfg, fixed)
    preparer = DataPreparer.for_run(load_data(cfg), cfg)
    data = preparer.prepare(labels_cfg, families_for(cfg, fixed), window)
    state = read_run_state(run_dir)
    known = state.data if state is not None else None
    fingerprint = check_data(cfg, known, int(data.info.get("bars", 0)))  # the bars the run was tuned on, unchanged
    source = WalkForwardSource.from_prepared(preparer, data)
    features = source.scaled_until(source.timestamps[-1])
    every = source.segment("train", np.arange(len(source.end_rows)), features)
    fold = as_prepared_data(every, every, data.purge_bars, data.feature_names, VAL_FRACTION)
    epochs = refit_epochs(results, cfg)
    checkpoints = rundir.checkpoints_of(run_dir, cfg.checkpoint_dir)
    members = []
    for member in range(cfg.ensemble_seeds):
        checkpoint = checkpoints / f"refit_{member}.pt"
        members.append(
            train_model(
                fold,
                trainer_cfg,
                model_cfg,
                epochs=epochs,
                seed=derive_seed(cfg.seed, "refit", member),
                checkpoint_path=checkpoint,
                checkpoint_tag=f"refit_{member}",
            )
        )
    evaluation = _evaluated_scores(run_dir)
    manifest = build_manifest(cfg, fixed, preparer, every, "refit_all_bars", evaluation, fingerprint)
    manifest["training"]["epochs"] = epochs  # what the refit trained for: the final configuration's
    manifest["decision"] = _refit_rule(cfg.decision_rule, members, fold.val.labels).as_dict()
    save_model(out_dir, [m.model.state_dict() for m in members], manifest)
    for member in range(cfg.ensemble_seeds):
        delete_checkpoint(checkpoints / f"refit_{member}.pt")
    return out_dir


def refit_epochs(results: RunResults, cfg: OptimizationConfig) -> int:
    """The epochs the final configuration trained for (results.json `epochs`: selection's choice).

    The walk-forward models and the saved one trained that long; a refit of the same configuration
    trains as long. Results written before `epochs` was recorded fall back to `epochs_per_trial`.
    """
    return int(results.epochs or cfg.epochs_per_trial)


def _refit_rule(decision_rule: str, members: list[Any], val_labels: np.ndarray) -> DecisionRule:
    """The refit's own decision rule, fitted on its members' validation predictions as the walk-forward fits one."""
    from hyperopt_cli.training.ensemble import combine_members

    if decision_rule == ARGMAX:
        return DecisionRule()
    _, val_probs = combine_members([m.val_pred for m in members], [m.val_probs for m in members])
    return fit_rule(val_probs, val_labels)


def _evaluated_scores(run_dir: Path) -> dict[str, Any]:
    """What the refit can say about itself: nothing out of sample; its configuration's walk-forward scores."""
    try:
        evaluated = read_manifest(model_dir_of(run_dir)).get("evaluation") or {}
    except RunStateError:
        evaluated = {}
    return {
        "what": "trained on every labelled bar: no out-of-sample score of its own; the scores below are its "
        "configuration's, from the run's walk-forward (RUN_DIR/model/)",
        "test_metrics": evaluated.get("test_metrics"),
        "verdict": evaluated.get("verdict"),
    }
