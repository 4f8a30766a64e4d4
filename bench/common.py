"""Shared helpers of the bench suite: machine description, configs, timing, JSON output.

Every bench module imports this as ``common`` (run_all.py and the modules put bench/ on
sys.path), exposes ``run(quick: bool) -> dict`` and can be run alone:

    python bench/bench_<name>.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_EURUSD = (REPO.parent / "shared" / "data" / "EURUSD_H1.csv").resolve()

if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    import numpy
    import optuna
    import torch

    return {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "mem_gib": mem_total_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads_default": torch.get_num_threads(),
        "onednn": bool(torch.backends.mkldnn.is_available()),
        "optuna": optuna.__version__,
        "numpy": numpy.__version__,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def make_cfg(raw: dict[str, Any]) -> Any:
    """An OptimizationConfig from a raw mapping (validated like a YAML file)."""
    from hyperopt_cli.config import config_from_dict

    return config_from_dict(copy.deepcopy(raw), origin="bench")


def read_yaml(relative: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((REPO / relative).read_text()) or {}


def read_quick_yaml() -> dict[str, Any]:
    return read_yaml("configs/quick.yaml")


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def rnd(x: Any, digits: int = 4) -> Any:
    """Round floats (recursively) for readable JSON."""
    if isinstance(x, float):
        return round(x, digits)
    if isinstance(x, dict):
        return {k: rnd(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [rnd(v, digits) for v in x]
    return x


class SelfTimers:
    """Exclusive ("self") wall time per category of wrapped calls, main thread only.

    A wrapped call nested in another wrapped call is charged to its own category and
    subtracted from the caller's, so the categories add up to at most the wall time.
    """

    def __init__(self) -> None:
        self._main = threading.main_thread()
        self.missing: list[str] = []
        self.reset()

    def reset(self) -> None:
        self.self_s: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.other_threads_s: dict[str, float] = defaultdict(float)
        self._stack: list[float] = []

    def wrap(self, category: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not self._main:
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.other_threads_s[category] += time.perf_counter() - t0
            t0 = time.perf_counter()
            self._stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                children = self._stack.pop()
                self.self_s[category] += elapsed - children
                self.calls[category] += 1
                if self._stack:
                    self._stack[-1] += elapsed

        wrapper.__wrapped_by_bench__ = True  # type: ignore[attr-defined]
        return wrapper

    def patch(self, owner: Any, name: str, category: str) -> bool:
        """Wrap `owner.name`; False (nothing done) when the library no longer has that attribute."""
        original = getattr(owner, name, None)
        if original is None:
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
            return False
        if not getattr(original, "__wrapped_by_bench__", False):
            setattr(owner, name, self.wrap(category, original))
        return True


def bench_main(
    run: Callable[..., dict[str, Any]], doc: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> None:
    """The `python bench/bench_X.py [--quick] [--out FILE]` entry point of a module."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the CI-sized variant")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here (default: print only)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    kwargs = {k: v for k, v in vars(args).items() if k not in ("quick", "out")}
    result = run(quick=args.quick, **kwargs)
    text = json.dumps(rnd(result), indent=2)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)


# ---------------------------------------------------------------------------- competing load

# The competing process, `python3 -c "while True: pass"`, that also ends by itself
# when its parent (the bench, whose pid is its argument) dies, so a killed bench never
# leaves a core busy. The parent check runs once per million loop turns (~20 ms): the
# process stays CPU-bound throughout.
BUSY_LOOP = "import os, sys\nwhile os.getppid() == int(sys.argv[1]):\n    for _ in range(1_000_000):\n        pass\n"


def busy_loop_command() -> list[str]:
    """The command line of one busy loop that lives as long as this process."""
    return [sys.executable, "-c", BUSY_LOOP, str(os.getpid())]


@contextlib.contextmanager
def busy_loops(n: int) -> Iterator[list[int]]:
    """`n` CPU-bound busy-loop processes for the duration of the block (their pids); always killed after."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(n):
            procs.append(
                subprocess.Popen(
                    busy_loop_command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()


def git_commit() -> str | None:
    """The repository's HEAD commit (with "+dirty" when tracked files differ), or None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def dated_main(
    run: Callable[..., dict[str, Any]], markdown: Callable[[dict[str, Any]], str], doc: str, stem: str, quick_help: str
) -> None:
    """The CLI of a bench that writes bench/results/<stem>-DATE.json and .md: `--quick`, `--out`."""
    import datetime

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", type=Path, default=None, help=f"JSON path (default: bench/results/{stem}-DATE.json)")
    args = parser.parse_args()
    result = {"machine": machine_info(), **run(quick=args.quick)}
    name = f"{stem}-quick" if args.quick else stem
    out = args.out or BENCH_DIR / "results" / f"{name}-{datetime.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rnd(result), indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(f"wrote {out} and {out.with_suffix('.md')}", file=sys.stderr)
