"""At 80 and 120 columns every screen fits and no number is split (issue 33, item 2), in real terminals."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cli_helpers import hyperopt
from hyperopt_cli.cli.screen import Col, fit_table, flow
from hyperopt_cli.search.events import RunWarning
from model_helpers import finished_run
from terminal_helpers import assert_fits, in_terminal, screen_lines

WIDTHS = (80, 120)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    return finished_run(
        tmp_path_factory.mktemp("widths"), "max_trials_per_group=3", "selection_folds=2", "epochs_per_trial=2"
    )


def numbers(text: str) -> set[str]:
    import re

    return set(re.findall(r"-?\d+\.\d{4}", text))


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize(
    "command",
    [
        ["status", "RUN"],
        ["status", "--runs-dir", "RUNS"],
        ["trials", "RUN"],
        ["results", "RUN"],
        ["show", "RUN", "learning_rate", "0"],
    ],
)
@pytest.mark.slow  # a search of 3 trials x 2 folds x 2 epochs with its final evaluation (~10 s)
def test_every_screen_fits_and_keeps_its_numbers_whole(
    run: Any, tmp_path: Path, columns: int, command: list[str]
) -> None:
    run_dir, _, _ = run
    args = [a.replace("RUNS", str(run_dir.parent)).replace("RUN", str(run_dir)) for a in command]
    code, shown = in_terminal(*args, columns=columns, cwd=tmp_path)
    assert code == 0, shown
    assert_fits(shown, columns)
    piped = hyperopt(*args, cwd=tmp_path, timeout=120)  # unwrapped: one line a row
    assert piped.returncode == 0, piped.stderr
    # Every 4-decimal number on the terminal is one the unwrapped output has: none is a fragment.
    assert numbers(shown) <= numbers(piped.stdout), numbers(shown) - numbers(piped.stdout)


@pytest.mark.slow  # a search of 3 trials x 2 folds x 2 epochs with its final evaluation (~10 s)
@pytest.mark.parametrize("columns", WIDTHS)
def test_status_keeps_the_best_value_and_a_readable_verdict(run: Any, tmp_path: Path, columns: int) -> None:
    run_dir, _, results = run
    code, shown = in_terminal("status", "--runs-dir", run_dir.parent, columns=columns, cwd=tmp_path)
    assert code == 0, shown
    assert f"{results['best_value']:.4f}" in shown
    words = (results.get("verdict") or {}).get("wording", "").split()
    lines = [line for line in screen_lines(shown) if line.strip()]
    if words:  # the verdict is readable: never one word a line
        assert any(words[0] in line and words[1] in line for line in lines), shown
    status = json.loads(hyperopt("status", run_dir, "--json", cwd=tmp_path).stdout)
    code, shown = in_terminal("status", run_dir, columns=columns, cwd=tmp_path)
    for name in status["groups"]:
        assert any(line.lstrip("│ ").startswith(name) for line in screen_lines(shown)), shown


def test_fit_table_drops_columns_in_order_and_never_splits_a_word() -> None:
    cols = (Col("group"), Col("best", "right"), Col("best params", prose=True, drop=2), Col("elapsed", drop=1))
    rows = [["regularization", "1.0711 #4", "learning_rate=0.00626 batch_size=32", "0:01:02"]]
    for width, dropped in [(120, []), (56, ["best params"]), (30, ["best params", "elapsed"])]:
        table, gone = fit_table(cols, rows, width)
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(table)
        text = console.file.getvalue()  # type: ignore[attr-defined]
        assert sorted(gone) == sorted(dropped), (width, gone)
        assert max(len(line) for line in text.splitlines()) <= width
        assert "1.0711 #4" in text
        if "best params" not in gone:
            assert "learning_rate=0.00626" in text and "batch_size=32" in text


def test_flow_breaks_only_between_pieces() -> None:
    assert flow(["elapsed 0:01:02", "remaining 3 min of 5 min (4 trials)", "ETA 2026-12-06 21:40"], 40) == [
        "elapsed 0:01:02",
        "remaining 3 min of 5 min (4 trials)",
        "ETA 2026-12-06 21:40",
    ]
    assert flow(["a", "b"], 80) == ["a  b"]


@pytest.mark.parametrize("columns", WIDTHS)
def test_the_live_view_fits(columns: int) -> None:
    from hyperopt_cli.cli.progress import LiveDisplay
    from test_progress import FakeClock, feed_run

    # soft_wrap as the CLI's stderr console has it (cli/app.py): rich wraps nothing the view does not wrap itself
    console = Console(file=io.StringIO(), force_terminal=True, width=columns, color_system=None, soft_wrap=True)
    display = LiveDisplay(console, clock=FakeClock(900.0))
    feed_run(display, display.clock)  # type: ignore[arg-type]
    display.emit(
        RunWarning(
            group="augmentation",
            trial=0,
            message="mode collapse at epoch 1: 95% of validation predictions are SELL, val precision 0.315",
        )
    )
    assert display._run is not None
    display._run = dataclasses.replace(
        display._run,
        run_dir="/home/someone/projects/hyperopt-cli/runs/20261127_215832",
        data="synthetic (6,000 bars)",
        parallel="2 workers x 1 thread, journal files",
    )
    console.print(display.renderable())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert_fits(text, columns)
    assert "0.3900 #4" in text and "ETA " in text and "epoch 2/4" in text
    assert "0.315" in text and "SELL," in text  # a long warning wraps between words, whole
    # The best params are on screen: in the table at 120, under it at 80; each token whole.
    assert "dropout=0.2" in text and "weight_decay=0.0001" in text


@pytest.mark.slow
@pytest.mark.parametrize("columns", WIDTHS)
def test_a_real_run_in_a_real_terminal_fits(tmp_path: Path, columns: int) -> None:
    from cli_helpers import write_config

    cfg = write_config(tmp_path)
    code, shown = in_terminal(
        "start",
        "--config",
        cfg,
        "--mode",
        "quick",
        "--run-dir",
        tmp_path / "run",
        columns=columns,
        cwd=tmp_path,
        timeout=300,
    )
    assert code == 0, shown[-3000:]
    assert_fits(shown, columns)
    assert "Run completed:" in shown
