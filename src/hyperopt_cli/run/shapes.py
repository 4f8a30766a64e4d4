"""The types state.json and results.json must have before anything reads their keys.

Both files are written atomically by the run, so a half-written one cannot happen; a file
edited by hand, restored from elsewhere or damaged on disk can still hold any JSON. A
reader that trusted it would crash with "unexpected AttributeError" (exit 1) or, in the
server, answer 500 for every run. Checked here, a wrong type is one RunStateError line
(exit 6) naming the file, the key and the type found. Torch- and optuna-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.run import rundir
from hyperopt_cli.run.results import RunResults

_NUMBER = (int, float)
_NONE = type(None)

# key -> allowed types; keys not listed are not read by any consumer and pass unchecked.
STATE_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "job_id": (str, _NONE),
    "mode": (str, _NONE),
    "pid": (int, _NONE),
    "config_hash": (str,),
    "config": (dict,),
    "sessions": (int,),
    "elapsed_s": (*_NUMBER, _NONE),
    "group_spans": (dict, _NONE),
    "message": (str, _NONE),
    "progress": (dict, _NONE),
    "groups": (dict, _NONE),
    "workers": (dict, _NONE),
    "time_estimate": (dict, _NONE),
    "results": (dict, _NONE),
    "data": (dict, _NONE),
}
PROGRESS_TYPES: dict[str, tuple[type, ...]] = {
    "current_group": (str, _NONE),
    "current_trial": (int, _NONE),
    "current_epoch": (int, _NONE),
    "groups_completed": (list, _NONE),
}
RESULTS_TYPES: dict[str, tuple[type, ...]] = {
    "job_id": (str, _NONE),
    "mode": (str, _NONE),
    "best_params": (dict,),
    "best_value": (*_NUMBER, _NONE),
    "fixed_params": (dict, _NONE),
    "group_results": (dict, _NONE),
}


_TYPE_NAMES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    _NONE: "null",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _check(obj: dict[str, Any], types: dict[str, tuple[type, ...]], where: str, path: Path) -> None:
    for key, allowed in types.items():
        if key not in obj:
            continue
        value = obj[key]
        # True is an int to Python, not to JSON
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            wanted = " or ".join(dict.fromkeys(_TYPE_NAMES[t] for t in allowed))
            raise RunStateError(
                f"{path}: {where}{key!r} must be {wanted}, got {_type_name(value)}; "
                f"restore the file, or delete it to have it rebuilt from the studies"
            )


def _check_rows(rows: Any, where: str, path: Path) -> None:
    for name, row in (rows or {}).items():
        if not isinstance(row, dict):
            raise RunStateError(
                f"{path}: {where}[{str(name)[:40]!r}] must be an object, got {_type_name(row)}; "
                "restore the file, or delete it to have it rebuilt from the studies"
            )


def check_state(state: dict[str, Any], path: Path) -> dict[str, Any]:
    """`state` (state.json's object) unchanged, or RunStateError for the first key of a wrong type."""
    _check(state, STATE_TYPES, "", path)
    _check(state.get("progress") or {}, PROGRESS_TYPES, "progress.", path)
    _check_rows(state.get("groups"), "groups", path)
    _check_rows(state.get("workers"), "workers", path)
    return state


def check_results(results: dict[str, Any], path: Path) -> dict[str, Any]:
    """`results` (results.json's object) unchanged, or RunStateError for the first key of a wrong type."""
    _check(results, RESULTS_TYPES, "", path)
    _check_rows(results.get("group_results"), "group_results", path)
    return results


def read_results(run_dir: Path, status: dict[str, Any]) -> RunResults | None:
    """results.json checked; for a completed run whose file is missing or damaged, rebuilt from the studies.

    None for an unfinished run without results.json. `status` is the run's status answer
    (run/status.py's run_status). The rebuilt results are returned, not saved: a reader never writes.
    """
    path = run_dir / rundir.RESULTS_FILE
    results = rundir.read_json(path)
    if results is not None:
        return RunResults.from_json(check_results(results, path))
    if status.get("status") != "completed":
        return None
    from hyperopt_cli.run.state import rebuild_state  # optuna: only for this repair

    rebuilt = rebuild_state(run_dir).results
    if rebuilt is None:
        raise RunStateError(f"{path} is missing or damaged and the studies hold no final evaluation to rebuild it from")
    return RunResults.from_json(
        {**rebuilt, "note": f"{rundir.RESULTS_FILE} missing or corrupt: rebuilt from the studies (not saved)"}
    )
