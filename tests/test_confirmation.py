"""Tuning that never hurts: a group changes values only on evidence that did not pick the change.

The groups here are recorded units, no training: each trial's metric on every validation
sub-block of three folds, as the search stores them (search/selection.py, search/summary.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from cli_helpers import tiny
from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.search.selection import FoldCurve, confirm, select, t_quantile
from hyperopt_cli.search.study_records import INCUMBENT_ATTR
from hyperopt_cli.search.summary import (
    KEPT_NOT_CONFIRMED,
    KEPT_PBO,
    GuardPolicy,
    decide,
)

DIST = {"x": FloatDistribution(0.0, 1.0)}
FOLDS, SELECT, HELD = 3, 4, 4  # the defaults: 8 sub-blocks per fold, the later half held back
PRIOR = 1.0986  # CE of the label shares; skill = 1 - CE / prior


def trial(number: int, select_units: np.ndarray, held_units: np.ndarray, folds: int = FOLDS) -> FrozenTrial:
    """A COMPLETE val_loss trial as the search records it: value = mean of its selection units."""
    t = create_trial(
        state=TrialState.COMPLETE,
        value=float(np.mean(select_units)),
        params={"x": number / 100},
        distributions=DIST,
        user_attrs={
            "units": [float(v) for v in select_units],
            "confirm_units": [float(v) for v in held_units],
            "skill_units": [float(1 - v / PRIOR) for v in select_units],
            "confirm_skill_units": [float(1 - v / PRIOR) for v in held_units],
            "selection": {"epochs": 2, "folds": folds},
            **({INCUMBENT_ATTR: True} if number == 0 else {}),
        },
    )
    t.number = number
    return t


def noise_group(seed: int, n_trials: int = 15, gain: float = 0.0, winner: int | None = None) -> list[FrozenTrial]:
    """Trials that differ by noise only (the market has no signal), or with one `winner` better by `gain`.

    Sub-blocks differ in difficulty (shared by every trial), a trial's model shifts all the
    sub-blocks of a fold together (its seed), and each sub-block adds its own noise.
    """
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(1.09, 0.03, size=(FOLDS, SELECT + HELD))
    out = []
    for number in range(n_trials):
        fold_shift = rng.normal(0.0, 0.004, size=(FOLDS, 1))
        units = difficulty + fold_shift + rng.normal(0.0, 0.01, size=(FOLDS, SELECT + HELD))
        if number == winner:
            units = units - gain
        out.append(trial(number, units[:, :SELECT].ravel(), units[:, SELECT:].ravel()))
    return out


def legacy_group(seed: int) -> list[FrozenTrial]:
    """The same noise as the guard before confirmation saw it: every sub-block ranks and judges."""
    out = []
    for t in noise_group(seed):
        units = np.concatenate(
            [
                np.reshape(t.user_attrs["units"], (FOLDS, SELECT)),
                np.reshape(t.user_attrs["confirm_units"], (FOLDS, HELD)),
            ],
            axis=1,
        ).ravel()
        out.append(trial(t.number, units, np.array([])))
    return out


DEFAULT = GuardPolicy.of(OptimizationConfig())


def changed(trials: list[FrozenTrial], policy: GuardPolicy | None = DEFAULT, margin_se: float | None = None) -> bool:
    return decide(trials, "minimize", margin_se, policy).trial.number != 0


def test_on_noise_the_guard_keeps_the_incumbent_in_at_least_95_percent_of_40_groups() -> None:
    assert DEFAULT.confirms and DEFAULT.top == 3 and DEFAULT.pbo_level == 0.5
    kept = sum(not changed(noise_group(seed)) for seed in range(40))
    assert kept >= 38
    # The confirmation alone, without the PBO gate, holds the line too.
    no_gate = GuardPolicy(confirm_share=0.5, top=3, alpha=0.05, pbo_level=None)
    assert sum(not changed(noise_group(seed), no_gate) for seed in range(40)) >= 38


def test_the_guard_before_confirmation_changed_values_on_most_noise_groups() -> None:
    # The best of 15 judged at one SE on the units that made it best: what issue 30 measured.
    moved = sum(changed(legacy_group(seed), policy=None, margin_se=1.0) for seed in range(40))
    assert moved >= 20


def test_a_planted_difference_is_confirmed_and_made() -> None:
    # 0.04 lower loss on every sub-block: about six times a trial-fold mean's spread in noise_group.
    made = sum(
        decide(noise_group(seed, gain=0.04, winner=7), "minimize", None, DEFAULT).trial.number == 7
        for seed in range(20)
    )
    assert made >= 19


def test_a_group_whose_pbo_is_at_or_above_the_level_keeps_its_incumbent() -> None:
    group = noise_group(3, gain=0.04, winner=5)
    assert decide(group, "minimize", None, DEFAULT).trial.number == 5  # confirmed, and the ranking holds (low PBO)
    always = GuardPolicy(confirm_share=0.5, top=3, alpha=0.05, pbo_level=0.0)  # any PBO is at or above 0
    decision = decide(group, "minimize", None, always)
    assert decision.trial.number == 0 and decision.kept == KEPT_PBO
    assert decision.challenger["trial"] == 5 and 0.0 <= decision.challenger["pbo"] <= 1.0


def test_a_change_not_confirmed_on_the_held_back_units_is_not_made() -> None:
    group = noise_group(11)
    best = min(group[1:], key=lambda t: float(t.value))
    # The best-ranked challenger is much better on the units that ranked it, no better on the held-back ones.
    best.user_attrs["units"] = [v - 0.05 for v in best.user_attrs["units"]]
    best.value = float(np.mean(best.user_attrs["units"]))
    best.user_attrs["confirm_units"] = list(group[0].user_attrs["confirm_units"])
    no_gate = GuardPolicy(confirm_share=0.5, top=1, alpha=0.05, pbo_level=None)
    decision = decide(group, "minimize", None, no_gate)
    assert decision.trial.number == 0 and decision.kept == KEPT_NOT_CONFIRMED
    assert decision.challenger["trial"] == best.number and decision.challenger["tested"] == 1
    assert decision.challenger["compared"] == 14  # corrected for every trial it was picked among


def test_bonferroni_raises_the_bar_with_the_number_of_trials_compared() -> None:
    inc = [1.0] * 12
    ch = [1.0 - 0.01 + 0.012 * ((i % 3) - 1) for i in range(12)]
    one, three = confirm(inc, ch, "minimize", 0.05, 1), confirm(inc, ch, "minimize", 0.05, 3)
    assert one.delta == pytest.approx(0.01) and one.threshold < three.threshold
    assert three.threshold == pytest.approx(t_quantile(1 - 0.05 / 3, 11))


def test_fold_clustered_noise_widens_the_standard_error() -> None:
    # Every sub-block of a fold gains alike (one model per fold), but the folds disagree.
    gain = np.repeat([0.03, -0.01, 0.01], 4) + np.tile([0.0005, -0.0005, 0.0005, -0.0005], 3)
    inc = np.ones(12)
    plain = confirm(inc, inc - gain, "minimize", 0.05, 1, clusters=1)
    clustered = confirm(inc, inc - gain, "minimize", 0.05, 1, clusters=3)
    assert plain.confirmed and not clustered.confirmed and clustered.se > plain.se


@pytest.mark.parametrize("df", [5, 11, 23, 60])
@pytest.mark.parametrize("p", [0.95, 0.9833, 0.99, 0.999])
def test_t_quantile_matches_scipy(p: float, df: int) -> None:
    from scipy.stats import t

    assert t_quantile(p, df) == pytest.approx(float(t.ppf(p, df)), abs=1e-6)


def _epoch(loss: float, blocks: list[float]) -> dict:
    return {"val_loss": loss, "val_blocks": {"val_loss": blocks}}


def test_the_objective_and_the_epoch_ignore_the_held_back_sub_blocks() -> None:
    # Epoch 2 is better on the selection half, epoch 1 on the held-back half (and overall).
    history = [_epoch(1.00, [1.08, 1.08, 0.80, 0.80]), _epoch(1.05, [1.04, 1.04, 1.06, 1.06])]
    curve = FoldCurve(history, prior_loss=PRIOR, prior_blocks=[PRIOR] * 4)
    chosen = select([curve], "val_loss", "minimize", confirm_share=0.5)
    assert chosen.epochs == 2 and chosen.value == pytest.approx(1.04)
    assert chosen.units == [1.04, 1.04] and chosen.confirm_units == [1.06, 1.06]
    assert chosen.confirm_skill_units == pytest.approx([1 - 1.06 / PRIOR] * 2)
    # Changing the held-back sub-blocks changes neither the value nor the chosen epoch.
    history[1]["val_blocks"]["val_loss"][2:] = [0.1, 0.1]
    again = select([curve], "val_loss", "minimize", confirm_share=0.5)
    assert (again.epochs, again.value) == (chosen.epochs, chosen.value)
    # Without confirmation: the whole validation part, as runs before issue 30 were scored.
    legacy = select([curve], "val_loss", "minimize")
    assert legacy.epochs == 1 and legacy.value == pytest.approx(1.00) and legacy.confirm_units == []


def test_a_run_written_before_confirmation_resumes_with_the_old_guard(tmp_path: Path) -> None:
    import yaml

    from hyperopt_cli.config import config_to_dict
    from hyperopt_cli.run.records import load_run_config

    raw = config_to_dict(OptimizationConfig())
    for key in ("confirm_share", "confirm_top", "confirm_alpha", "pbo_keep_level", "run_check"):
        raw.pop(key)
    raw["trainer"].pop("val_sub_blocks")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_run_config(tmp_path)
    assert cfg.confirm_share == 0.0 and cfg.pbo_keep_level is None and cfg.run_check is False
    assert cfg.trainer.val_sub_blocks == 4 and not GuardPolicy.of(cfg).confirms
    assert load_run_config_defaults_are_new()


def load_run_config_defaults_are_new() -> bool:
    cfg = OptimizationConfig()
    return cfg.confirm_share == 0.5 and cfg.trainer.val_sub_blocks == 8 and cfg.run_check is True


def test_the_run_check_keeps_the_defaults_unless_the_chosen_configuration_is_better() -> None:
    from hyperopt_cli.run.run_check import judge

    group = noise_group(5)
    defaults, lookalike = group[0], group[9]
    check = judge(defaults, lookalike, 0.05, "features", "triple_barrier")
    assert check is not None and check.kept_defaults
    assert check.defaults == {"group": "features", "trial": 0} and check.defaults_epochs == 2
    assert "keeping the defaults" in check.message()
    better = trial(
        3, np.asarray(lookalike.user_attrs["units"]), np.asarray(defaults.user_attrs["confirm_units"]) - 0.03
    )
    check = judge(defaults, better, 0.05, "features", "triple_barrier")
    assert check is not None and not check.kept_defaults and check.comparison["delta"] > 0
    assert math.isfinite(check.comparison["t"]) and check.as_dict()["kept_defaults"] is False


@pytest.mark.slow  # a whole search with its final evaluation (~9 s)
def test_a_run_whose_search_changed_nothing_says_so_in_its_verdict(tmp_path: Path) -> None:
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer
    from hyperopt_cli.run.records import SEARCH_CHANGED_NOTHING

    # PBO is always at or above 0: no challenger may replace the incumbent, whatever it scores.
    cfg = tiny(
        "mode=quick", "max_trials_per_group=4", "n_startup_trials=4", "pbo_keep_level=0", "epochs_per_trial=3", "seed=4"
    )
    results = HyperparameterOptimizer(cfg, tmp_path / "run").optimize()
    group = results["group_results"]["learning_rate"]
    assert group["kept"] in (None, KEPT_PBO)  # None: the incumbent ranked first anyway
    assert group["best_trial"] == 0 and results["search_changed"] is False
    assert results["best_params"] == {"learning_rate": cfg.trainer.learning_rate, "batch_size": cfg.trainer.batch_size}
    assert results["verdict"]["search_note"] == SEARCH_CHANGED_NOTHING
    epoch_check = results["epoch_check"]
    if epoch_check is None:  # the incumbent's own curve chose the configured epochs
        assert results["epochs"] == cfg.epochs_per_trial
    else:  # fewer epochs only where the held-back units confirm them
        assert epoch_check["chosen"] < cfg.epochs_per_trial
        assert results["epochs"] == (epoch_check["chosen"] if epoch_check["epochs"] else cfg.epochs_per_trial)


def test_fewer_epochs_than_configured_only_where_held_back_units_confirm_them() -> None:
    from hyperopt_cli.run.run_check import check_epochs

    cfg = OptimizationConfig()  # 4 epochs configured
    t = noise_group(2)[0]
    last = np.asarray(t.user_attrs["confirm_skill_units"])
    t.user_attrs["last_confirm_skill_units"] = list(last)
    t.user_attrs["confirm_skill_units"] = list(last + np.random.default_rng(0).normal(0, 0.001, len(last)))
    check = check_epochs(t, cfg)  # epoch 2 chosen, no better than the last on held-back units
    assert check is not None and check.epochs is None and check.chosen == 2 and check.comparison["compared"] == 3
    t.user_attrs["confirm_skill_units"] = list(last + 0.03)
    check = check_epochs(t, cfg)
    assert check is not None and check.epochs == 2 and "confirmed, training 2 epochs" in check.message()
    t.user_attrs["selection"] = {"epochs": 4, "folds": 3}
    assert check_epochs(t, cfg) is None  # the configured count chosen: nothing to check


@pytest.mark.slow
def test_the_run_check_decides_what_the_final_evaluation_trains(tmp_path: Path) -> None:
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    # A lax confirmation lets groups move, so the run check has a chosen configuration to judge.
    cfg = tiny(
        "mode=full",
        "max_trials_per_group=3",
        "n_startup_trials=3",
        "seed=2",
        "confirm_alpha=0.5",
        "pbo_keep_level=null",
        "selection_folds=2",
    )
    results = HyperparameterOptimizer(cfg, tmp_path / "run").optimize()
    moved = {g: r["best_params"] for g, r in results["group_results"].items() if r["best_trial"] != 0}
    assert moved, "no group changed its values: the check had nothing to judge"
    check = results["run_check"]
    assert check is not None and check["defaults"] == {"group": "features", "trial": 0}
    assert check["chosen"]["group"] == "triple_barrier" and check["units"] > 0
    assert check["kept_defaults"] == (not (check["delta"] > 0 and check["t"] > check["threshold"]))
    if check["kept_defaults"]:
        assert results["search_changed"] is False and set(results["best_params"]) == set(check_fixed(results))
        assert results["epochs"] in (cfg.epochs_per_trial, (results["epoch_check"] or {}).get("epochs"))
    else:
        assert results["best_params"] and results["search_changed"] is True


def check_fixed(results: dict) -> list[str]:
    return [name for r in results["group_results"].values() for name in (r["best_params"] or {})]
