"""More trials for a run (`hyperopt resume RUN --more-trials N`): the last group reopens for N more.

Only the last group: every later group was tuned with the earlier groups' best values fixed,
so reopening an earlier one could change params the groups after it never saw. The
extension is recorded on the last group's study (the source of truth; config.yaml stays
frozen), in one write that also reopens the group (study_records.group_done_of), so a stop
or a kill -9 during the extra trials resumes them with a plain `hyperopt resume`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.events import EventSink
from hyperopt_cli.run.records import group_objective
from hyperopt_cli.run.state_record import RunState
from hyperopt_cli.search.events import Note
from hyperopt_cli.search.group import TimeBudget, open_study
from hyperopt_cli.search.study_records import (
    EXTRA_TRIALS_ATTR,
    MAX_MORE_TRIALS,
    extensions,
    group_done_of,
    trial_limits,
)
from hyperopt_cli.search.summary import summarize


def check_extension(cfg: OptimizationConfig, run_dir: Path, state: RunState, more_trials: int) -> None:
    """Refuse an extension that could not run a trial: the run's time budget is used up."""
    if not 1 <= more_trials <= MAX_MORE_TRIALS:
        raise ValueError(f"more_trials must be in [1, {MAX_MORE_TRIALS:,}], got {more_trials}")
    if TimeBudget(cfg.max_total_time_hours, float(state.elapsed_s or 0.0)).exhausted():
        raise RunStateError(
            f"{run_dir} has used up its time budget (max_total_time_hours {cfg.max_total_time_hours:g}); "
            "no more trials can run in it: start a new run (hyperopt export --config writes its best values)"
        )


def extend_last_group(cfg: OptimizationConfig, run_dir: Path, more_trials: int, events: EventSink) -> dict[str, Any]:
    """Record `more_trials` more trials for the run's last group on its study; returns the record.

    A finished group runs exactly N more (its limit becomes finished + N, and convergence
    may not end it before); an unfinished one gets N added to its budget.
    """
    group = cfg.groups_to_run()[-1]
    metric, direction = group_objective(cfg, group)
    study = open_study(cfg, run_dir, group, direction)
    attrs = study.user_attrs
    finished = summarize(
        group, study.get_trials(deepcopy=False), metric, direction, cfg.convergence_threshold
    ).n_finished
    done = group_done_of(attrs) is not None
    limit = (finished if done else trial_limits(attrs, cfg.max_trials_per_group).max_trials) + more_trials
    record = {"n": more_trials, "at_finished": finished, "limit": limit, "asked_at": rundir.now_iso()}
    study.set_user_attr(EXTRA_TRIALS_ATTR, [*extensions(attrs), record])
    events.emit(
        Note(
            message=f"{group}: {more_trials} more trial(s) asked for; the group runs until "
            f"{limit} trials have finished ({finished} now)"
        )
    )
    return record
