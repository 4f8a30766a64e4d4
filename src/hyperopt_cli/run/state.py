"""state.json: what the run's groups have done, where it stands and how long it has left.

`StateWriter` writes it from the live run (only the owner writes); `rebuild_state`
derives the same shape from config.yaml and the studies alone. Both build a `RunState`
(run/state_record.py), the one shape the file has. Torch-free: status rebuilds a lost
state.json without importing the training stack.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperopt_cli.config import OptimizationConfig, mapping_hash, read_yaml
from hyperopt_cli.core import storage_kind
from hyperopt_cli.run import rundir
from hyperopt_cli.run.estimate import MEASURED, estimate_hours, final_evaluation_trainings
from hyperopt_cli.run.rate import mark_spans
from hyperopt_cli.run.records import (
    FINAL_ATTR,
    build_results,
    done_reason,
    finished_best,
    fixed_params,
    group_objective,
    group_row,
    load_run_config,
    masked_config,
    progress_row,
)
from hyperopt_cli.run.results import FinalResult, JsonObject
from hyperopt_cli.run.state_record import EMPTY, RunState
from hyperopt_cli.search import workers
from hyperopt_cli.search.storage import RunStorage
from hyperopt_cli.search.study_records import group_done_of, trial_limits
from hyperopt_cli.search.summary import GuardPolicy, StudySummary, summarize

if TYPE_CHECKING:
    from hyperopt_cli.search.group import GroupSearch, TimeBudget

log = logging.getLogger("hyperopt_cli")

# With nothing new to show (idle polls), state.json is rewritten at most this often. It is a
# summary for readers (status, the server); the studies and checkpoints are what a kill -9
# must not lose, and they are written as before.
STATE_INTERVAL_S = 5.0


@dataclass
class GroupsProgress:
    """What this process knows of the groups: summaries, which ended and why, the params they froze."""

    summaries: dict[str, StudySummary] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)  # group -> reason it ended
    best: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # group -> params frozen when done
    epochs: dict[str, int | None] = field(default_factory=dict)  # group -> epoch count its frozen trial chose
    limits: dict[str, int] = field(default_factory=dict)  # group -> its trial budget, where an extension raised it
    current: GroupSearch | None = None  # the group this process is searching now

    def where(self) -> tuple[str | None, int | None, int | None]:
        """(group, trial, epoch) in flight."""
        c = self.current
        return (c.group, c.current_trial, c.current_epoch) if c is not None else (None, None, None)

    def status_of(self, group: str, run_status: str | None) -> str:
        summary = self.summaries.get(group)
        if group in self.done:
            return "completed"
        if self.current is not None and self.current.group == group:
            return "running" if run_status == "running" else "paused"
        return "pending" if summary is None or summary.n_finished == 0 else "paused"


def read_group(
    cfg: OptimizationConfig, run_dir: Path, group: str, readonly: bool = False
) -> tuple[StudySummary, dict[str, Any] | None, int] | None:
    """A group's summary, the record that ended it (None while unfinished) and its trial budget, from its study alone.

    readonly: open the study as a reader (never creating or migrating it); None when it holds no study yet.
    """
    metric, direction = group_objective(cfg, group)
    store = RunStorage(cfg, run_dir)
    if readonly:
        study = store.open_readonly(group)
    else:
        try:
            study = store.load_study(group)
        except KeyError:  # a kill after the study file was made but before the study was: not started
            return None
    if study is None:
        return None
    summary = summarize(
        group,
        study.get_trials(deepcopy=False),
        metric,
        direction,
        cfg.convergence_threshold,
        policy=GuardPolicy.of(cfg),
    )
    attrs = study.user_attrs
    return summary, group_done_of(attrs), trial_limits(attrs, cfg.max_trials_per_group).max_trials


def load_finished_groups(
    cfg: OptimizationConfig, run_dir: Path, progress: GroupsProgress, readonly: bool = False
) -> None:
    """Fill `progress` with every started group's summary and every finished group's decision."""
    store = RunStorage(cfg, run_dir)
    for group in cfg.groups_to_run():
        if not store.study_exists(group):
            continue
        read = read_group(cfg, run_dir, group, readonly)
        if read is None:
            continue
        summary, record, limit = read
        progress.summaries[group] = summary
        progress.limits[group] = limit
        if record is not None:
            progress.done[group] = done_reason(record)
            progress.best[group] = finished_best(record, summary.best_params)
            progress.epochs[group] = record.get("best_epochs")


class StateWriter:
    """Writes state.json for the run's owner; a worker's writer (or one not yet checked) writes nothing."""

    def __init__(self, cfg: OptimizationConfig, run_dir: Path, progress: GroupsProgress) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.progress = progress
        self.state: RunState = EMPTY  # what this session continues from, then what it last wrote
        self.frozen_hash = ""  # hash of config.yaml as written at the run's start; set once the run dir checks out
        self.owner = True
        self.budget: TimeBudget | None = None
        self.epoch_guess = 0.0  # seconds per epoch, timed before the first trial
        self.clock: Callable[[], float] = time.monotonic
        # When state.json was last written, and the (group, trial, epoch) it showed.
        self._last_write: tuple[float, tuple[str | None, int | None, int | None]] | None = None

    def _moment(self) -> tuple[str | None, int | None, int | None]:
        return self.progress.where()

    def write_progress(self, status: str = "running") -> bool:
        """`write(status)` throttled for epochs and idle polls; returns whether it wrote.

        Written at once when a trial starts, reports an epoch or ends (status and tests
        watch the epoch); repeats of the same moment (idle polls of a worker waiting for
        others) at most every STATE_INTERVAL_S. Status changes call `write`.
        """
        last = self._last_write
        if last is not None and last[1] == self._moment() and self.clock() - last[0] < STATE_INTERVAL_S:
            return False
        self.write(status)
        return True

    def write(self, status: str, message: str | None = None) -> None:
        """Write state.json from what storage says now (a few ms: once per epoch and per trial).

        Nothing is written before this session has checked the run directory: a resume
        refused for an edited config or changed data leaves state.json as it was.
        """
        if not self.owner or not self.frozen_hash:
            return
        cfg, progress = self.cfg, self.progress
        if progress.current is not None and self._storage_may_have_changed():
            progress.summaries[progress.current.group] = progress.current.summary()
        state = self.state.updated(
            status=status,
            job_id=self.run_dir.name,
            mode=cfg.mode,
            pid=os.getpid(),
            config_hash=self.frozen_hash,
            config=masked_config(cfg),
            storage=storage_kind.describe(cfg.storage_url),
            updated_at=rundir.now_iso(),
        )
        if workers.uses_shared_coordination(cfg):
            try:
                state = state.updated(workers=workers.describe_workers(cfg, self.run_dir))
            except Exception as exc:  # status is a summary; a storage hiccup must not stop the run
                log.warning("could not read worker heartbeats: %s", exc)
        if self.budget is not None:
            elapsed = round(self.budget.elapsed(), 3)
            current = progress.current.group if progress.current is not None else None
            state = state.updated(elapsed_s=elapsed, group_spans=mark_spans(state.group_spans, current, elapsed))
        if message is not None:
            state = state.updated(message=message)
        if status in ("completed", "failed"):
            state = state.updated(finished_at=rundir.now_iso())
        groups = cfg.groups_to_run()
        self.state = state.updated(
            progress=progress_row(cfg, progress.where(), progress.done),
            groups={
                g: group_row(
                    cfg,
                    progress.status_of(g, status),
                    progress.done.get(g),
                    progress.summaries.get(g),
                    progress.limits.get(g),
                )
                for g in groups
            },
        )
        self.state = self.state.updated(time_estimate=self.time_estimate())  # it reads the state just set
        rundir.write_json(self.run_dir / rundir.STATE_FILE, self.state.to_json())
        self._last_write = (self.clock(), self._moment())

    def _storage_may_have_changed(self) -> bool:
        """False only mid-trial with one writer: the trial's own epochs do not change the group's summary."""
        last = self._last_write
        if last is None or workers.uses_shared_coordination(self.cfg):
            return True
        group, trial, _ = self.progress.where()
        return last[1][:2] != (group, trial) or trial is None or self.clock() - last[0] >= STATE_INTERVAL_S

    def time_estimate(self) -> JsonObject:
        cfg, progress = self.cfg, self.progress
        groups = cfg.groups_to_run()
        limit = {g: progress.limits.get(g, cfg.max_trials_per_group) for g in groups}
        total = sum(limit.values())
        finished = sum(
            limit[g] if g in progress.done else (progress.summaries[g].n_finished if g in progress.summaries else 0)
            for g in groups
        )
        measured = [s for g in groups if g in progress.summaries for s in progress.summaries[g].trial_seconds]
        remaining = max(0, total - finished)
        parallel = self.parallel_workers()
        hours = estimate_hours(
            remaining,
            cfg.epochs_per_trial,
            measured,
            self.epoch_guess,
            parallel=parallel,
            serial_trainings=final_evaluation_trainings(cfg),
        )
        eta = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours)
        return {
            "estimated_hours": round(hours + float(self.state.elapsed_s or 0.0) / 3600.0, 4),
            "remaining_hours": round(hours, 4),
            "total_trials": total,
            "remaining_trials": remaining,
            "eta": eta.isoformat(timespec="seconds"),
            "based_on": MEASURED if measured else "timed batches",
            "parallel_workers": parallel,
        }

    def parallel_workers(self) -> int:
        """Processes taking trials at once: the live worker rows, at least the configured count."""
        alive = sum(1 for row in (self.state.workers or {}).values() if row.get("alive"))
        return max(1, self.cfg.workers, alive)


def rebuild_state(run_dir: Path, cfg: OptimizationConfig | None = None) -> RunState:
    """state.json's content rebuilt from config.yaml and the studies (status: paused or completed).

    Elapsed time is approximated by the summed training time of the finished trials. The
    studies are opened read-only: `status` on a damaged run never writes into its files.
    """
    cfg = cfg or load_run_config(run_dir)
    progress = GroupsProgress()
    load_finished_groups(cfg, run_dir, progress, readonly=True)
    groups = cfg.groups_to_run()
    fixed = fixed_params(progress.best.get(g) for g in groups if g in progress.done)
    final = None
    if groups[-1] in progress.summaries:
        last = RunStorage(cfg, run_dir).open_readonly(groups[-1])
        stored = last.user_attrs.get(FINAL_ATTR) if last is not None else None
        final = FinalResult.from_json(stored) if stored is not None else None
    completed = final is not None and groups[-1] in progress.done  # not while an extension reopened it
    done, summaries = progress.done, progress.summaries
    current = next((g for g in groups if g not in done), None)
    return EMPTY.updated(
        status="completed" if completed else "paused",
        job_id=run_dir.name,
        mode=cfg.mode,
        pid=None,
        config_hash=mapping_hash(read_yaml(run_dir / rundir.CONFIG_FILE)),
        config=masked_config(cfg),
        rebuilt_at=rundir.now_iso(),
        elapsed_s=sum(s.duration_s for s in summaries.values()),
        sessions=0,
        progress=progress_row(cfg, (None if completed else current, None, None), done),
        groups={
            g: group_row(
                cfg,
                "completed" if g in done else ("paused" if g in summaries else "pending"),
                done.get(g),
                summaries.get(g),
                progress.limits.get(g),
            )
            for g in groups
        },
        results=build_results(cfg, summaries, done, fixed, final, job_id=run_dir.name).to_json() if completed else None,
    )
