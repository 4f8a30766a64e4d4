"""Trial-level views of a run (`hyperopt trials`, `hyperopt show`), read from its studies without disturbing it.

Studies are opened read-only (`RunStorage.open_readonly`), so these work on a live run.
Rows are plain dicts with a fixed schema (README: "trials --json"):

    trials: {"group", "number", "state", "value", "params", "epochs_run", "pruned_at",
             "collapsed", "duration_s", "worker"}
    show:   {"group", "number", "state", "value", "raw_value", "params", "collapsed",
             "duration_s", "worker", "metric", "epochs": [{"epoch", "value", ...metrics}]}

Epochs are shown counted from 1 (`pruned_at` 2 = pruned after its second epoch, `epoch` 1 =
the first), as the log and the report say them; the studies store Optuna steps from 0.
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
STATES = ("complete", "pruned", "fail", "running")  # `trials --state`: Optuna's trial states, lower case
CSV_COLUMNS = ("group", "number", "state", "value", "epochs_run", "pruned_at", "collapsed", "duration_s", "worker")
WORKER_ATTR = "worker"  # search.workers.WORKER_ATTR; repeated so this module need not import the worker code


def _studies(run_dir: Path, group: str | None) -> list[tuple[str, Any]]:
    from hyperopt_cli.search.storage import RunStorage

    cfg = load_run_config(Path(run_dir), for_display=True)
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


def display_epoch(step: int) -> int:
    """A stored epoch index (Optuna step, history `epoch`, from 0) as people count it (from 1)."""
    return int(step) + 1


def _pruned_at(trial: FrozenTrial, steps: list[int]) -> int | None:
    """The epoch (from 1) a pruned trial stopped after: recorded by the search (within its fold), else its last step."""
    epoch = trial.user_attrs.get("pruned_at_epoch")
    if isinstance(epoch, int):
        return epoch
    return display_epoch(steps[-1]) if steps else None


def trial_row(group: str, trial: FrozenTrial) -> dict[str, Any]:
    steps = sorted(trial.intermediate_values)
    state = trial.state.name
    return {
        "group": group,
        "number": trial.number,
        "state": state,
        "value": trial.value,
        "params": dict(trial.params),
        "epochs_run": len(trial.user_attrs.get("history") or steps),
        "pruned_at": _pruned_at(trial, steps) if state == "PRUNED" else None,
        "collapsed": bool(trial.user_attrs.get("collapsed", False)),
        "duration_s": _duration(trial),
        "worker": trial.user_attrs.get(WORKER_ATTR),
    }


def list_trials(run_dir: Path, group: str | None = None, *, states: Sequence[str] = (), sort: str = "number",
                top: int | None = None) -> list[dict[str, Any]]:
    """The trials of the run's groups (or of `group`), group by group in the run's order.

    Within a group: only the `states` given (lower-case names; none given: all), ordered by
    `sort` ("number"; "value": best first in the study's direction; "duration": longest first;
    trials without one last), then the first `top` of them.
    """
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
    wanted = {s.lower() for s in states}
    rows: list[dict[str, Any]] = []
    for name, study in _studies(run_dir, group):
        mine = [trial_row(name, t) for t in study.get_trials(deepcopy=False)]
        mine = [r for r in mine if not wanted or r["state"].lower() in wanted]
        mine = _ordered(mine, sort, maximize=study.direction.name == "MAXIMIZE")
        rows.extend(mine if top is None else mine[:top])
    return rows


def _ordered(rows: list[dict[str, Any]], sort: str, maximize: bool) -> list[dict[str, Any]]:
    by_number = sorted(rows, key=lambda r: r["number"])
    if sort == "number":
        return by_number
    key, descending = ("value", maximize) if sort == "value" else ("duration_s", True)
    known = [r for r in by_number if r[key] is not None]
    return sorted(known, key=lambda r: r[key], reverse=descending) + [r for r in by_number if r[key] is None]


def trials_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV: the fixed columns, then one column per parameter (empty where a trial lacks it)."""
    params = list(dict.fromkeys(name for r in rows for name in r["params"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *params])
    for r in rows:
        writer.writerow([*("" if r[c] is None else r[c] for c in CSV_COLUMNS),
                         *("" if r["params"].get(p) is None else r["params"][p] for p in params)])
    return buffer.getvalue()


def show_trial(run_dir: Path, group: str, number: int) -> dict[str, Any]:
    """One trial: its params and every epoch's metrics (a pruned trial has only its reported objective)."""
    studies = _studies(run_dir, group)
    if not studies:
        raise RunStateError(f"group {group!r} of {run_dir} has not started")
    trials = {t.number: t for t in studies[0][1].get_trials(deepcopy=False)}
    if number not in trials:
        have = f"0..{max(trials)}" if trials else "none yet"
        raise RunStateError(f"group {group!r} of {run_dir} has no trial {number} (trials: {have})")
    trial = trials[number]
    cfg = load_run_config(Path(run_dir), for_display=True)
    history = {int(m["epoch"]): m for m in trial.user_attrs.get("history") or []}
    epochs = sorted(set(history) | set(trial.intermediate_values))
    row = trial_row(group, trial)
    row.pop("epochs_run")
    return {
        **row,
        "raw_value": trial.user_attrs.get("raw_value"),
        "metric": group_objective(cfg, group)[0],
        "epochs": [{**history.get(e, {}), "epoch": display_epoch(e), "value": trial.intermediate_values.get(e)}
                   for e in epochs],
    }
