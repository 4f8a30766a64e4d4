"""What a run records and how to read it back: attribute names, config, fixed params, results.json.

The one home of this knowledge for the optimizer, status, control and the report. It
imports neither torch nor optuna, so `hyperopt status` and `hyperopt results` stay fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperopt_cli.config import (
    GROUPS,
    OptimizationConfig,
    config_from_dict,
    config_to_dict,
    model_for,
    param_values,
    read_yaml,
    with_params,
)
from hyperopt_cli.core.errors import ConfigError, RunStateError
from hyperopt_cli.core.storage_kind import mask_url
from hyperopt_cli.run import rundir
from hyperopt_cli.run.results import FinalResult, GroupResult, RunResults, results_layout
from hyperopt_cli.search.study_records import (
    FINE_TUNE,
    GROUP_DONE_ATTR,
    TRADING_SCORE,
    direction_for,
    group_objective,
    objective_metric,
    parse_group_done,
)

if TYPE_CHECKING:
    from hyperopt_cli.search.summary import StudySummary

__all__ = [
    "CENTER_ATTR",
    "FINAL_ATTR",
    "FINE_TUNE",
    "GROUP_DONE_ATTR",
    "TRADING_SCORE",
    "build_results",
    "direction_for",
    "done_reason",
    "finished_best",
    "fixed_params",
    "group_objective",
    "group_row",
    "load_run_config",
    "masked_config",
    "objective_metric",
    "parse_group_done",
]

FINAL_ATTR = "final_evaluation"  # user attr on the last group's study: the final evaluation's dict
CENTER_ATTR = "fine_tune_center"  # user attr on the fine_tune study: the params its ranges narrow around


# Keys added since runs were first written, with the value that reproduces how such a run was scored.
SCORING_BEFORE_FOLDS = {"selection_folds": 1}
# Added with confirmation (issue 30): a run written before it keeps its one-SE guard on 4 sub-blocks.
SCORING_BEFORE_CONFIRMATION = {
    "confirm_share": 0.0,
    "pbo_keep_level": None,
    "run_check": False,
    "decision_rule": "argmax",
}
SEARCH_BEFORE_RACING = {"race_margin_se": None, "race_eta": None, "rung_eta": None, "fold_start": "cold"}
TRAINER_BEFORE_CONFIRMATION = {"val_sub_blocks": 4}


def with_legacy_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """A run's config.yaml with each key it lacks set to the value that reproduces how it was scored.

    config.yaml holds every key explicitly from the version that wrote it on, so a key it lacks
    was added later; such a run keeps the scoring it started with.
    """
    for key, value in {**SCORING_BEFORE_FOLDS, **SCORING_BEFORE_CONFIRMATION, **SEARCH_BEFORE_RACING}.items():
        raw.setdefault(key, value)
    trainer = raw.get("trainer")
    if trainer is None:
        trainer = raw["trainer"] = {}
    if isinstance(trainer, dict):
        for key, value in TRAINER_BEFORE_CONFIRMATION.items():
            trainer.setdefault(key, value)
    return raw


def load_run_config(run_dir: Path, for_display: bool = False) -> OptimizationConfig:
    """config.yaml of a run; `for_display` ignores use_mlflow, so readers need no MLflow install.

    A run started before selection folds existed resumes with one split (its earlier trials
    were scored that way; config.yaml holds every other key explicitly).
    """
    path = Path(run_dir) / rundir.CONFIG_FILE
    if not path.is_file():
        raise RunStateError(f"{run_dir} is not a run directory: {rundir.CONFIG_FILE} not found")
    raw = read_yaml(path)
    if for_display:
        raw["use_mlflow"] = False
    try:
        return frozen_config(raw, origin=str(path))
    except ConfigError as exc:
        what = "read the run's config" if for_display else "resume"
        raise RunStateError(f"cannot {what}: {exc}") from None


def frozen_config(raw: dict[str, Any], origin: str | None = None) -> OptimizationConfig:
    """The config a run's config.yaml mapping stands for: its legacy defaults filled in, later groups left out."""
    raw = with_legacy_defaults(raw)
    cfg = config_from_dict(raw, origin=origin)
    for group in groups_added_since(raw):
        del cfg.search_space[group]
    return cfg


def groups_added_since(raw: dict[str, Any]) -> list[str]:
    """The groups a run's frozen search_space lacks: added after it started, so the run never searches them.

    config.yaml holds the whole search space from the version that wrote it on; loading fills a
    missing group in with its default ranges, which would make a resumed full run start it.
    """
    frozen = raw.get("search_space")
    return [g for g in GROUPS if g not in frozen] if isinstance(frozen, dict) else []


def done_reason(record: dict[str, Any]) -> str:
    """Why a finished group ended ("budget" when an older record did not say)."""
    return record.get("reason") or "budget"


def finished_best(record: dict[str, Any], summary_best: dict[str, Any] | None) -> dict[str, Any] | None:
    """The params a finished group froze for later groups: its record's, else its best trial's."""
    return record.get("best_params", summary_best)


def fixed_params(bests: Iterable[dict[str, Any] | None]) -> dict[str, Any]:
    """Fixed params = the union of the finished groups' best params, later groups winning."""
    fixed: dict[str, Any] = {}
    for best in bests:
        fixed.update(best or {})
    return fixed


def masked_config(cfg: OptimizationConfig) -> dict[str, Any]:
    out = config_to_dict(cfg)
    out["storage_url"] = mask_url(cfg.storage_url)
    return out


def group_row(
    cfg: OptimizationConfig,
    status: str,
    reason: str | None,
    summary: StudySummary | None,
    max_trials: int | None = None,
) -> dict[str, Any]:
    """One group's row in state.json's `groups`; `max_trials`: its budget where an extension raised it."""
    row: dict[str, Any] = {"status": status, "reason": reason, "max_trials": max_trials or cfg.max_trials_per_group}
    row.update(summary.as_dict() if summary else {})
    return row


