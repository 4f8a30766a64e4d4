"""The incumbent guard on recorded units: how often pure noise changes a group's values, before and after issue 30.

No training: each group is 15 (or 6) trials whose per-sub-block validation losses differ by
noise only (shared sub-block difficulty, a per-trial per-fold model shift, per-sub-block
noise), the incumbent first, as the search records them (3 folds x 8 sub-blocks, the later
half held back). Compared:

- before: the guard of runs before issue 30 (the best of N judged at one SE on the units
  that ranked it, every sub-block ranking);
- after: confirmation on the held-back half (Bonferroni over the trials compared, the SE
  floored by the group's own trial-to-trial spread) with the PBO gate (the default config);
- after, without the PBO gate.

Also the power: the share of groups where one trial better by `gain` on every sub-block is
picked, for a few gains (in units of the noise of one trial-fold mean).

    python bench/bench_guard_noise.py [--quick]
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

import common

FOLDS, BLOCKS = 3, 8
SHIFT_SD, UNIT_SD, DIFFICULTY_SD = 0.004, 0.01, 0.03
GAINS = (0.01, 0.02, 0.03, 0.04)


def _trials(
    seed: int, n_trials: int, gain: float = 0.0, winner: int | None = None, shift_sd: float = SHIFT_SD
) -> tuple[list[Any], list[Any]]:
    """(trials as recorded with confirmation, the same noise as recorded before it)."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from hyperopt_cli.search.study_records import INCUMBENT_ATTR

    rng = np.random.default_rng(seed)
    difficulty = rng.normal(1.09, DIFFICULTY_SD, size=(FOLDS, BLOCKS))
    half = BLOCKS // 2
    new, old = [], []
    for number in range(n_trials):
        units = difficulty + rng.normal(0.0, shift_sd, size=(FOLDS, 1)) + rng.normal(0.0, UNIT_SD, size=(FOLDS, BLOCKS))
        if number == winner:
            units = units - gain
        for out, ranking, held in (
            (new, units[:, :half].ravel(), units[:, half:].ravel()),
            (old, units.ravel(), np.array([])),
        ):
            t = create_trial(
                state=TrialState.COMPLETE,
                value=float(ranking.mean()),
                params={"x": number / 100},
                distributions={"x": FloatDistribution(0.0, 1.0)},
                user_attrs={
                    "units": ranking.tolist(),
                    "confirm_units": held.tolist(),
                    "skill_units": (1 - ranking / 1.0986).tolist(),
                    "selection": {"epochs": 2, "folds": FOLDS},
                    **({INCUMBENT_ATTR: True} if number == 0 else {}),
                },
            )
            t.number = number
            out.append(t)
    return new, old


def run(quick: bool = False, groups: int | None = None) -> dict[str, Any]:
    from hyperopt_cli.config import OptimizationConfig
    from hyperopt_cli.search.summary import GuardPolicy, decide

    n_groups = groups or (40 if quick else 400)
    after = GuardPolicy.of(OptimizationConfig())
    no_gate = GuardPolicy(after.margin_se, after.confirm_share, after.top, after.alpha, None)
    noise: dict[str, Any] = {}
    for n_trials in (6, 15):
        for shift in (0.0, SHIFT_SD, 2 * SHIFT_SD):
            changed = {"before": 0, "after": 0, "after_without_pbo_gate": 0}
            for seed in range(n_groups):
                new, old = _trials(seed, n_trials, shift_sd=shift)
                changed["before"] += decide(old, "minimize", 1.0).trial.number != 0
                changed["after"] += decide(new, "minimize", None, after).trial.number != 0
                changed["after_without_pbo_gate"] += decide(new, "minimize", None, no_gate).trial.number != 0
            noise[f"{n_trials} trials, model shift sd {shift:g}"] = {k: v / n_groups for k, v in changed.items()}
    power: dict[str, Any] = {}
    for gain in GAINS:
        made = {"before": 0, "after": 0, "after_without_pbo_gate": 0}
        for seed in range(n_groups):
            new, old = _trials(10_000 + seed, 15, gain=gain, winner=7)
            made["before"] += decide(old, "minimize", 1.0).trial.number == 7
            made["after"] += decide(new, "minimize", None, after).trial.number == 7
            made["after_without_pbo_gate"] += decide(new, "minimize", None, no_gate).trial.number == 7
        power[f"gain {gain:g}"] = {k: v / n_groups for k, v in made.items()}
    return {
        "groups": n_groups,
        "noise": {"unit_sd": UNIT_SD, "difficulty_sd": DIFFICULTY_SD},
        "share_of_noise_groups_that_change": noise,
        "share_of_planted_winners_picked": power,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"## The guard on pure noise ({result['groups']} groups each; 3 folds x 8 sub-blocks)",
        "",
        "Share of groups that change their values (lower is better; the target is at most 5%):",
        "",
        "| groups of | before (1 SE, same units) | after (confirmed + PBO gate) | after, no PBO gate |",
        "|---|---|---|---|",
    ]
    for name, row in result["share_of_noise_groups_that_change"].items():
        lines.append(f"| {name} | {row['before']:.1%} | {row['after']:.1%} | {row['after_without_pbo_gate']:.1%} |")
    lines += [
        "",
        "Share of groups where one planted better trial (of 15) is picked (higher is better):",
        "",
        "| planted gain (loss units; one trial-fold mean's noise is ~0.006) | before | after | after, no PBO gate |",
        "|---|---|---|---|",
    ]
    for name, row in result["share_of_planted_winners_picked"].items():
        lines.append(f"| {name} | {row['before']:.1%} | {row['after']:.1%} | {row['after_without_pbo_gate']:.1%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "guard-noise", "40 groups per row")


if __name__ == "__main__":
    sys.exit(main())
