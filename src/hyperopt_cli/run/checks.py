"""Checks before a session works on a run: a fresh storage, an unedited config, unchanged data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperopt_cli.config import OptimizationConfig, config_hash, dump_config, mapping_hash, read_yaml
from hyperopt_cli.core import storage_kind
from hyperopt_cli.core.atomic import atomic_write_text
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.core.storage_kind import mask_url
from hyperopt_cli.data.sources import expand_data_paths, is_pattern
from hyperopt_cli.model.artifact import MANIFEST_FILE, MODEL_DIR
from hyperopt_cli.run import rundir
from hyperopt_cli.run.events import EventSink
from hyperopt_cli.run.records import frozen_config
from hyperopt_cli.run.results import JsonObject
from hyperopt_cli.run.state import rebuild_state
from hyperopt_cli.run.state_record import EMPTY, GroupState, RunState, read_run_state
from hyperopt_cli.search.events import RunWarning
from hyperopt_cli.search.storage import CONTROL, RunStorage, drop_torn_tail
from hyperopt_cli.search.study_records import extension_open


@dataclass
class RunDirCheck:
    """What `init_or_check_run_dir` found: how the session began and the state it continues."""

    action: str  # "started" or "resumed"
    state: RunState  # state.json's content to continue from
    frozen_hash: str  # hash of config.yaml as written at the run's start


def config_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config mappings, with old -> new values."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return changes


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_storage_is_fresh(cfg: OptimizationConfig, run_dir: Path) -> None:
    """A new run must not adopt another run's studies in a shared database."""
    store = RunStorage(cfg, run_dir)
    if not store.is_shared_database:
        return
    taken = [g for g in (*cfg.groups_to_run(), CONTROL) if store.study_exists(g)]
    if taken:
        raise RunStateError(
            f"study {store.study_name(taken[0])} already exists in {store.masked_url}; "
            "give this run its own study_name (--set study_name=...)"
        )


def init_or_check_run_dir(
    cfg: OptimizationConfig, run_dir: Path, events: EventSink, extending: bool = False
) -> RunDirCheck:
    """Write config.yaml for a new run, or check a resumed run's config against it.

    `extending`: the session asks for more trials (run/extend.py), so a completed run may resume.
    """
    config_file = run_dir / rundir.CONFIG_FILE
    if not config_file.exists() and extending:
        raise RunStateError(f"{run_dir} has no {rundir.CONFIG_FILE}: more trials extend a run that was started")
    if not config_file.exists():
        check_storage_is_fresh(cfg, run_dir)
        atomic_write_text(config_file, dump_config(cfg))
        started = EMPTY.updated(created_at=rundir.now_iso(), sessions=1, elapsed_s=0.0)
        return RunDirCheck("started", started, mapping_hash(read_yaml(config_file)))
    # The hash is of config.yaml as written at start, so a newer version that adds
    # config keys (with defaults) still resumes runs started by an older one.
    on_disk = read_yaml(config_file)
    frozen = mapping_hash(on_disk)
    if config_hash(frozen_config(on_disk)) != config_hash(cfg):
        raise RunStateError(f"{config_file} differs from the config this optimizer was given")
    state = read_run_state(run_dir, check=True)
    repair_torn_journals(cfg, run_dir, events)
    check_studies_intact(cfg, run_dir, state)
    remove_stale_temps(run_dir)
    if state is None or not state.has("config_hash"):
        events.emit(RunWarning(message="state.json was missing or corrupt; rebuilt from config.yaml and the studies"))
        state = rebuild_state(run_dir, cfg)
    elif state.config_hash != frozen:
        shown = {**on_disk, "storage_url": mask_url(on_disk.get("storage_url"))}
        changes = config_changes(state.config or {}, shown)  # check_state: an object where present
        raise RunStateError(
            f"{config_file} was edited since the run started ({'; '.join(changes) or 'hash differs'}); "
            "restore it or start a new run"
        )
    refusal = completed_refusal(cfg, run_dir, state, extending)
    if refusal is not None:
        raise refusal
    state = state.updated(sessions=(state.sessions or 0) + 1)  # check_state: a number where present
    return RunDirCheck("resumed", state, frozen)


def completed_refusal(cfg: OptimizationConfig, run_dir: Path, state: RunState, extending: bool) -> RunStateError | None:
    """Why a plain resume of this run is refused (it is completed, its model saved), or None.

    `resume` asks before it says `Resuming:`, so a refused resume prints only its error.
    """
    if (
        state.status == "completed"
        and (run_dir / MODEL_DIR / MANIFEST_FILE).is_file()
        and not extending
        and not last_group_reopened(cfg, run_dir)
    ):
        # a finished run without its model (saved by an older version, or deleted) resumes to rebuild it
        return RunStateError(
            f"{run_dir} is already completed; see: hyperopt results {run_dir} "
            f"(more trials: hyperopt resume {run_dir} --more-trials N)"
        )
    return None


def repair_torn_journals(cfg: OptimizationConfig, run_dir: Path, events: EventSink) -> None:
    """Drop a torn last line (a power cut mid-append) from each journal file before this owner appends to it.

    Any other damage is refused by `scan_journal` (RunStateError, exit 6).
    """
    store = RunStorage(cfg, run_dir)
    if store.kind != storage_kind.JOURNAL_FILES:
        return
    for group in (*cfg.groups_to_run(), CONTROL):
        path = store.study_file(group)
        if path is None or not path.is_file():
            continue
        dropped = drop_torn_tail(path)
        if dropped:
            events.emit(
                RunWarning(
                    message=f"{path.name}: dropped a torn last line ({dropped} bytes, a record cut "
                    "off mid-write, e.g. by a power cut); the records before it are kept"
                )
            )


