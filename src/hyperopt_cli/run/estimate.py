"""Time estimates: a quick timed guess before the first trial, measured trial times after.

Only a measured estimate is shown to people (`describe_remaining`): the timed guess was off
by two orders of magnitude (2.82 h for a run that took 78 s), so before the first trials
finish the display says so instead of printing a number. Trials run on `parallel` workers
at once; the final evaluation runs in the owner alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hyperopt_cli.config import OptimizationConfig

if TYPE_CHECKING:
    from hyperopt_cli.data.prepare import PreparedData

EVAL_SHARE = 0.35  # validation pass per epoch, relative to the training pass (forward only)


def seconds_per_epoch(cfg: OptimizationConfig, data: PreparedData, n_batches: int = 3) -> float:
    """Time a few forward/backward passes of the configured model and scale to one epoch."""
    import torch  # here, so state.json's estimate (estimate_hours) stays torch-free

    from hyperopt_cli.training.model import LSTMClassifier
    from hyperopt_cli.training.optim import adamw

    batch = cfg.trainer.batch_size
    model = LSTMClassifier(data.n_features, cfg.model.hidden_size, cfg.model.num_layers, cfg.trainer.dropout)
    optimizer = adamw(model.parameters(), lr=1e-3)
    x = torch.randn(batch, cfg.data.window, data.n_features)
    y = torch.randint(0, 3, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()
    timings = []
    for _ in range(n_batches + 1):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    per_batch = sorted(timings[1:])[len(timings[1:]) // 2]  # the first call warms up
    batches = max(1, len(data.train) // batch)
    return per_batch * batches * (1 + EVAL_SHARE)


MEASURED = "measured trials"  # time_estimate["based_on"] once trial times exist


def estimate_hours(
    remaining_trials: int,
    epochs_per_trial: int,
    measured_trial_seconds: Sequence[float],
    epoch_seconds_guess: float,
    parallel: int = 1,
    serial_trainings: int = 0,
) -> float:
    """Remaining hours: the mean measured trial time once there is one, else the guess.

    `remaining_trials` run `parallel` at a time; `serial_trainings` (the final evaluation's)
    one after another in the owner.
    """
    if measured_trial_seconds:
        per_trial = sum(measured_trial_seconds) / len(measured_trial_seconds)
    else:
        per_trial = epoch_seconds_guess * epochs_per_trial
    return (remaining_trials * per_trial / max(1, parallel) + serial_trainings * per_trial) / 3600.0


def trials(n: object) -> str:
    """`1 trial`, `3 trials`, `? trials`: a count with its noun, singular for one."""
    return f"{n} trial" if n == 1 else f"{n} trials"


def format_duration(seconds: float | None) -> str:
    """In the unit that fits: `45 s`, `12 min`, `2.8 h`."""
    if seconds is None:
        return "?"
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def describe_remaining(estimate: dict[str, Any] | None) -> str:
    """state.json's time_estimate in words: `remaining 12 min of 30 min (5 trials)`, or that it is not measured yet."""
    est = estimate or {}
    if est.get("based_on") != MEASURED or not isinstance(est.get("remaining_hours"), (int, float)):
        return f"remaining: measured once the first trials finish ({trials(est.get('remaining_trials', '?'))} to go)"
    total = est.get("estimated_hours")
    of = f" of {format_duration(float(total) * 3600)}" if isinstance(total, (int, float)) else ""
    return (
        f"remaining {format_duration(float(est['remaining_hours']) * 3600)}{of} "
        f"({trials(est.get('remaining_trials', '?'))})"
    )


def final_evaluation_trainings(cfg: OptimizationConfig) -> int:
    """Trainings the final evaluation does: one per walk-forward block and ensemble seed.

    Each trains on more bars than a trial (everything before its block), so counting it as
    one trial's time underestimates a little; the walk-forward is the only final training.
    """
    return cfg.walk_forward_blocks * cfg.ensemble_seeds
