"""Golden files: refactors change no behaviour (issue 32, "Typed records and enforced layers").

Issue 32 moves results into typed records and the modules into enforced layers. Such work
must not change a single number a run writes, nor what the readers make of a run written
before it. Two checks hold the line:

- a full `hyperopt start --exact` run of tests/data/golden/tiny.yaml (seed 7, synthetic bars)
  writes results.json byte for byte as tests/data/golden/results.json (slow: a whole search);
- the finished quick run in tests/data/golden/old_run/ (written by the code of 2026-12-07, never
  regenerated: it stands for every older run) reads back through `hyperopt results --json` and
  the HTML report exactly as tests/data/golden/old_run_results.json and old_run_report.html say.

What is normalised, and why:
- results.json: the values of every `seconds`, `duration_s` and `wall_s` key (wall-clock
  durations of trials, groups and the final evaluation) become null. Two runs on one machine
  differ in nothing else (checked on 2026-12-07). Everything else is compared as written: the
  file is re-serialised the way `atomic_write_json` writes it, and that must reproduce the
  run's bytes exactly, so the normalisation cannot hide a change of format.
- `results --json`: the `run` key (the folder the copy sits in).
- the report: that folder wherever it appears, the `Generated <time>` stamp, and the embedded
  PNGs (matplotlib's bytes, not ours); the names of the figures are compared.

The search's numbers depend on the platform (torch's CPU kernels, numpy, scikit-learn,
optuna), so tests/data/golden/environment.json records the one the golden file came from and
the slow check skips elsewhere, saying so.

A deliberate change of behaviour regenerates the golden files: run

    HYPEROPT_REGEN_GOLDEN=1 .venv/bin/pytest tests/test_golden.py -m "slow or not slow"

review `git diff tests/data/golden/` and commit it with the change that explains it. The old
run's own files are never rewritten.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli_helpers import hyperopt
from hyperopt_cli.cli import app
from hyperopt_cli.run import rundir

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
REGEN = os.environ.get("HYPEROPT_REGEN_GOLDEN") == "1"
WALL_CLOCK = frozenset({"seconds", "duration_s", "wall_s"})  # the only keys whose values differ run to run
RUN = "<RUN>"  # where a run's folder stood


def serialised(obj: Any) -> str:
    """The text `atomic_write_json` writes for `obj`."""
    return json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"


def without_wall_clock(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: None if k in WALL_CLOCK else without_wall_clock(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_wall_clock(v) for v in obj]
    return obj


def environment() -> dict[str, str]:
    """What the search's numbers depend on besides the code: library versions and torch's CPU kernels."""
    import numpy
    import optuna
    import sklearn
    import torch

    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "optuna": optuna.__version__,
    }


def matches_golden(name: str, text: str) -> None:
    """`text` equals tests/data/golden/NAME, byte for byte (HYPEROPT_REGEN_GOLDEN=1 writes it instead)."""
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"no {path}: make it with HYPEROPT_REGEN_GOLDEN=1 (see this module's docstring)"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if the change is meant, regenerate with HYPEROPT_REGEN_GOLDEN=1 and commit the diff"
    )


@pytest.mark.slow  # a whole full-mode search with its final evaluation (~10 s)
def test_an_exact_run_writes_results_json_byte_for_byte_as_the_golden_file(tmp_path: Path) -> None:
    env_file = GOLDEN / "environment.json"
    here = environment()
    if REGEN:
        env_file.write_text(serialised(here))
    made_on = json.loads(env_file.read_text())
    if made_on != here:
        pytest.skip(
            f"golden results.json was made with {made_on}, this machine has {here}; "
            "regenerate it here (HYPEROPT_REGEN_GOLDEN=1) before a refactor to compare across it"
        )
    config = shutil.copy(GOLDEN / "tiny.yaml", tmp_path / "tiny.yaml")
    run = tmp_path / "golden"  # the job id is the folder's name
    done = hyperopt(
        "start", "--config", config, "--mode", "full", "--exact", "--run-dir", run, "-q", cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    written = (run / rundir.RESULTS_FILE).read_text(encoding="utf-8")
    results = json.loads(written)
    assert serialised(results) == written  # the re-serialisation is exact: only WALL_CLOCK values are normalised
    assert any(k in WALL_CLOCK for k in results["group_results"]["learning_rate"])  # the keys are still there
    matches_golden("results.json", serialised(without_wall_clock(results)))


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    """A copy of tests/data/golden/old_run (readers may add a lock file, the report its folder)."""
    return Path(shutil.copytree(GOLDEN / "old_run", tmp_path / "runs" / "old_run"))


def test_an_old_runs_results_read_back_unchanged(old_run: Path) -> None:
    shown = CliRunner().invoke(app, ["results", str(old_run), "--json"])
    assert shown.exit_code == 0, shown.output
    answer = json.loads(shown.stdout)
    assert answer.pop("run") == str(old_run)
    assert answer["complete"] is True and answer["status"] == "completed"
    matches_golden("old_run_results.json", serialised({"run": RUN, **answer}))


def test_an_old_runs_report_reads_back_unchanged(old_run: Path) -> None:
    from hyperopt_cli.report.page import write_report

    made = write_report(old_run)
    assert made.missing == {}
    html = made.html.read_text(encoding="utf-8")
    assert "Generated " in html and str(old_run) in html
    html = html.replace(str(old_run), RUN)
    html = re.sub(r"Generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+\-]\d\d:\d\d", "Generated <TIME>", html)
    html = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,<PNG>", html)
    figures = "".join(f"{figure.name}\n" for figure in made.figures)
    matches_golden("old_run_report.html", html)
    matches_golden("old_run_figures.txt", figures)