SUMMARY_FILES = (rundir.STATE_FILE, rundir.RESULTS_FILE, rundir.BEST_PARAMS_FILE, rundir.PID_FILE, rundir.CONFIG_FILE)


def remove_stale_temps(run_dir: Path) -> None:
    """Delete the temp files a killed atomic write left beside the run's summaries (`.state.json.x1y2.tmp`).

    Only the owner calls this, holding the run's lock, before any worker starts: no live
    process is writing one of them then. Only regular files of that exact pattern go.
    """
    for name in SUMMARY_FILES:
        for path in run_dir.glob(f".{name}.*.tmp"):
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)


def _recorded_finished(state: RunState | None, group: str) -> int:
    """The finished trials state.json recorded for `group` (0 when it recorded none or is unreadable)."""
    row = ((state.groups if state is not None else None) or {}).get(group)
    counts = row.n_trials if isinstance(row, GroupState) else None
    value = counts.get("finished") if isinstance(counts, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def check_studies_intact(cfg: OptimizationConfig, run_dir: Path, state: RunState | None) -> None:
    """Refuse a run whose study file of a begun group is missing, emptied or holds fewer trials than recorded.

    Without this a deleted or emptied study file silently restarts its group: every finished
    trial and extension of it is thrown away and the run reports a fresh verdict. Begun means
    state.json recorded finished trials of it, or a later group has a study file (groups run in
    order). The studies are the source of truth, so nothing is rebuilt: the file must be restored.
    """
    store = RunStorage(cfg, run_dir)
    if not store.file_per_group:
        return
    groups = cfg.groups_to_run()
    present = [g for g in groups if _has_content(store.study_file(g))]
    last_present = max((groups.index(g) for g in present), default=-1)
    for index, group in enumerate(groups):
        path = store.study_file(group)
        assert path is not None
        recorded = _recorded_finished(state, group)
        if group in present:
            if recorded:
                _check_count(cfg, store, group, path, recorded)
            continue
        if recorded or index < last_present:
            what = "is empty" if path.exists() else "is missing"
            why = (
                f"state.json recorded {recorded} finished trial(s) of group {group}"
                if recorded
                else f"a later group ({groups[last_present]}) has begun, so {group} ran before it"
            )
            raise RunStateError(
                f"study file {path} {what}, but {why}; restore the file from a backup (or the "
                "copy you made) and resume; resuming without it would start the group over"
            )


def _has_content(path: Path | None) -> bool:
    try:
        return path is not None and path.stat().st_size > 0
    except OSError:
        return False


def _check_count(cfg: OptimizationConfig, store: RunStorage, group: str, path: Path, recorded: int) -> None:
    from optuna.trial import TrialState

    study = store.open_readonly(group)
    finished = (
        0
        if study is None
        else sum(
            t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
            for t in study.get_trials(deepcopy=False)
        )
    )
    if finished < recorded:
        raise RunStateError(
            f"study file {path} holds {finished} finished trial(s) of group {group}, but state.json "
            f"recorded {recorded}; restore the file from a backup (or the copy you made) and resume"
        )


def last_group_reopened(cfg: OptimizationConfig, run_dir: Path) -> bool:
    """An extension was recorded but state.json still says completed (a kill -9 between the two writes)."""
    study = RunStorage(cfg, run_dir).open_readonly(cfg.groups_to_run()[-1])
    return study is not None and extension_open(study.user_attrs)


def data_fingerprint(path: str | list[str] | None, n_bars: int) -> dict[str, Any]:
    """What `check_data` records of the data: its path(s), bars and sha256 (of each file, for several).

    A folder or glob (a config given to the Python API unfrozen) counts as the files it names now.
    """
    if isinstance(path, str) and (is_pattern(path) or Path(path).is_dir()):
        files = [str(p) for p in expand_data_paths(path)]
        path = files[0] if len(files) == 1 else files
    if not isinstance(path, list):
        return {"path": path, "bars": n_bars, "sha256": file_sha256(Path(path)) if path else None}
    shas = {entry: file_sha256(Path(entry)) for entry in path}
    combined = hashlib.sha256("".join(f"{entry}\0{sha}\n" for entry, sha in shas.items()).encode()).hexdigest()
    return {"path": list(path), "bars": n_bars, "sha256": combined, "files": shas}


def _changed_file(known: dict[str, Any], fingerprint: dict[str, Any]) -> str:
    """The data file named in the message: the first whose sha256 changed, else the path as configured."""
    old, new = known.get("files") or {}, fingerprint.get("files") or {}
    changed = [entry for entry in new if old.get(entry) != new[entry]]
    if changed:
        return changed[0]
    return ", ".join(fingerprint["path"]) if isinstance(fingerprint["path"], list) else str(fingerprint["path"])


def check_data(cfg: OptimizationConfig, known: JsonObject | None, n_bars: int) -> JsonObject:
    """The data's fingerprint for state.json's `data`; RunStateError if it changed since `known` was recorded.

    `known`: state.json's `data` (None for a new run). `n_bars` is the bars of all symbols
    together when `data.path` is a list.
    """
    fingerprint = data_fingerprint(cfg.data.path, n_bars)
    if known and known.get("sha256") and known != fingerprint:
        raise RunStateError(
            f"data file {_changed_file(known, fingerprint)} changed since the run started (sha256 "
            f"{known['sha256'][:12]} -> {str(fingerprint['sha256'])[:12]}, bars {known.get('bars')} -> "
            f"{fingerprint['bars']}); restore it or start a new run"
        )
    return fingerprint
