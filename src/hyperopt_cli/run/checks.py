"""Checks before a session works on a run: a fresh storage, an unedited config, unchanged data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperopt_cli.config import OptimizationConfig, config_from_dict, config_hash, dump_config, mapping_hash, read_yaml
from hyperopt_cli.core.atomic import atomic_write_text
from hyperopt_cli.core.errors import RunStateError
from hyperopt_cli.core.storage_kind import mask_url
from hyperopt_cli.data.sources import expand_data_paths, is_pattern
from hyperopt_cli.model.artifact import MANIFEST_FILE, MODEL_DIR
from hyperopt_cli.run import rundir
from hyperopt_cli.run.events import EventSink
from hyperopt_cli.run.records import with_legacy_defaults
from hyperopt_cli.run.shapes import check_state
from hyperopt_cli.run.state import rebuild_state
from hyperopt_cli.search.storage import CONTROL, RunStorage
from hyperopt_cli.search.study_records import extension_open


@dataclass
class RunDirCheck:
    """What `init_or_check_run_dir` found: how the session began and the state it continues."""

    action: str  # "started" or "resumed"
    state: dict[str, Any]  # state.json's content to continue from
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


def init_or_check_run_dir(cfg: OptimizationConfig, run_dir: Path, events: EventSink,
                          extending: bool = False) -> RunDirCheck:
    """Write config.yaml for a new run, or check a resumed run's config against it.

    `extending`: the session asks for more trials (run/extend.py), so a completed run may resume.
    """
    config_file = run_dir / rundir.CONFIG_FILE
    if not config_file.exists() and extending:
        raise RunStateError(f"{run_dir} has no {rundir.CONFIG_FILE}: more trials extend a run that was started")
    if not config_file.exists():
        check_storage_is_fresh(cfg, run_dir)
        atomic_write_text(config_file, dump_config(cfg))
        started = {"created_at": rundir.now_iso(), "sessions": 1, "elapsed_s": 0.0}
        return RunDirCheck("started", started, mapping_hash(read_yaml(config_file)))
    # The hash is of config.yaml as written at start, so a newer version that adds
    # config keys (with defaults) still resumes runs started by an older one.
    on_disk = read_yaml(config_file)
    frozen = mapping_hash(on_disk)
    if config_hash(config_from_dict(with_legacy_defaults(on_disk))) != config_hash(cfg):
        raise RunStateError(f"{config_file} differs from the config this optimizer was given")
    state = rundir.read_json(run_dir / rundir.STATE_FILE)
    if state is not None:
        check_state(state, run_dir / rundir.STATE_FILE)
    if state is None or "config_hash" not in state:
        events.emit("warning", message="state.json was missing or corrupt; rebuilt from config.yaml and the studies")
        state = rebuild_state(run_dir, cfg)
    elif state["config_hash"] != frozen:
        shown = {**on_disk, "storage_url": mask_url(on_disk.get("storage_url"))}
        changes = config_changes(state.get("config", {}), shown)
        raise RunStateError(
            f"{config_file} was edited since the run started ({'; '.join(changes) or 'hash differs'}); "
            "restore it or start a new run"
        )
    refusal = completed_refusal(cfg, run_dir, state, extending)
    if refusal is not None:
        raise refusal
    state["sessions"] = int(state.get("sessions", 0)) + 1
    return RunDirCheck("resumed", state, frozen)


def completed_refusal(cfg: OptimizationConfig, run_dir: Path, state: dict[str, Any],
                      extending: bool) -> RunStateError | None:
    """Why a plain resume of this run is refused (it is completed, its model saved), or None.

    `resume` asks before it says `Resuming:`, so a refused resume prints only its error.
    """
    if (state.get("status") == "completed" and (run_dir / MODEL_DIR / MANIFEST_FILE).is_file() and not extending
            and not last_group_reopened(cfg, run_dir)):
        # a finished run without its model (saved by an older version, or deleted) resumes to rebuild it
        return RunStateError(f"{run_dir} is already completed; see: hyperopt results {run_dir} "
                             f"(more trials: hyperopt resume {run_dir} --more-trials N)")
    return None


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


def check_data(cfg: OptimizationConfig, state: dict[str, Any], n_bars: int) -> None:
    """Refuse data that changed since the run started; record its fingerprint in `state`.

    `n_bars` is the bars of all symbols together when `data.path` is a list.
    """
    fingerprint = data_fingerprint(cfg.data.path, n_bars)
    known = state.get("data")
    if known and known.get("sha256") and known != fingerprint:
        raise RunStateError(
            f"data file {_changed_file(known, fingerprint)} changed since the run started (sha256 "
            f"{known['sha256'][:12]} -> {str(fingerprint['sha256'])[:12]}, bars {known.get('bars')} -> "
            f"{fingerprint['bars']}); restore it or start a new run"
        )
    state["data"] = fingerprint
