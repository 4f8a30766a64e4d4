"""Epochs as the budget (issue 31, item 1): trials climb rungs of epochs; only the best reach the top."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from _tiny_data import tiny_data, tiny_model, tiny_trainer
from cli_helpers import hyperopt, load_run_study, write_config
from hyperopt_cli.run.records import with_legacy_defaults
from hyperopt_cli.search.ladder import epoch_rungs, reached, rung_decision, units_at
from hyperopt_cli.search.racing import folds_value
from hyperopt_cli.training.trainer import TrainHooks, train_model
from test_faults import outcome, run_cli

STUDY = "ml_hyperopt_learning_rate"
# Rungs 2 -> 6 over two folds; pruner and racing off, so the ladder alone stops trials.
SETUP: dict[str, Any] = {
    "selection_folds": 2,
    "epochs_per_trial": 6,
    "rung_min_epochs": 2,
    "rung_eta": 3,
    "max_trials_per_group": 5,
    "n_warmup_steps": 1000,
    "race_margin_se": None,
    "data__synthetic__n_bars": 2500,
    "search_space__learning_rate__learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
}


def test_the_rungs_grow_by_eta_up_to_the_top() -> None:
    assert epoch_rungs(36, 4, 3) == [4, 12, 36]
    assert epoch_rungs(20, 4, 3) == [4, 12, 20]  # the top is a rung even off the geometric series
    assert epoch_rungs(12, 4, 2) == [4, 8, 12]
    assert epoch_rungs(4, 4, 3) == [4]  # nothing below the top: no ladder
    assert epoch_rungs(36, 4, None) == [36]


def test_a_rung_ranks_each_trial_at_its_best_epoch_up_to_the_rung() -> None:
    # val_loss, lower is better; two folds of one sub-block. The incumbent is best at epoch 2,
    # but at rung 1 (one epoch) only its first epoch counts.
    incumbent = [[[1.0], [0.1]], [[1.0], [0.1]]]
    ahead_at_one = [[[0.8], [0.9]], [[0.8], [0.9]]]
    assert units_at(incumbent, 1) == [[[1.0]], [[1.0]]]
    promoted = rung_decision(ahead_at_one, [incumbent], rung=0, epochs=1, direction="minimize", eta=3)
    assert promoted.promoted and (promoted.rank, promoted.among, promoted.keep) == (1, 2, 1)
    assert promoted.value == pytest.approx(0.8)
    behind = rung_decision(ahead_at_one, [incumbent], rung=0, epochs=2, direction="minimize", eta=3)
    assert not behind.promoted and behind.rank == 2


def test_only_trials_that_reached_the_rung_on_every_fold_count() -> None:
    raced_after_one_fold = [[[0.1], [0.1]]]
    short = [[[0.1]], [[0.1]]]
    assert not reached(raced_after_one_fold, 2, 2) and not reached(short, 2, 2) and reached(short, 2, 1)
    mine = [[[0.5], [0.5]], [[0.5], [0.5]]]
    alone = rung_decision(mine, [raced_after_one_fold, short], rung=0, epochs=2, direction="minimize", eta=3)
    assert alone.promoted and alone.among == 1


def test_a_longer_training_continues_the_shorter_ones_checkpoint_bit_identically(tmp_path: Path) -> None:
    """A promotion continues the fold's checkpoint: 2 epochs then 5 equal 5 at once, and only 3 are trained."""
    data, cfg = tiny_data(), tiny_trainer(dropout=0.2, scheduler_T_0=2)
    ckpt = tmp_path / "fold.pt"
    first = train_model(data, cfg, tiny_model(), epochs=2, seed=3, checkpoint_path=ckpt, checkpoint_tag="t")
    trained: list[int] = []
    climbed = train_model(
        data,
        cfg,
        tiny_model(),
        epochs=5,
        seed=3,
        checkpoint_path=ckpt,
        checkpoint_tag="t",
        hooks=TrainHooks(on_epoch=lambda m: trained.append(m.epoch)),
    )
    at_once = train_model(data, cfg, tiny_model(), epochs=5, seed=3)
    assert len(first.history) == 2 and climbed.resumed_from_epoch == 2
    assert trained == [0, 1, 2, 3, 4]  # epochs 0-1 re-announced from the checkpoint, 2-4 trained
    assert [m.val_loss for m in climbed.history] == [m.val_loss for m in at_once.history]
    for name, value in at_once.model.state_dict().items():
        assert torch.equal(value, climbed.model.state_dict()[name]), name


def test_old_runs_keep_every_trial_at_epochs_per_trial() -> None:
    assert with_legacy_defaults({"trainer": {}})["rung_eta"] is None


def _trials(run: Path) -> list[Any]:
    return load_run_study(run, STUDY).get_trials(deepcopy=False)


