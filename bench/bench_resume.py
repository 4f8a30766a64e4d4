"""`hyperopt resume` to its first training step: seconds from launching the process to the first batch.

Builds paused runs once (configs/default.yaml's data and model, quick mode, one worker x 1
thread, stopped after its first epoch) in both storages a run gets: journal files (what
`start`'s parallel default picks on a machine with 2+ cores) and SQLite files (`--exact`,
or one core). Then it launches `python -m hyperopt_cli resume RUN` several times. Each
child has `trainer._train_step` wrapped to print the wall clock at its first call and exit
at once, so the figure is interpreter start + imports + lock + checks + data + first step.
The data preparation alone is timed in the same process for scale.

    python bench/bench_resume.py [--quick] [--out FILE.json] [--src DIR]

`--src` runs the children against another source tree (e.g. an older checkout), so a
before/after pair is measured in one run under the same load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import common

# The child must not import the trainer itself (that would charge torch's import to the
# harness, not to resume): an import hook replaces _train_step when the trainer module loads.
CHILD = r"""
import importlib.abc, importlib.machinery, os, sys, time

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "hyperopt_cli.training.trainer":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = spec.loader
        run = loader.exec_module
        def exec_module(module):
            run(module)
            def first_step(*args, **kwargs):
                print("FIRST_STEP", time.time(), flush=True)
                os._exit(0)
            module._train_step = first_step
        loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, Hook())
from hyperopt_cli.cli import main
sys.argv = ["hyperopt", "resume", sys.argv[1]]
main()
"""


STORAGES = {"journal files": "journal", "sqlite files": None}  # label -> storage_url


def _paused_run_in(workdir: Path, src: str | None, storage: str) -> Path:
    """A paused run made by the source tree `src` (each tree freezes its own config keys)."""
    env = {**os.environ}
    if src:
        env["PYTHONPATH"] = src
    subprocess.run([sys.executable, __file__, "--make-paused", str(workdir), storage], check=True, env=env, timeout=600)
    return workdir / "run"


def _paused_run(workdir: Path, storage_url: str | None) -> Path:
    from hyperopt_cli.core.errors import StopRequested
    from hyperopt_cli.run.optimizer import HyperparameterOptimizer

    raw = {
        **common.read_yaml("configs/default.yaml"),
        "mode": "quick",
        "max_trials_per_group": 3,
        "workers": 1,
        "storage_url": storage_url,
    }
    import dataclasses

    from hyperopt_cli.config import TrainerConfig

    known = {f.name for f in dataclasses.fields(TrainerConfig)}  # an older tree lacks newer keys
    raw["trainer"] = {k: v for k, v in {**raw.get("trainer", {}), "num_threads": 1}.items() if k in known}
    cfg = common.make_cfg(raw)
    run = workdir / "run"
    stop = threading.Event()

    class StopAfterFirstEpoch:
        def emit(self, event: Any, **data: Any) -> None:  # an older tree (--src) emits ("epoch", **data)
            if getattr(event, "kind", event) == "epoch":
                stop.set()

    try:
        HyperparameterOptimizer(cfg, run, events=StopAfterFirstEpoch()).optimize(stop)
    except StopRequested:
        pass
    return run


def _one(run: Path, src: str | None) -> float:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if src:
        env["PYTHONPATH"] = src
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(run)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("FIRST_STEP")), None)
    if line is None:
        raise RuntimeError(f"resume never reached a training step:\n{out.stdout}\n{out.stderr}")
    return float(line.split()[1]) - start


def run(quick: bool = False, src: list[str] | None = None) -> dict[str, Any]:
    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import DataPreparer

    repeats = 2 if quick else 5
    cases = [(s, label) for s in (src or [None]) for label in STORAGES]
    with tempfile.TemporaryDirectory(prefix="bench_resume_") as tmp:
        paused = {
            (s, label): _paused_run_in(Path(tmp) / f"{i}", s, str(STORAGES[label]))
            for i, (s, label) in enumerate(cases)
        }
        cfg = common.make_cfg(common.read_yaml("configs/default.yaml"))
        t0 = time.perf_counter()
        DataPreparer.for_run(load_data(cfg), cfg).prepare(cfg.labels)
        prep_s = time.perf_counter() - t0
        times: dict[str, list[float]] = {f"{s or 'this tree'}, {label}": [] for s, label in cases}
        for _ in range(repeats):  # interleaved, so every case sees the same load
            for s, label in cases:
                times[f"{s or 'this tree'}, {label}"].append(_one(paused[(s, label)], s))
    return {
        "what": "seconds from launching `hyperopt resume RUN` to its first training batch (default.yaml size)",
        "data_prep_s": prep_s,
        "repeats": repeats,
        "first_step_s": {k: {"median": common.median(v), "min": min(v), "all": v} for k, v in times.items()},
        "load_average": list(os.getloadavg()),
    }


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--src",
        action="append",
        default=None,
        help="a source dir for the children's PYTHONPATH (repeatable; default: this tree)",
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make-paused"]:
        _paused_run(Path(sys.argv[2]), None if sys.argv[3] == "None" else sys.argv[3])
        sys.exit(0)
    common.bench_main(run, __doc__, _extra)
