"""Helpers for tests that run the real `hyperopt` entry point in subprocesses."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from hyperopt_cli.config import OptimizationConfig

TINY_CONFIG: dict[str, Any] = {
    "epochs_per_trial": 1,
    "max_trials_per_group": 2,
    "n_startup_trials": 1,
    "n_warmup_steps": 0,
    "seed": 7,
    "ensemble_seeds": 1,  # the default (3) triples the final evaluation; tests of ensembles set their own
    "selection_folds": 1,  # the default (3) trains every trial 3 times; tests of folds set their own
    "data": {"window": 8, "synthetic": {"n_bars": 1500}},
    "model": {"hidden_size": 4, "num_layers": 1},
    "trainer": {"batch_size": 64, "eval_batch_size": 512, "num_threads": 1},
    # tiny architectures and windows, with the configured ones among them (the model group's incumbent)
    "search_space": {
        "learning_rate": {"batch_size": {"choices": [32, 64]}},
        "model": {
            "hidden_size": {"choices": [4, 8]},
            "num_layers": {"low": 1, "high": 2},
            "window": {"choices": [8, 16]},
        },
    },
}


def tiny_raw(*overrides: str) -> dict[str, Any]:
    """A fresh copy of TINY_CONFIG (the caller may change it) with `--set KEY=VALUE` overrides applied."""
    from hyperopt_cli.config import apply_overrides

    return apply_overrides(copy.deepcopy(TINY_CONFIG), list(overrides))


def tiny(*overrides: str) -> OptimizationConfig:
    """The tiny config, validated: what `start --config tiny.yaml --set ...` would run."""
    from hyperopt_cli.config import config_from_dict

    return config_from_dict(tiny_raw(*overrides))


def write_config(folder: Path, **overrides: Any) -> Path:
    """tiny.yaml in `folder`: TINY_CONFIG with `section__key=value` overrides (any YAML value)."""
    cfg = tiny_raw()
    for key, value in overrides.items():
        node = cfg
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONUNBUFFERED"] = "1"
    out["OMP_NUM_THREADS"] = "1"
    return out


def hyperopt(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", *map(str, args)],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def into_closed_pipe(*args: str | Path, cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """(exit code, stderr) of `hyperopt ARGS` whose stdout reader is gone before it writes (`| head -c 0`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperopt_cli", *map(str, args)],
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader goes away first, so the first write meets a broken pipe, every time
    _, stderr = proc.communicate(timeout=timeout)
    return proc.returncode, stderr


def spawn(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hyperopt_cli", *map(str, args)],
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_state(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(predicate: Callable[[], bool], timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_running_epoch(run_dir: Path, proc: subprocess.Popen[str], min_epochs_seen: int = 1) -> None:
    """Wait until the run has reported at least one epoch of some trial (so it is mid-training)."""

    def ready() -> bool:
        assert proc.poll() is None, f"run exited early: {proc.communicate()}"
        state = read_state(run_dir)
        return state.get("status") == "running" and (state.get("progress") or {}).get("current_epoch") is not None

    wait_for(ready, what="a reported epoch")


def interrupt(proc: subprocess.Popen[str], sig: int = signal.SIGINT, timeout: float = 60) -> int:
    proc.send_signal(sig)
    proc.communicate(timeout=timeout)
    return proc.returncode


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Kills `proc` if the block leaves it running (a failed assertion) and always collects its output."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def assert_paused(proc: subprocess.Popen[str], run_dir: Path) -> None:
    """The stopped run's process exits 130 and leaves the run paused (resumable)."""
    assert proc.wait(timeout=60) == 130
    assert read_state(run_dir)["status"] == "paused"


def study_storages(run_dir: Path) -> list[Any]:
    """An Optuna storage per study file of a run: journal files (what `start` gives) and SQLite files."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    storages: list[Any] = [f"sqlite:///{db}" for db in sorted(run_dir.glob("*.db"))]
    for journal in sorted(run_dir.glob("*.journal")):
        storages.append(JournalStorage(JournalFileBackend(str(journal), lock_obj=JournalFileOpenLock(str(journal)))))
    return storages


def load_run_study(run_dir: Path, study_name: str) -> Any:
    """A study of a run by name, whichever kind of study file holds it."""
    import optuna

    for storage in study_storages(run_dir):
        if study_name in optuna.get_all_study_names(storage):
            return optuna.load_study(study_name=study_name, storage=storage)
    raise KeyError(f"no study {study_name} in {run_dir}")


def trial_table(run_dir: Path) -> list[tuple[Any, ...]]:
    """(study, number, state, params, value) of every trial in every study file of a run."""
    import optuna

    rows = []
    for storage in study_storages(run_dir):
        for summary in optuna.get_all_study_summaries(storage):
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            for t in study.get_trials(deepcopy=False):
                rows.append(
                    (
                        summary.study_name,
                        t.number,
                        t.state.name,
                        tuple(sorted(t.params.items())),
                        t.value,
                        tuple(sorted(t.intermediate_values.items())),
                    )
                )
    return sorted(rows, key=lambda r: (r[0], r[1]))
