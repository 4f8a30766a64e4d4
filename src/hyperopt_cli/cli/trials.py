"""Trial-level views of a run (`hyperopt trials`, `hyperopt show`), read from its studies without disturbing it.

Studies are opened read-only (`RunStorage.open_readonly`), so these work on a live run.
Rows are plain dicts with a fixed schema (README: "trials --json"):

    trials: {"group", "number", "state", "value", "partial", "params", "epochs_run", "folds_run",
             "pruned_at", "pruned_in_fold", "pruned_by", "collapsed", "duration_s", "worker"}
    show:   {"group", "number", "state", "value", "partial", "raw_value", "params", "collapsed",
             "duration_s", "worker", "metric", "chosen_epochs", "folds",
             "epochs": [{"fold", "epoch", "value", ...metrics}]}

A trial trains once per selection fold; the studies store one Optuna step per (fold, epoch),
step = fold * epochs_per_trial + epoch. These views undo that: `epochs_run` counts epochs
within a fold (at most epochs_per_trial), `folds_run` the folds reached, and each row of
`show` names its fold and epoch. Epochs and folds are counted from 1, as the log and the
report say them. A pruned trial's value is the last fold-epoch it reported (`partial`:
true), not comparable with a complete trial's mean over folds at its chosen epoch. A trial
left RUNNING in storage by a process that is gone reads as PAUSED: resume continues it.
`duration_s` is training time (the epochs' own seconds), so a pause does not count.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run.records import group_objective, load_run_config

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

SORTS = ("number", "value", "duration")  # `trials --sort`
# `trials --state`: Optuna's trial states, lower case, and "paused": RUNNING in storage, no live process on it
STATES = ("complete", "pruned", "fail", "running", "paused")
CSV_COLUMNS = (
    "group",
    "number",
    "state",
    "value",
    "partial",
    "epochs_run",
    "folds_run",
    "pruned_at",
    "pruned_in_fold",
    "pruned_by",
    "collapsed",
    "duration_s",
    "worker",
)
WORKER_ATTR = "worker"  # search.workers.WORKER_ATTR; repeated so this module need not import the worker code


def _studies(run_dir: Path, group: str | None) -> list[tuple[str, Any]]:
    from hyperopt_cli.search.storage import RunStorage

    cfg = _config(run_dir)
    groups = list(cfg.groups_to_run())
    if group is not None and group not in groups:
        raise RunStateError(f"{run_dir} has no group {group!r}; its groups: {', '.join(groups)}")
    store = RunStorage(cfg, Path(run_dir))
    out = []
    for name in [group] if group is not None else groups:
        study = store.open_readonly(name)
        if study is not None:
            out.append((name, study))
    return out


def _duration(trial: FrozenTrial) -> float | None:
    """Seconds of training: the trial's train_seconds, else its epochs' seconds; wall time only for older trials.

    Wall time (datetime_complete - datetime_start) counts a pause: a 1 s trial paused for a
    minute showed 61 s.
    """
    seconds = trial.user_attrs.get("train_seconds")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return round(float(seconds), 3)
    history = trial.user_attrs.get("history") or []
    if history and all(isinstance(h, dict) and isinstance(h.get("seconds"), (int, float)) for h in history):
        return round(sum(float(h["seconds"]) for h in history), 3)
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return round((trial.datetime_complete - trial.datetime_start).total_seconds(), 3)


def _config(run_dir: Path) -> Any:
    return load_run_config(Path(run_dir), for_display=True)


def display_epoch(step: int) -> int:
    """A stored epoch index (Optuna step, history `epoch`, from 0) as people count it (from 1)."""
    return int(step) + 1


def fold_and_epoch(step: int, epochs_per_trial: int | None) -> tuple[int, int]:
    """An Optuna step as (fold, epoch), both counted from 1; without epochs_per_trial, one fold."""
    if not epochs_per_trial:
        return 1, display_epoch(step)
    return int(step) // epochs_per_trial + 1, int(step) % epochs_per_trial + 1


def _reached(trial: FrozenTrial, steps: list[int], epochs_per_trial: int | None) -> tuple[int, int]:
    """(folds reached, epochs run in the last of them): at most epochs_per_trial, however many folds."""
    if not steps:
        return (1 if trial.user_attrs.get("history") else 0), len(trial.user_attrs.get("history") or [])
    at = [fold_and_epoch(step, epochs_per_trial) for step in steps]
    last_fold = max(fold for fold, _ in at)
    return last_fold, max(epoch for fold, epoch in at if fold == last_fold)


def _pruned_at(trial: FrozenTrial, steps: list[int], epochs_per_trial: int | None) -> tuple[int | None, int | None]:
    """(epoch, fold) a pruned trial stopped after, from 1: as recorded by the search, else from its last step."""
    epoch, fold = trial.user_attrs.get("pruned_at_epoch"), trial.user_attrs.get("pruned_in_fold")
    if not steps:
        return (epoch if isinstance(epoch, int) else None, fold if isinstance(fold, int) else None)
    step_fold, step_epoch = fold_and_epoch(steps[-1], epochs_per_trial)
    return (epoch if isinstance(epoch, int) else step_epoch, fold if isinstance(fold, int) else step_fold)


def _pruned_by(trial: FrozenTrial) -> str:
    """ "race" (behind the incumbent after a fold, search/racing.py), "rung" (not promoted at a rung of the
    epoch ladder, search/ladder.py) or "pruner" (below the percentile at an epoch)."""
    by = trial.user_attrs.get("pruned_by")
    return by if by in ("race", "rung") else "pruner"


def trial_row(group: str, trial: FrozenTrial, epochs_per_trial: int | None = None, alive: Any = None) -> dict[str, Any]:
    """One trial as `trials` shows it; `alive(worker key) -> bool` tells a RUNNING trial from a PAUSED one."""
    steps = sorted(trial.intermediate_values)
    state = trial.state.name
    if state == "RUNNING" and alive is not None and not alive(trial.user_attrs.get(WORKER_ATTR)):
        state = "PAUSED"
    folds, epochs = _reached(trial, steps, epochs_per_trial)
    pruned_at, pruned_in_fold = _pruned_at(trial, steps, epochs_per_trial) if state == "PRUNED" else (None, None)
    value = trial.value
    if state == "PRUNED" and value is None and steps:  # Optuna keeps the last report as a pruned trial's value
        value = trial.intermediate_values[steps[-1]]
    partial = state == "PRUNED" and value is not None
    return {
        "group": group,
        "number": trial.number,
        "state": state,
        "value": value,
        "partial": partial,
        "params": dict(trial.params),
        "epochs_run": epochs,
        "folds_run": folds,
        "pruned_at": pruned_at,
        "pruned_in_fold": pruned_in_fold,
        "pruned_by": _pruned_by(trial) if state == "PRUNED" else None,
        "collapsed": bool(trial.user_attrs.get("collapsed", False)),
        "duration_s": _duration(trial),
        "worker": trial.user_attrs.get(WORKER_ATTR),
    }


def liveness(run_dir: Path) -> Any:
    """`alive(worker key)`: a local worker by its process, another host's while the run's owner lives."""
    import socket

    from hyperopt_cli.run import rundir
    from hyperopt_cli.search.liveness import WorkerId, local_process_alive

    owner_alive = rundir.live_owner(Path(run_dir)) is not None

    def alive(key: Any) -> bool:
        worker = WorkerId.parse(str(key)) if key else None
        if worker is None or worker.host != socket.gethostname():
            return owner_alive
        return local_process_alive(worker)

    return alive


def list_trials(
    run_dir: Path, group: str | None = None, *, states: Sequence[str] = (), sort: str = "number", top: int | None = None
) -> list[dict[str, Any]]:
    """The trials of the run's groups (or of `group`), group by group in the run's order.

    Within a group: only the `states` given (lower-case names; none given: all), ordered by
    `sort` ("number"; "value": best first in the study's direction; "duration": longest first;
    trials without one last), then the first `top` of them.
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
    wanted = {s.lower() for s in states}
    rows: list[dict[str, Any]] = []
    epochs_per_trial = _config(run_dir).epochs_per_trial
    alive = liveness(run_dir)
    for name, study in _studies(run_dir, group):
        mine = [trial_row(name, t, epochs_per_trial, alive) for t in study.get_trials(deepcopy=False)]
        mine = [r for r in mine if not wanted or r["state"].lower() in wanted]
        mine = _ordered(mine, sort, maximize=study.direction.name == "MAXIMIZE")
        rows.extend(mine if top is None else mine[:top])
    return rows


