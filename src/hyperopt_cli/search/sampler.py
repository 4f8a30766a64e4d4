"""The sampler that proposes a trial's parameters, from (seed, group, trial number) alone.

Exact resume needs a trial's proposal to be a function of the study's finished trials and
the trial's own number, never of the process that happens to ask:
- the sampler is rebuilt for every trial, seeded by its trial number (not by a count read
  earlier: two workers that read the same count still get different numbers from ask);
- every independently sampled parameter (all of them during the random startup trials)
  draws from its own stream (seed, parameter name). With one shared stream a process killed
  between two parameter writes would, on resume, skip a draw and shift every later one;
- multivariate TPE's joint proposal is computed once per trial handle from the finished
  trials, so a fresh handle for a resumed trial computes the same proposal.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.training.seeding import derive_seed


def _tpe_options(cfg: OptimizationConfig) -> dict[str, Any]:
    """The options the search relies on, spelled out because Optuna 5 changed defaults.

    The prior/endpoint options are deprecated in Optuna 5 and keep their defaults.
    """
    return {
        "n_startup_trials": cfg.n_startup_trials,
        "n_ei_candidates": 24,
        "multivariate": True,  # the parameters inside a group interact (learning rate x batch size)
        "group": False,
        "constant_liar": False,  # a trial's proposal must not depend on which trials run beside it
    }


class TrialSampler(TPESampler):
    """Multivariate TPE whose independent draws come from one stream per parameter name."""

    def __init__(self, seed: int, **options: Any) -> None:
        super().__init__(seed=seed, **options)
        self._trial_seed = seed
        self._options = options

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        draw = TPESampler(seed=derive_seed(self._trial_seed, "param", param_name), **self._options)
        return draw.sample_independent(study, trial, param_name, param_distribution)


def make_sampler(cfg: OptimizationConfig, group: str, trial_number: int) -> optuna.samplers.TPESampler:
    """The sampler for trial `trial_number` of `group`: its randomness depends on nothing else."""
    return TrialSampler(derive_seed(cfg.seed, "sampler", group, trial_number), **_tpe_options(cfg))
