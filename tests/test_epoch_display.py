"""One epoch convention for people: counted from 1 in trials, show, the log and the report; durations are training time."""

from __future__ import annotations

import datetime as dt

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.cli.trials import trial_row
from hyperopt_cli.run.events import describe
from hyperopt_cli.search.events import EpochEnd

START = dt.datetime(2026, 12, 1, 12, 0, 0)


def _trial(state: TrialState, steps: dict[int, float], attrs: dict[str, object], wall_s: float) -> FrozenTrial:
    return FrozenTrial(
        number=3,
        state=state,
        value=0.4 if state == TrialState.COMPLETE else None,
        values=None,
        datetime_start=START,
        datetime_complete=START + dt.timedelta(seconds=wall_s),
        params={"learning_rate": 0.01},
        distributions={"learning_rate": FloatDistribution(1e-4, 1e-1)},
        user_attrs=attrs,
        system_attrs={},
        intermediate_values=steps,
        trial_id=3,
    )


def test_a_trial_pruned_after_its_second_epoch_says_pruned_at_2_of_2_epochs() -> None:
    row = trial_row("learning_rate", _trial(TrialState.PRUNED, {0: 0.3, 1: 0.2}, {"train_seconds": 1.1}, 41.4))
    assert row["epochs_run"] == 2 and row["pruned_at"] == 2


def test_a_trial_pruned_in_its_second_fold_says_the_epoch_within_that_fold() -> None:
    # 4 epochs per fold: steps 0-3 are fold 1, step 5 is fold 2's second epoch.
    attrs = {"train_seconds": 1.1, "pruned_in_fold": 2, "pruned_at_epoch": 2}
    row = trial_row("learning_rate", _trial(TrialState.PRUNED, {s: 0.3 for s in range(6)}, attrs, 9.0), 4)
    assert row["pruned_at"] == 2 and row["pruned_in_fold"] == 2
    # Not "6 epochs" (the fold x epoch steps): 2 epochs into its second fold, of 4 per fold.
    assert row["epochs_run"] == 2 and row["folds_run"] == 2


def test_epochs_run_never_exceeds_epochs_per_trial() -> None:
    # 3 folds x 2 epochs: a complete trial reported 6 steps, and ran 2 epochs in each of 3 folds.
    steps = {s: 1.09 for s in range(6)}
    row = trial_row(
        "learning_rate", _trial(TrialState.COMPLETE, steps, {"history": [{"epoch": 0}, {"epoch": 1}]}, 5), 2
    )
    assert (row["epochs_run"], row["folds_run"]) == (2, 3)
    # Pruned in fold 2, epoch 1 (step 4 with 4 epochs per fold): not "epochs 5".
    pruned = trial_row("learning_rate", _trial(TrialState.PRUNED, {s: 1.1 for s in range(5)}, {}, 5), 4)
    assert (pruned["epochs_run"], pruned["folds_run"], pruned["pruned_at"], pruned["pruned_in_fold"]) == (1, 2, 1, 2)


def test_a_pruned_value_is_marked_partial_and_sorts_after_complete_ones() -> None:
    from hyperopt_cli.cli.trials import _ordered

    pruned = trial_row("g", _trial(TrialState.PRUNED, {0: 1.063}, {}, 1), 2)
    complete = trial_row("g", _trial(TrialState.COMPLETE, {0: 1.08, 1: 1.0711}, {}, 1), 2)
    complete["value"] = 1.0711
    assert pruned["value"] == pytest.approx(1.063) and pruned["partial"] is True and complete["partial"] is False
    # val_loss is minimised: 1.063 would sort first, above the real best, were it comparable.
    assert [r["partial"] for r in _ordered([pruned, complete], "value", maximize=False)] == [False, True]


def test_a_running_trial_without_a_live_process_reads_paused() -> None:
    running = _trial(TrialState.RUNNING, {0: 0.3}, {"worker": "h:1:2.0"}, 1)
    assert trial_row("g", running, 2, alive=lambda key: False)["state"] == "PAUSED"
    assert trial_row("g", running, 2, alive=lambda key: True)["state"] == "RUNNING"


def test_liveness_tells_a_dead_local_worker(tmp_path: object) -> None:
    import socket
    import subprocess
    import sys

    import psutil

    from hyperopt_cli.cli.trials import liveness

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    created = round(psutil.Process(child.pid).create_time(), 2)
    child.wait()
    me = psutil.Process()
    alive = liveness(tmp_path)  # type: ignore[arg-type]
    assert not alive(f"{socket.gethostname()}:{child.pid}:{created:.2f}")
    assert alive(f"{socket.gethostname()}:{me.pid}:{round(me.create_time(), 2):.2f}")


def test_the_log_counts_the_same_way() -> None:
    line = describe(EpochEnd(group="g", trial=3, epoch=1, epochs=2, value=0.2, metrics={}))
    assert "epoch 2/2" in line


@pytest.mark.parametrize(
    "attrs, expected",
    [
        ({"train_seconds": 1.04}, 1.04),  # 41.4 s of wall time, most of it paused
        ({"history": [{"epoch": 0, "seconds": 0.5}, {"epoch": 1, "seconds": 0.6}]}, 1.1),
        ({}, 41.4),  # a trial from an older version without timings: wall time is all there is
    ],
)
def test_duration_is_training_time_not_wall_time(attrs: dict[str, object], expected: float) -> None:
    row = trial_row("learning_rate", _trial(TrialState.COMPLETE, {0: 0.3, 1: 0.4}, attrs, 41.4))
    assert row["duration_s"] == pytest.approx(expected)


def test_the_collapse_warning_counts_epochs_from_1() -> None:
    import dataclasses

    from hyperopt_cli.training.trainer import EpochMetrics, _collapse_warning

    fields = {f.name: 0.0 for f in dataclasses.fields(EpochMetrics)}
    fields.update(epoch=0, pred_distribution=[0.0, 0.95, 0.05])
    metrics = EpochMetrics(**fields)  # type: ignore[arg-type]
    assert _collapse_warning(metrics).startswith("mode collapse at epoch 1:")