def _ordered(rows: list[dict[str, Any]], sort: str, maximize: bool) -> list[dict[str, Any]]:
    by_number = sorted(rows, key=lambda r: r["number"])
    if sort == "number":
        return by_number
    key, descending = ("value", maximize) if sort == "value" else ("duration_s", True)
    # By value, a partial value (a pruned trial's one fold-epoch) is not comparable: after the complete ones.
    comparable = (
        (lambda r: r[key] is not None and not r["partial"]) if key == "value" else (lambda r: r[key] is not None)
    )
    known = [r for r in by_number if comparable(r)]
    rest = [r for r in by_number if not comparable(r)]
    return sorted(known, key=lambda r: r[key], reverse=descending) + rest


def trials_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV: the fixed columns, then one column per parameter (empty where a trial lacks it)."""
    params = list(dict.fromkeys(name for r in rows for name in r["params"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *params])
    for r in rows:
        writer.writerow(
            [
                *("" if r[c] is None else r[c] for c in CSV_COLUMNS),
                *("" if r["params"].get(p) is None else r["params"][p] for p in params),
            ]
        )
    return buffer.getvalue()


def show_trial(run_dir: Path, group: str, number: int) -> dict[str, Any]:
    """One trial: its params and every (fold, epoch) it reported; per-epoch metrics exist for the last fold only.

    The search keeps the full metrics (train/val loss, F1, ...) of the configured split, the
    last fold; the earlier folds reported their objective value only. So each row names its
    fold, and metrics sit beside the value of the same fold and epoch, never another fold's.
    """
    studies = _studies(run_dir, group)
    if not studies:
        raise RunStateError(f"group {group!r} of {run_dir} has not started")
    trials = {t.number: t for t in studies[0][1].get_trials(deepcopy=False)}
    if number not in trials:
        have = f"0..{max(trials)}" if trials else "none yet"
        raise RunStateError(f"group {group!r} of {run_dir} has no trial {number} (trials: {have})")
    trial = trials[number]
    cfg = _config(run_dir)
    per_fold = cfg.epochs_per_trial
    n_folds = int((trial.user_attrs.get("selection") or {}).get("folds") or cfg.selection_folds)
    history = {int(m["epoch"]): m for m in trial.user_attrs.get("history") or []}
    row = trial_row(group, trial, per_fold, liveness(run_dir))
    row.pop("epochs_run")
    epochs = []
    for step in sorted(trial.intermediate_values):
        fold, epoch = fold_and_epoch(step, per_fold)
        metrics = history.get(epoch - 1, {}) if fold == n_folds else {}
        epochs.append({**metrics, "fold": fold, "epoch": epoch, "value": trial.intermediate_values[step]})
    if not trial.intermediate_values:  # trained before steps were reported: the history alone
        epochs = [{**m, "fold": n_folds, "epoch": display_epoch(e), "value": None} for e, m in sorted(history.items())]
    return {
        **row,
        "raw_value": trial.user_attrs.get("raw_value"),
        "metric": group_objective(cfg, group)[0],
        "folds": n_folds,
        "chosen_epochs": (trial.user_attrs.get("selection") or {}).get("epochs"),
        "race": trial.user_attrs.get("raced_out"),
        "rung": trial.user_attrs.get("rung_stop"),
        "epochs": epochs,
    }
