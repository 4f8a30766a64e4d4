"""The final evaluation walks forward over the test blocks and states a verdict; a stop resumes at the next block."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cli_helpers import tiny
from hyperopt_cli.core.errors import StopRequested
from hyperopt_cli.run import rundir
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.search.events import EvaluationNote, Event


class BlockEvents:
    """Records the walk-forward block messages; sets the stop event after the first one when asked."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.blocks: list[str] = []
        self.stop = stop

    def emit(self, event: Event) -> None:
        if isinstance(event, EvaluationNote) and event.message.startswith("walk-forward block"):
            self.blocks.append(event.message)
            if self.stop is not None:
                self.stop.set()


@pytest.mark.slow  # a whole search with its final evaluation (~5 s)
def test_results_hold_walk_forward_blocks_and_a_verdict(tmp_path: Path) -> None:
    cfg = tiny("mode=quick", "walk_forward_blocks=3")
    events = BlockEvents()
    results = HyperparameterOptimizer(cfg, tmp_path / "run", events=events).optimize()
    blocks = results["walk_forward"]["blocks"]
    assert [b["block"] for b in blocks] == [0, 1, 2] and len(events.blocks) == 3
    for earlier, later in zip(blocks, blocks[1:]):
        assert earlier["stop"] == later["start"] and later["n_train"] > earlier["n_train"]
    verdict = results["verdict"]
    assert isinstance(verdict["beats_best_baseline"], bool)
    low, high = verdict["interval_macro_f1"]
    assert low <= verdict["delta_macro_f1"] <= high
    assert verdict["beats_best_baseline"] == (low > 0)
    assert verdict["wording"] and verdict["baseline"] in results["walk_forward"]["pooled"]
    assert not list((tmp_path / "run" / "checkpoints").glob("*.pt"))


@pytest.mark.slow  # a full run
def test_a_stop_during_walk_forward_resumes_at_the_next_block(tmp_path: Path) -> None:
    cfg = tiny("mode=quick", "walk_forward_blocks=3")
    run = tmp_path / "run"
    stop = threading.Event()
    first = BlockEvents(stop)
    with pytest.raises(StopRequested):
        HyperparameterOptimizer(cfg, run, events=first).optimize(stop)
    assert len(first.blocks) == 1
    second = BlockEvents()
    resumed = HyperparameterOptimizer.from_run_dir(run, events=second).optimize()
    assert [m.split(":")[0] for m in second.blocks] == ["walk-forward block 2/3", "walk-forward block 3/3"]
    straight = HyperparameterOptimizer(cfg, tmp_path / "straight", events=BlockEvents()).optimize()
    assert resumed["walk_forward"]["pooled"] == straight["walk_forward"]["pooled"]
    assert resumed["verdict"] == straight["verdict"]
    assert rundir.read_json(run / rundir.STATE_FILE)["status"] == "completed"


@pytest.mark.slow  # a full run
def test_results_command_states_the_verdict_in_words(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hyperopt_cli.cli import app

    run = tmp_path / "runs" / "job"
    results = HyperparameterOptimizer(tiny("mode=quick"), run, events=BlockEvents()).optimize()
    shown = CliRunner().invoke(app, ["results", str(run)])
    assert shown.exit_code == 0, shown.output
    assert f"Verdict: {results['verdict']['wording']}" in shown.output
    assert "Walk-forward over 3 test blocks" in shown.output
