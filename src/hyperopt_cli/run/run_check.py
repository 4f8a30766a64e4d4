"""The run-level check: does the configuration the groups chose beat the defaults on held-back units?

Each group confirms its own change, but a full run makes up to seven such decisions on the
same confirmation units, so one may pass by chance, and changes confirmed one at a time can
still add up to nothing. Before the final walk-forward the run's chosen configuration (the
last group's pick, which trained with every earlier group's values) is compared with the
defaults (the first group's incumbent) on the confirmation units' CE skill, which is
comparable across label settings. Not better beyond noise: the run keeps the defaults,
records both and says so. The test segment plays no part.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.run.records import changed_params, default_values, group_objective
from hyperopt_cli.search.group import open_study
from hyperopt_cli.search.selection import confirm
from hyperopt_cli.search.summary import StudySummary, folds_of, incumbent_trial


@dataclass(frozen=True)
class RunCheck:
    """The chosen configuration against the defaults; `kept_defaults`: the run evaluates the defaults."""

    kept_defaults: bool
    chosen: dict[str, Any]  # {"group", "trial"}: the trial that trained the chosen configuration
    defaults: dict[str, Any]  # {"group", "trial"}: the first group's incumbent
    comparison: dict[str, Any]  # delta, se, units, t, threshold, compared (CE skill, > 0: the chosen is better)
    defaults_epochs: int | None = None  # the epoch count the defaults trial's folds chose

    def as_dict(self) -> dict[str, Any]:
        return {
            "kept_defaults": self.kept_defaults,
            "chosen": self.chosen,
            "defaults": self.defaults,
            **self.comparison,
        }

    def message(self) -> str:
        c = self.comparison
        gain = (
            f"skill gain {c['delta']:+.4f} (t {c['t']:.2f}, needed {c['threshold']:.2f}, {c['units']} held-back units)"
        )
        if self.kept_defaults:
            return f"run check: the chosen configuration does not beat the defaults beyond noise ({gain}); keeping the defaults"
        return f"run check: the chosen configuration beats the defaults ({gain})"


def _trial(trials: list[FrozenTrial], number: int | None) -> FrozenTrial | None:
    return next((t for t in trials if t.number == number), None)


def check_against_defaults(
    cfg: OptimizationConfig, run_dir: Path, summaries: dict[str, StudySummary], fixed: dict[str, Any]
) -> RunCheck | None:
    """None when there is nothing to check: the check is off, the run changed nothing, or units are missing."""
    groups = [g for g in cfg.groups_to_run() if g in summaries]
    if not cfg.run_check or cfg.confirm_share <= 0 or not changed_params(cfg, fixed) or len(groups) < 2:
        return None
    first, last = groups[0], groups[-1]
    defaults = incumbent_trial(
        open_study(cfg, run_dir, first, group_objective(cfg, first)[1]).get_trials(deepcopy=False)
    )
    chosen = _trial(
        open_study(cfg, run_dir, last, group_objective(cfg, last)[1]).get_trials(deepcopy=False),
        summaries[last].best_trial,
    )
    if defaults is None or chosen is None or defaults.user_attrs.get("fixed_params"):
        return None
    return judge(defaults, chosen, cfg.confirm_alpha, first, last)


def judge(defaults: FrozenTrial, chosen: FrozenTrial, alpha: float, first: str, last: str) -> RunCheck | None:
    """The chosen trial against the defaults trial on their held-back CE-skill units (None without them)."""
    judged = confirm(
        defaults.user_attrs.get("confirm_skill_units"),
        chosen.user_attrs.get("confirm_skill_units"),
        "maximize",
        alpha,
        1,
        folds_of(defaults),
    )
    if judged is None:
        return None
    selection = defaults.user_attrs.get("selection") or {}
    return RunCheck(
        kept_defaults=not judged.confirmed,
        chosen={"group": last, "trial": chosen.number},
        defaults={"group": first, "trial": defaults.number},
        comparison=judged.as_dict(),
        defaults_epochs=int(selection["epochs"]) if selection.get("epochs") else None,
    )


@dataclass(frozen=True)
class EpochCheck:
    """Whether the final configuration's chosen epoch count beats training the configured epochs."""

    epochs: int | None  # what the final model trains for (None: epochs_per_trial)
    chosen: int  # the count its selection curve chose
    comparison: dict[str, Any]  # chosen count against the last epoch, on the held-back CE skill

    def as_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "chosen": self.chosen, **self.comparison}

    def message(self) -> str:
        c = self.comparison
        gain = (
            f"{self.chosen} epochs against the last: skill gain {c['delta']:+.4f} (t {c['t']:.2f}, "
            f"needed {c['threshold']:.2f}, {c['units']} held-back units)"
        )
        if self.epochs is None:
            return f"epoch check: {gain}; not confirmed, training the configured epochs"
        return f"epoch check: {gain}; confirmed, training {self.epochs} epochs"


