"""`hyperopt report`: one self-contained HTML file and valid PNGs, for a finished run and a paused one."""

from __future__ import annotations

import base64
import json
import re
import struct
import threading
import time
import traceback
from pathlib import Path

import pytest

from cli_helpers import hyperopt, tiny
from hyperopt_cli.core.errors import RunStateError, StopRequested
from hyperopt_cli.report.page import SECTIONS, write_report
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.search.events import EpochEnd, Event

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, checking its signature and IHDR chunk; raises on anything else."""
    assert data[:8] == PNG_MAGIC, "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert width > 50 and height > 50
    return width, height


def check_pngs(paths: list[Path]) -> None:
    from PIL import Image  # a dependency of matplotlib

    for path in paths:
        png_size(path.read_bytes())
        with Image.open(path) as image:
            image.verify()


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


class StopInSecondGroup:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def emit(self, event: Event) -> None:
        if isinstance(event, EpochEnd) and event.group == "regularization" and event.trial == 1:
            self.stop.set()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    HyperparameterOptimizer(tiny("mode=full", "max_trials_per_group=3", "n_warmup_steps=1"), run).optimize()
    return run


@pytest.fixture(scope="module")
def paused_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("paused") / "run"
    stop = threading.Event()
    with pytest.raises(StopRequested):
        HyperparameterOptimizer(
            tiny("mode=full", "max_trials_per_group=3", "n_warmup_steps=1"), run, events=StopInSecondGroup(stop)
        ).optimize(stop)
    return run


@pytest.mark.slow  # a full run
def test_report_of_a_finished_run_has_every_section_and_valid_images(finished_run: Path) -> None:
    report = write_report(finished_run)
    assert report.html == finished_run / "report" / "report.html"
    page = report.html.read_text(encoding="utf-8")
    for section_id, title in SECTIONS:
        assert f'<section id="{section_id}">' in page and title in page
    assert report.missing == {}, report.missing  # nothing left "not available yet"
    names = {p.name for p in report.figures}
    for group in ("learning_rate", "regularization", "class_balance", "augmentation", "scheduler", "triple_barrier"):
        assert {
            f"history_{group}.png",
            f"importance_{group}.png",
            f"curves_{group}.png",
            f"parallel_{group}.png",
            f"slice_{group}.png",
        } <= names
    assert {"confusion.png", "labels.png", "equity.png", "predictions.png"} <= names
    check_pngs(report.figures)
    embedded = embedded_pngs(page)  # one file: every figure inline, nothing fetched
    assert len(embedded) == len(report.figures)
    assert sorted(embedded) == sorted(p.read_bytes() for p in report.figures)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    results = json.loads((finished_run / "results.json").read_text())
    assert "logistic_regression" in page and "majority_class" in page
    assert f"{results['test_metrics']['macro_f1']:.4f}" in page
    for name in results["fixed_params"]:
        assert name in page.split('id="fixed-params"')[1]
    assert "<th>PBO</th>" in page and f"probability of backtest overfitting {results['pbo']:.2f}" in page


def test_report_of_a_paused_run_shows_what_exists(paused_run: Path) -> None:
    report = write_report(paused_run)
    page = report.html.read_text(encoding="utf-8")
    for section_id, _ in SECTIONS:
        assert f'<section id="{section_id}">' in page
    assert "[paused]" in page
    names = {p.name for p in report.figures}
    assert {"history_learning_rate.png", "importance_learning_rate.png", "curves_learning_rate.png"} <= names
    assert "labels.png" in names and "confusion.png" not in names
    assert not any("scheduler" in n for n in names)  # not started
    assert set(report.missing) >= {"confusion", "baselines", "verdict", "equity", "predictions"}
    assert {"parallel_learning_rate.png", "slice_learning_rate.png"} <= names
    assert "scheduler: importance needs at least 2 complete trials, 0 so far" in page
    for section in ("confusion", "baselines"):
        assert "not available yet" in page.split(f'id="{section}"')[1].split("</section>")[0]
    check_pngs(report.figures)
    assert len(embedded_pngs(page)) == len(report.figures)


def test_report_on_a_non_run_dir_is_a_run_state_error(tmp_path: Path) -> None:
    with pytest.raises(RunStateError, match="not a run directory"):
        write_report(tmp_path)


@pytest.mark.slow  # a full run
def test_report_command(finished_run: Path, tmp_path: Path) -> None:
    result = hyperopt("report", finished_run, cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    assert str(finished_run / "report" / "report.html") in result.stdout
    missing = hyperopt("report", tmp_path / "nope", cwd=tmp_path, timeout=120)
    assert missing.returncode == 6 and missing.stderr.startswith("Error: run not found: ")


def _read_everything(run: Path, readable: set[str]) -> int:
    """One pass of what a dashboard or a curious user does: open every study DB and read all of it.

    A DB the owner is still setting up (tables, schema version) may refuse a read-only reader
    once or twice; once a DB has been read (its name is in `readable`) every later error fails.
    """
    import optuna
    import sqlalchemy

    from hyperopt_cli.report.page import readonly_storage

    reads = 0
    for db in sorted(run.glob("*.db")):
        try:
            summaries = optuna.get_all_study_summaries(readonly_storage(db))
        except (sqlalchemy.exc.OperationalError, optuna.exceptions.StorageInternalError, AssertionError, RuntimeError):
            if db.name in readable:
                raise
            continue  # being set up right now; the next pass reads it
        for summary in summaries:
            study = optuna.load_study(study_name=summary.study_name, storage=readonly_storage(db))
            study.get_trials(deepcopy=False)
            _ = study.user_attrs, study.best_trials
            # and through a plain read-write URL, as optuna-dashboard does, once the study exists (with a
            # long lock timeout: the dashboard's default 5 s can expire on a loaded machine, an error of
            # the reader's, never of the run's)
            plain = optuna.storages.RDBStorage(f"sqlite:///{db}", engine_kwargs={"connect_args": {"timeout": 60}})
            optuna.load_study(study_name=summary.study_name, storage=plain).get_trials(deepcopy=False)
            reads += 1
        if summaries:
            readable.add(db.name)
    return reads


@pytest.mark.slow
def test_readers_never_disturb_a_live_run(tmp_path: Path) -> None:
    """Read the studies in a tight loop, ask `hyperopt status` and write reports while a real run writes them."""
    from cli_helpers import spawn, wait_for, write_config

    # SQLite files: the storage whose readers can lock out the writer (journal files are append-only logs)
    config = write_config(
        tmp_path, mode="full", epochs_per_trial=2, max_trials_per_group=2, n_warmup_steps=2, storage_url="sqlite"
    )
    run = tmp_path / "run"
    proc = spawn("start", "--config", config, "--run-dir", run, cwd=tmp_path)
    reads: list[int] = []
    readable: set[str] = set()
    errors: list[str] = []

    def reader() -> None:
        while proc.poll() is None:
            try:
                reads.append(_read_everything(run, readable))
                time.sleep(0.01)
            except BaseException:  # a reader error is a test failure too
                errors.append(traceback.format_exc())
                return

    thread = threading.Thread(target=reader, daemon=True)
    try:
        wait_for(lambda: proc.poll() is not None or any(run.glob("*.db")), timeout=120, what="the first study DB")
        thread.start()
        statuses = reports = 0
        while proc.poll() is None and (statuses < 3 or reports < 2):
            status = hyperopt("status", run, "--json", cwd=tmp_path, timeout=120)
            assert status.returncode == 0, status.stderr
            statuses += 1
            if proc.poll() is None and reports < 2:
                write_report(run, tmp_path / f"report{reports}")
                reports += 1
        out, err = proc.communicate(timeout=300)
        thread.join(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert not errors, "\n".join(errors)
    assert proc.returncode == 0, err
    assert "database is locked" not in err and "Traceback" not in err, err
    assert "database is locked" not in (run / "run.log").read_text()
    assert sum(reads) >= 10 and statuses >= 1 and reports >= 1, (sum(reads), statuses, reports)
    assert len(readable) >= 2, readable  # the reader got into several groups' DBs while they were written
    results = json.loads((run / "results.json").read_text())
    assert all(g["n_trials"]["finished"] == 2 for g in results["group_results"].values())
    assert not {"confusion", "baselines", "labels"} & set(write_report(run).missing)  # the finished run in full
