"""The groups in order: skip the finished ones, search the rest, carry each group's best forward."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperopt_cli.config import OptimizationConfig, ParamSpec
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.events import EventSink
from hyperopt_cli.run.records import CENTER_ATTR, FINE_TUNE, group_objective
from hyperopt_cli.run.results import RunResults
from hyperopt_cli.run.state import GroupsProgress
from hyperopt_cli.search.events import GroupEnd, GroupStart, RunWarning
from hyperopt_cli.search.group import GroupSearch, PreparerLike, TimeBudget, open_study
from hyperopt_cli.search.incumbent import current_values, enqueue_incumbent, incumbent_params
from hyperopt_cli.search.space import study_space
from hyperopt_cli.search.summary import StudySummary
from hyperopt_cli.search.workers import study_files_lock


class GroupRunner:
    """Runs every remaining group of a run in order; the same loop serves the owner and each worker."""

    def __init__(
        self,
        cfg: OptimizationConfig,
        run_dir: Path,
        events: EventSink,
        progress: GroupsProgress,
        on_progress: Callable[[], None],
        heartbeats: Callable[[], dict[str, Any]],
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.events = events
        self.progress = progress
        self.on_progress = on_progress
        self.heartbeats = heartbeats

    def run(
        self, preparer: PreparerLike, stop_event: threading.Event, budget: TimeBudget
    ) -> tuple[dict[str, Any], bool]:
        """Every group in order (finished ones skipped); returns the fixed params and whether time ran out."""
        cfg, progress = self.cfg, self.progress
        fixed: dict[str, Any] = {}
        for group in cfg.groups_to_run():
            if group in progress.done:
                best = progress.best.get(group)
                fixed.update(best or {})
                self.emit_group_start(progress.summaries[group])
                self.events.emit(
                    GroupEnd(
                        group=group,
                        reason=progress.done[group],
                        best_value=progress.summaries[group].best_value,
                        best_params=best,
                    )
                )
                continue
            space = self.space(group)
            search = GroupSearch(
                cfg,
                self.run_dir,
                group,
                space,
                fixed,
                preparer,
                self.events,
                stop_event,
                budget,
                on_progress=self.on_progress,
                checkpoints=rundir.checkpoints_of(self.run_dir, cfg.checkpoint_dir),
            )
            if cfg.incumbent_first:
                self._enqueue_incumbent(search, incumbent_params(space, current_values(cfg, fixed, list(space))))
            progress.current = search
            progress.summaries[group] = search.summary()
            self.emit_group_start(progress.summaries[group])
            result = search.run(heartbeats=self.heartbeats)
            progress.summaries[group] = result.summary
            progress.current = None
            if not result.done:
                self.events.emit(
                    RunWarning(message=f"time budget of {cfg.max_total_time_hours} h used up during {group}")
                )
                return fixed, True
            progress.done[group] = result.reason or "budget"
            progress.best[group] = result.best_params
            progress.epochs[group] = result.epochs
            fixed.update(result.best_params or {})
            if result.best_params is None:
                self.events.emit(RunWarning(group=group, message="no trial completed; later groups keep the defaults"))
            self.events.emit(
                GroupEnd(
                    group=group,
                    reason=result.reason,
                    best_value=result.summary.best_value,
                    best_params=result.best_params,
                    kept=result.kept,
                    epochs=result.epochs,
                )
            )
            self.on_progress()
        return fixed, False

    def _enqueue_incumbent(self, search: GroupSearch, params: dict[str, Any] | None) -> None:
        """Once per study, also when several local workers open the group at the same moment.

        With study files the check-then-enqueue runs under the workers' OS lock; with a
        database two workers opening a group within milliseconds could both enqueue it (the
        second copy is one wasted trial).
        """
        with study_files_lock(self.cfg, self.run_dir):
            enqueue_incumbent(search.study, params)

    def emit_group_start(self, summary: StudySummary) -> None:
        self.events.emit(
            GroupStart(
                group=summary.group,
                finished=summary.n_finished,
                direction=summary.direction,
                complete=summary.n_complete,
                pruned=summary.n_pruned,
                failed=summary.n_failed,
                best_value=summary.best_value,
                best_params=summary.best_params,
            )
        )

    def space(self, group: str) -> dict[str, ParamSpec]:
        if group != FINE_TUNE:
            return study_space(self.cfg, group)
        return study_space(self.cfg, group, center=self.fine_tune_center())

    def fine_tune_center(self) -> dict[str, Any]:
        """Best params of the run named by fine_tune_from, frozen into the study at its first start."""
        cfg = self.cfg
        study = open_study(cfg, self.run_dir, FINE_TUNE, group_objective(cfg, FINE_TUNE)[1])
        center = study.user_attrs.get(CENTER_ATTR)
        if center is None:
            source = Path(cfg.fine_tune_from or "")
            raw = rundir.read_json(source / rundir.RESULTS_FILE)
            results = RunResults.from_json(raw) if raw else None
            if results is None or not results.best_params:
                raise RunStateError(
                    f"fine_tune_from={source}: no results.json with best_params there; finish a full run first"
                )
            center = results.best_params
            study.set_user_attr(CENTER_ATTR, center)
        return dict(center)