def check_epochs(trial: FrozenTrial | None, cfg: OptimizationConfig) -> EpochCheck | None:
    """Fewer epochs than configured only where the held-back units confirm them (docs/selection.md).

    The chosen count is the best of `epochs_per_trial` points of the selection curve, so it is
    corrected for the other counts it was picked among; the two are the same model at two
    epochs, so the noise is the trial's own (no trial-to-trial floor). None: nothing to check
    (confirmation off, the last epoch chosen, or the units missing); the chosen count stands.
    """
    if trial is None or cfg.confirm_share <= 0:
        return None
    selection = trial.user_attrs.get("selection") or {}
    chosen = int(selection.get("epochs") or 0)
    if not chosen or chosen >= cfg.epochs_per_trial:
        return None
    judged = confirm(
        trial.user_attrs.get("last_confirm_skill_units"),
        trial.user_attrs.get("confirm_skill_units"),
        "maximize",
        cfg.confirm_alpha,
        cfg.epochs_per_trial - 1,
        folds_of(trial),
    )
    if judged is None:
        return None
    return EpochCheck(chosen if judged.confirmed else None, chosen, judged.as_dict())


def final_trial(
    cfg: OptimizationConfig, run_dir: Path, summaries: dict[str, StudySummary], check: RunCheck | None
) -> FrozenTrial | None:
    """The trial that trained the configuration the run evaluates: the defaults trial if the check kept them."""
    groups = [g for g in cfg.groups_to_run() if g in summaries]
    if not groups:
        return None
    if check is not None and check.kept_defaults:
        group, number = check.defaults["group"], check.defaults["trial"]
    else:
        group, number = groups[-1], summaries[groups[-1]].best_trial
    return _trial(open_study(cfg, run_dir, group, group_objective(cfg, group)[1]).get_trials(deepcopy=False), number)


@dataclass(frozen=True)
class FinalChoice:
    """What the final walk-forward evaluates: the fixed params and the epoch count, and the checks behind them."""

    fixed: dict[str, Any]
    epochs: int | None  # None: epochs_per_trial
    run_check: RunCheck | None = None
    epoch_check: EpochCheck | None = None

    def messages(self) -> list[str]:
        return [check.message() for check in (self.run_check, self.epoch_check) if check is not None]


def choose_final(
    cfg: OptimizationConfig, run_dir: Path, summaries: dict[str, StudySummary], chosen: FinalChoice
) -> FinalChoice:
    """The groups' choice, unless it does not beat the defaults; fewer epochs only where confirmed."""
    run_check = check_against_defaults(cfg, run_dir, summaries, chosen.fixed)
    if run_check is not None and run_check.kept_defaults:  # the same parameters, each at its default
        defaults = default_values(cfg)
        chosen = FinalChoice(
            {name: defaults[name] for name in chosen.fixed if name in defaults}, run_check.defaults_epochs
        )
    epoch_check = check_epochs(final_trial(cfg, run_dir, summaries, run_check), cfg)
    epochs = epoch_check.epochs if epoch_check is not None else chosen.epochs
    return replace(chosen, epochs=epochs, run_check=run_check, epoch_check=epoch_check)