def progress_row(
    cfg: OptimizationConfig, current: tuple[str | None, int | None, int | None], done: dict[str, str]
) -> dict[str, Any]:
    """state.json's `progress`: (group, trial, epoch) in flight and the finished groups."""
    group, trial, epoch = current
    return {
        "current_group": group,
        "current_trial": trial,
        "current_epoch": epoch,
        "epochs_per_trial": cfg.epochs_per_trial,
        "groups_completed": [g for g in cfg.groups_to_run() if g in done],
    }


SEARCH_CHANGED_NOTHING = "the search found no setting that beats the defaults beyond noise"


def build_results(
    cfg: OptimizationConfig,
    summaries: dict[str, StudySummary],
    done: dict[str, str],
    fixed: dict[str, Any],
    final: FinalResult | None,
    run_check: dict[str, Any] | None = None,
    epoch_check: dict[str, Any] | None = None,
    job_id: str | None = None,
) -> RunResults:
    """results.json's content, the one place it is built; `run_check`, `epoch_check`: the checks against not tuning."""
    groups = cfg.groups_to_run()
    finished = [g for g in groups if g in done]
    last = summaries.get(finished[-1]) if finished else None
    trainer_cfg, labels_cfg = with_params(cfg, fixed)
    pbo = run_pbo(summaries[g] for g in groups if g in summaries)
    panel = final is not None and bool(final.symbols)
    return RunResults(
        job_id=job_id,
        mode=cfg.mode,
        best_params=dict(fixed),
        best_value=last.best_value if last else None,
        best_value_metric=last.metric if last else None,
        fixed_params=dict(fixed),
        resolved_params={
            "trainer": dataclasses.asdict(trainer_cfg),
            "labels": dataclasses.asdict(labels_cfg),
            "model": resolved_model(cfg, fixed),
        },
        group_results={g: GroupResult.of(summaries[g].as_dict(), done.get(g)) for g in groups if g in summaries},
        test_metrics=final.test_metrics if final else None,
        validation_metrics=final.validation_metrics if final else None,
        baselines=final.baselines if final else None,
        test_range=final.test_range if final else None,
        precision=final.precision if final else None,
        walk_forward=final.walk_forward if final else None,
        epochs=final.epochs if final else None,
        verdict=annotated_verdict(cfg, summaries, fixed, final.verdict) if final else None,
        pbo=pbo,
        decision=final.decision if final else None,
        run_check=run_check,
        epoch_check=epoch_check,
        search_changed=search_changed(cfg, fixed),
        feature_importance=final.feature_importance if final else None,
        symbols=final.symbols if final and panel else None,
        scaling=final.scaling if final and panel else None,
        layout=results_layout(panel),
    )


def resolved_model(cfg: OptimizationConfig, fixed: dict[str, Any]) -> dict[str, int]:
    """results.json's resolved architecture and window: what the final walk-forward trained and model.json holds."""
    model_cfg, window = model_for(cfg, fixed)
    return {"hidden_size": model_cfg.hidden_size, "num_layers": model_cfg.num_layers, "window": window}


def annotated_verdict(
    cfg: OptimizationConfig, summaries: dict[str, StudySummary], fixed: dict[str, Any], verdict: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The final evaluation's verdict as results.json words it: with the run's PBO and, if so, the search note."""
    groups = cfg.groups_to_run()
    return with_search_note(with_pbo(verdict, run_pbo(summaries[g] for g in groups if g in summaries)), cfg, fixed)


def run_pbo(summaries: Iterable[StudySummary]) -> float | None:
    """The run's probability of backtest overfitting: CSCV over every trial of every group (CE-skill units)."""
    from hyperopt_cli.search.summary import pbo_of

    return pbo_of([row for summary in summaries for row in summary.unit_rows])


def with_pbo(verdict: dict[str, Any] | None, pbo: float | None) -> dict[str, Any] | None:
    """The verdict with the run's PBO beside it, in its data and in its one-line wording."""
    if verdict is None or pbo is None:
        return verdict
    wording = verdict.get("wording") or ""
    return {**verdict, "pbo": pbo, "wording": f"{wording}; probability of backtest overfitting {pbo:.2f}"}


def default_values(cfg: OptimizationConfig) -> dict[str, Any]:
    """Every searchable parameter at the config's own value (what a run that searched nothing uses)."""
    return param_values(cfg, {})


def changed_params(cfg: OptimizationConfig, fixed: dict[str, Any]) -> dict[str, Any]:
    """The fixed params whose values differ from the config's defaults (a kept group fixes its defaults too)."""
    defaults = default_values(cfg)
    return {name: value for name, value in fixed.items() if name not in defaults or defaults[name] != value}


def search_changed(cfg: OptimizationConfig, fixed: dict[str, Any]) -> bool | None:
    """Whether the evaluated configuration differs from the defaults; None where that is not the question.

    fine_tune starts from another run's best, not from the defaults.
    """
    if cfg.mode == FINE_TUNE:
        return None
    return bool(changed_params(cfg, fixed))


def with_search_note(
    verdict: dict[str, Any] | None, cfg: OptimizationConfig, fixed: dict[str, Any]
) -> dict[str, Any] | None:
    """The verdict saying so in its wording when the search changed nothing (the defaults were evaluated)."""
    if verdict is None or search_changed(cfg, fixed) is not False:
        return verdict
    return {
        **verdict,
        "search_note": SEARCH_CHANGED_NOTHING,
        "wording": f"{verdict.get('wording') or ''}; {SEARCH_CHANGED_NOTHING}",
    }