@pytest.fixture(scope="module")
def laddered_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("laddered")
    cfg = write_config(folder, **SETUP)
    done = hyperopt("start", "--config", cfg, "--mode", "quick", "--run-dir", folder / "run", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "run"


@pytest.mark.slow  # laddered_run: a whole `hyperopt start` with the ladder (~14 s); the rung rule's unit tests stay fast
def test_only_promoted_trials_train_the_top_rung_and_only_they_complete(laddered_run: Path) -> None:
    trials = _trials(laddered_run)
    incumbent = trials[0]
    assert incumbent.state.name == "COMPLETE" and incumbent.user_attrs["budget_epochs"] == 6
    assert len(incumbent.intermediate_values) == 2 * 6 and all(len(f) == 6 for f in incumbent.user_attrs["fold_units"])
    stopped = [t for t in trials if t.user_attrs.get("pruned_by") == "rung"]
    assert stopped, "no trial was stopped at the first rung of a 5-trial search keeping the best third"
    for t in stopped:
        record = t.user_attrs["rung_stop"]
        assert t.state.name == "PRUNED" and record["epochs"] == 2 and t.user_attrs["budget_epochs"] == 2
        assert sorted(t.intermediate_values) == [0, 1, 6, 7]  # two epochs of each fold: steps fold * 6 + epoch
        earlier = [e.user_attrs.get("fold_units") for e in trials if e.number < t.number]
        again = rung_decision(t.user_attrs["fold_units"], [u for u in earlier if u], 0, 2, "minimize", 3)
        assert not again.promoted and (again.rank, again.among, again.keep) == (
            record["rank"],
            record["among"],
            record["keep"],
        )
        assert again.rank > again.keep
    completed = [t for t in trials if t.state.name == "COMPLETE"]
    assert all(t.user_attrs["budget_epochs"] == 6 for t in completed)
    for t in completed[1:]:  # a challenger that climbed ranked in the best third at rung 1 among those before it
        earlier = [
            folds_value(units_at(e.user_attrs["fold_units"], 2), "minimize")
            for e in trials
            if e.number < t.number and reached(e.user_attrs.get("fold_units"), 2, 2)
        ]
        mine = folds_value(units_at(t.user_attrs["fold_units"], 2), "minimize")
        assert mine is not None and sum(v <= mine for v in earlier if v is not None) + 1 <= -(-(len(earlier) + 1) // 3)


@pytest.mark.slow  # laddered_run: a whole `hyperopt start` with the ladder (~14 s); the rung rule's unit tests stay fast
def test_trials_and_show_say_the_rung_a_trial_stopped_at(laddered_run: Path) -> None:
    rows = json.loads(hyperopt("trials", laddered_run, "--json", cwd=laddered_run.parent).stdout)
    stopped = {t.number for t in _trials(laddered_run) if t.user_attrs.get("pruned_by") == "rung"}
    assert {r["number"] for r in rows if r["pruned_by"] == "rung"} == stopped
    assert all(r["epochs_run"] == 2 for r in rows if r["number"] in stopped)
    assert all(r["epochs_run"] == 6 for r in rows if r["state"] == "COMPLETE")
    shown = json.loads(
        hyperopt("show", laddered_run, "learning_rate", str(min(stopped)), "--json", cwd=laddered_run.parent).stdout
    )
    assert shown["rung"]["epochs"] == 2 and shown["rung"]["rank"] > shown["rung"]["keep"]
    assert "rung, 2 epochs" in hyperopt("trials", laddered_run, cwd=laddered_run.parent).stdout
    made = hyperopt("report", laddered_run, "--out", laddered_run.parent / "report", cwd=laddered_run.parent)
    assert made.returncode == 0, made.stderr
    assert "2 -&gt; 6 (rungs" in (laddered_run.parent / "report" / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["after_rung:2", "after_epoch:9"])
def test_a_kill_in_the_middle_of_a_promotion_resumes_bit_identical(
    laddered_run: Path, tmp_path: Path, fault: str
) -> None:
    """kill -9 right after a rung decision, and during the incumbent's climb (epoch 9 of 12 reported):
    the resumed run trains and decides the same, every value and results.json equal."""
    cfg = write_config(tmp_path, **SETUP)
    run = tmp_path / "run"
    killed = run_cli("start", "--config", cfg, "--mode", "quick", "--run-dir", run, cwd=tmp_path, fault=fault)
    assert killed.returncode == -9, killed.stderr
    resumed = run_cli("resume", run, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(run) == outcome(laddered_run)


@pytest.mark.slow
def test_workers_share_the_rungs_in_a_full_run(tmp_path: Path) -> None:
    """Full mode, two workers on one journal study per group: every group's trials climb the same ladder."""
    cfg = write_config(
        tmp_path, **{**SETUP, "max_trials_per_group": 4, "heartbeat_interval_s": 0.5, "worker_timeout_s": 5.0}
    )
    run = tmp_path / "run"
    done = hyperopt(
        "start", "--config", cfg, "--mode", "full", "--run-dir", run, "--workers", "2", cwd=tmp_path, timeout=900
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((run / "results.json").read_text())
    workers, groups = set(), list(results["group_results"])
    for group in groups:
        trials = [
            t
            for t in load_run_study(run, f"ml_hyperopt_{group}").get_trials(deepcopy=False)
            if not t.user_attrs.get("surplus")
        ]
        workers.update(t.user_attrs.get("worker") for t in trials)
        for t in trials:
            if t.state.name == "COMPLETE":
                assert t.user_attrs["budget_epochs"] == 6, (group, t.number)
            if t.user_attrs.get("pruned_by") == "rung":
                assert t.user_attrs["rung_stop"]["rank"] > t.user_attrs["rung_stop"]["keep"], (group, t.number)
    assert len(workers) >= 2 and len(groups) >= 6
