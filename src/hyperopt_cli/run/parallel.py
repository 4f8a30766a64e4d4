"""How many processes and torch threads a run uses: the parallel default and each process's thread budget.

Measured on 2 cores (bench/results): N worker processes x 1 torch thread each, sharing
journal storage, gave 1.4-1.9x the trials/hour of one process with N threads, and one
thread per process does not collapse when another program takes a core (torch's OpenMP
threads spin-wait on a descheduled sibling; a single thread has no sibling). So `start`
resolves `workers: 0` (auto) to one worker per usable core x 1 thread, unless the config
pins `workers` or `trainer.num_threads`, asks for MLflow or a single-writer storage, or
`--exact` asks for the one-worker run whose trials are bit-identical however often it
is stopped and resumed. The resolved values are frozen into the run's config.yaml, so a
resume runs with the same processes and threads (a thread count is part of the
arithmetic: it changes the reduction order of the GEMMs).

Torch-free and pure: `choose_parallel` maps a raw config mapping and a core count to a
choice; `apply_parallel_choice` writes it back into the mapping.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hyperopt_cli.core import storage_kind
from hyperopt_cli.core.errors import ConfigError

AUTO = 0  # `workers: 0` / `trainer.num_threads: 0`: let `start` choose
MAX_WORKERS_PER_CORE = 4  # more worker processes than this per usable core only thrash (and fork bombs)


@dataclass(frozen=True)
class ParallelChoice:
    """What a run will use; `why` is what the live header and run.log say."""

    workers: int  # processes sharing the run (the owner plus workers - 1 local workers)
    num_threads: int  # torch intra-op threads per process; 0 keeps torch's default (one per core)
    storage_url: str  # journal files unless the config names a storage
    why: str


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _int(raw: dict[str, Any], *path: str) -> int:
    node: Any = raw
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, int) and not isinstance(node, bool) else AUTO


def choose_parallel(raw: dict[str, Any], cores: int, exact: bool = False) -> ParallelChoice:
    """The processes x threads (and storage) a run of config mapping `raw` uses on `cores` cores.

    A config that leaves storage_url unset gets journal files whatever the process count:
    per storage call they cost 10-30x less than SQLite files (bench/results), which is most
    of the orchestration time of short trials.
    """
    workers, threads = _int(raw, "workers"), _int(raw, "trainer", "num_threads")
    storage = raw.get("storage_url") if isinstance(raw.get("storage_url"), str) else None
    chosen_storage = storage or storage_kind.JOURNAL
    if exact:
        if workers > 1:
            raise ConfigError(f"--exact runs one worker (bit-identical resume), but the config sets workers={workers}")
        return ParallelChoice(
            1, threads or cores, chosen_storage, f"exact: 1 worker x {threads or cores} thread(s), bit-identical resume"
        )
    if workers > MAX_WORKERS_PER_CORE * cores:
        raise ConfigError(
            f"workers={workers} is more than {MAX_WORKERS_PER_CORE} per usable core "
            f"({cores} here, so at most {MAX_WORKERS_PER_CORE * cores}); each worker is a process "
            "with its own copy of the data"
        )
    if workers != AUTO:
        threads = threads or max(1, cores // workers)  # the processes' threads add up to the cores
        return ParallelChoice(
            workers, threads, chosen_storage, f"{workers} worker(s) x {threads} thread(s) (workers set)"
        )
    if threads != AUTO:
        return ParallelChoice(1, threads, chosen_storage, f"1 worker x {threads} thread(s) (trainer.num_threads set)")
    single = _single_process_reason(raw, storage, cores)
    if single is not None:
        return ParallelChoice(1, AUTO, chosen_storage, f"1 worker x torch's default threads ({single})")
    return ParallelChoice(
        cores, 1, chosen_storage, f"{cores} workers x 1 thread, one per core (parallel default; --exact for one worker)"
    )


def _single_process_reason(raw: dict[str, Any], storage: str | None, cores: int) -> str | None:
    if cores < 2:
        return "one usable core"
    if raw.get("use_mlflow") is True:
        return "use_mlflow takes one process"
    if storage is not None and not storage_kind.several_writers(storage):
        return "the storage takes one writer"
    return None


def apply_parallel_choice(raw: dict[str, Any], choice: ParallelChoice) -> dict[str, Any]:
    """`raw` with the choice written in (workers, trainer.num_threads, storage_url); the input is not changed."""
    out = dict(raw)
    trainer = out.get("trainer")
    out["trainer"] = {**(trainer if isinstance(trainer, dict) else {}), "num_threads": choice.num_threads}
    out["workers"] = choice.workers
    out["storage_url"] = choice.storage_url
    return out


def describe_parallel(workers: int, num_threads: int, storage_url: str | None) -> str:
    """How the live header names a resolved config's parallelism, e.g. "2 workers x 1 thread, journal files"."""
    procs = f"{max(workers, 1)} worker{'s' if workers > 1 else ''}"
    threads = (
        "torch's default threads" if num_threads == AUTO else f"{num_threads} thread{'s' if num_threads > 1 else ''}"
    )
    return f"{procs} x {threads}, {storage_kind.kind_of(storage_url)}"
