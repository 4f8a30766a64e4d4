"""Folds raced against the incumbent (issue 31, item 2): a challenger behind it after a fold stops there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import hyperopt, load_run_study, write_config
from hyperopt_cli.run.records import with_legacy_defaults
from hyperopt_cli.search.racing import fold_units, folds_value, race, rank_among
from hyperopt_cli.search.selection import FoldCurve
from test_faults import outcome, run_cli

STUDY = "ml_hyperopt_learning_rate"
# Three folds of two epochs; the percentile pruner off (warm-up beyond every step), so racing alone prunes.
SETUP: dict[str, Any] = {
    "selection_folds": 3,
    "epochs_per_trial": 2,
    "max_trials_per_group": 5,
    "n_warmup_steps": 1000,
    "data__synthetic__n_bars": 2500,
    "search_space__learning_rate__learning_rate": {"type": "categorical", "choices": [0.001, 1e-6]},
}


def folds(*per_fold: list[list[float]]) -> list[list[list[float]]]:
    return [list(f) for f in per_fold]


def test_a_challenger_clearly_behind_stops_and_one_ahead_goes_on() -> None:
    incumbent = folds([[1.0, 1.0, 1.0, 1.0]], [[1.0, 1.0, 1.0, 1.0]])
    behind = folds([[1.2, 1.3, 1.2, 1.3]])  # val_loss: higher is worse
    ahead = folds([[0.9, 0.95, 0.9, 0.95]])
    stop = race(behind, incumbent, "minimize", margin_se=1.0)
    assert not stop.go_on and stop.folds == 1 and stop.n_units == 4 and stop.delta == pytest.approx(-0.25)
    assert race(ahead, incumbent, "minimize", margin_se=1.0).go_on
    # the same numbers read as a score to maximise: the roles swap
    assert race(behind, incumbent, "maximize", margin_se=1.0).go_on
    assert not race(ahead, incumbent, "maximize", margin_se=1.0).go_on


def test_the_margin_lets_a_challenger_within_noise_go_on() -> None:
    incumbent = folds([[1.0, 1.0, 1.0, 1.0]])
    slightly_behind = folds([[1.0, 1.2, 0.9, 1.1]])  # mean gain -0.05, SE about 0.065
    assert not race(slightly_behind, incumbent, "minimize", margin_se=0.0).go_on
    within = race(slightly_behind, incumbent, "minimize", margin_se=1.0)
    assert within.go_on and -within.se < within.delta < 0


def test_each_side_is_judged_at_its_own_best_epoch_over_the_folds_so_far() -> None:
    # the incumbent's second epoch is its best; the challenger's first; only fold 1 is compared
    incumbent = folds([[1.5, 1.5], [1.0, 1.0]], [[9.0, 9.0], [9.0, 9.0]])
    challenger = folds([[1.1, 1.1], [2.0, 2.0]])
    decision = race(challenger, incumbent, "minimize", margin_se=0.0)
    assert decision.delta == pytest.approx(-0.1) and decision.n_units == 2 and not decision.go_on


def test_without_comparable_units_the_challenger_goes_on() -> None:
    incumbent = folds([[1.0, 1.0, 1.0]])
    assert race(folds([[5.0, 5.0]]), incumbent, "minimize", 0.0).go_on  # different sub-block counts
    assert race(folds([[5.0, 5.0, 5.0]]), [], "minimize", 0.0).go_on  # no incumbent folds
    assert race(folds([[float("nan"), 5.0, 5.0]]), incumbent, "minimize", 0.0).go_on


def test_fold_units_are_the_selection_sub_blocks_of_each_epoch() -> None:
    history = [
        {"val_loss": 1.0, "val_blocks": {"val_loss": [1.0, 2.0, 3.0, 4.0]}},
        {"val_loss": 0.5, "val_blocks": {"val_loss": [0.5, 0.6, 0.7, 0.8]}},
    ]
    curve = FoldCurve(history=history, prior_loss=1.1, prior_blocks=[1.1] * 4)
    assert fold_units(curve, "val_loss", confirm_share=0.5) == [[1.0, 2.0], [0.5, 0.6]]
    assert fold_units(curve, "val_loss", confirm_share=0.0) == [[1.0, 2.0, 3.0, 4.0], [0.5, 0.6, 0.7, 0.8]]
    skill = fold_units(curve, "val_skill", confirm_share=0.5)
    assert skill[0] == pytest.approx([1 - 1.0 / 1.1, 1 - 2.0 / 1.1])


def test_successive_halving_keeps_the_best_third_of_the_trials_so_far() -> None:
    # val_loss: lower is better; with the challenger, 3 values -> ceil(3/3) = 1 goes on
    assert rank_among(0.9, [1.0, 1.1], "minimize", eta=3) == (True, 1, 3, 1)
    assert rank_among(1.05, [1.0, 1.1], "minimize", eta=3) == (False, 2, 3, 1)
    # 6 values -> the best 2 go on; a tie goes to the earlier trial
    assert rank_among(1.0, [0.9, 1.0, 1.2, 1.3, 1.4], "minimize", eta=3) == (False, 3, 6, 2)
    assert rank_among(0.95, [0.9, 1.0, 1.2, 1.3, 1.4], "minimize", eta=3) == (True, 2, 6, 2)
    assert rank_among(1.2, [1.0, 1.1], "maximize", eta=3)[0] and not rank_among(0.9, [1.0, 1.1], "maximize", eta=3)[0]
    assert rank_among(None, [1.0], "minimize", eta=3)[0]


def test_folds_value_is_the_objective_over_the_folds_so_far() -> None:
    two_folds = folds([[1.0, 1.2], [0.8, 0.8]], [[1.0, 1.0], [0.6, 0.6]])  # epoch 2 is best: (0.8 + 0.6) / 2
    assert folds_value(two_folds, "minimize") == pytest.approx(0.7)
    assert folds_value(two_folds[:1], "minimize") == pytest.approx(0.8)


def test_a_run_written_before_racing_resumes_without_it() -> None:
    assert with_legacy_defaults({"trainer": {}})["race_margin_se"] is None
    assert with_legacy_defaults({"trainer": {}})["race_eta"] is None
    assert with_legacy_defaults({"race_margin_se": 2.0, "trainer": {}})["race_margin_se"] == 2.0


def _trials(run: Path) -> list[Any]:
    return load_run_study(run, STUDY).get_trials(deepcopy=False)


@pytest.fixture(scope="module")
def raced_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("raced")
    cfg = write_config(folder, **SETUP, race_margin_se=0.0, race_eta=3)
    done = hyperopt("start", "--config", cfg, "--mode", "quick", "--run-dir", folder / "run", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "run"


@pytest.mark.slow  # raced_run: a whole `hyperopt start` (~9 s); the race rule's unit tests stay fast
def test_a_raced_out_trial_stops_after_the_fold_that_decided_it(raced_run: Path) -> None:
    trials = _trials(raced_run)
    incumbent = trials[0]
    assert incumbent.user_attrs.get("incumbent") and incumbent.state.name == "COMPLETE"
    assert len(incumbent.user_attrs["fold_units"]) == 3 and len(incumbent.intermediate_values) == 3 * 2
    raced = [t for t in trials if t.user_attrs.get("pruned_by") == "race"]
    assert raced, "no challenger was raced out of a search where every one trails the incumbent"
    for t in raced:
        record, mine = t.user_attrs["raced_out"], t.user_attrs["fold_units"]
        assert t.state.name == "PRUNED" and len(mine) == record["after_fold"] < 3
        assert len(t.intermediate_values) == record["after_fold"] * 2  # only the folds it trained
        again = race(mine, incumbent.user_attrs["fold_units"], "minimize", 0.0)
        assert again.delta == pytest.approx(record["delta"])
        if again.go_on:  # within the incumbent's bar: the trials before it outranked it
            earlier = [
                folds_value(e.user_attrs["fold_units"][: len(mine)], "minimize")
                for e in trials
                if e.number < t.number and len(e.user_attrs.get("fold_units") or []) >= len(mine)
            ]
            go_on, rank, among, keep = rank_among(folds_value(mine, "minimize"), earlier, "minimize", 3)
            assert not go_on and (rank, among, keep) == (record["rank"], record["among"], record["keep"])


@pytest.mark.slow  # raced_run: a whole `hyperopt start` (~9 s); the race rule's unit tests stay fast
def test_trials_and_show_say_which_trials_racing_stopped(raced_run: Path) -> None:
    listed = hyperopt("trials", raced_run, "--json", cwd=raced_run.parent)
    rows = json.loads(listed.stdout)
    numbers = {t.number for t in _trials(raced_run) if t.user_attrs.get("pruned_by") == "race"}
    assert {r["number"] for r in rows if r["pruned_by"] == "race"} == numbers
    first = min(numbers)
    shown = json.loads(hyperopt("show", raced_run, "learning_rate", str(first), "--json", cwd=raced_run.parent).stdout)
    assert shown["race"]["after_fold"] == shown["folds_run"] and shown["race"]["margin_se"] == 0.0
    table = hyperopt("trials", raced_run, cwd=raced_run.parent).stdout
    assert "raced, fold" in table


@pytest.mark.slow  # a whole `hyperopt start` run (~9 s)
def test_without_racing_every_trial_trains_every_fold(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, **{**SETUP, "max_trials_per_group": 3}, race_margin_se=None, race_eta=None)
    done = hyperopt("start", "--config", cfg, "--mode", "quick", "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    trials = _trials(tmp_path / "run")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert all(len(t.intermediate_values) == 3 * 2 for t in trials)


@pytest.mark.slow  # a whole `hyperopt start` run (~9 s)
def test_ranking_alone_races_when_the_incumbent_bar_is_off(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, **SETUP, race_margin_se=None, race_eta=2)
    done = hyperopt("start", "--config", cfg, "--mode", "quick", "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    raced = [t.user_attrs["raced_out"] for t in _trials(tmp_path / "run") if t.user_attrs.get("pruned_by") == "race"]
    assert raced and all(r["margin_se"] is None and r["rank"] > r["keep"] for r in raced)


@pytest.mark.slow
def test_a_kill_between_a_race_and_its_record_resumes_bit_identical(raced_run: Path, tmp_path: Path) -> None:
    """kill -9 right after a race decided (not yet stored): the resumed run decides the same, everything equal."""
    cfg = write_config(tmp_path, **SETUP, race_margin_se=0.0, race_eta=3)
    run = tmp_path / "run"
    killed = run_cli("start", "--config", cfg, "--mode", "quick", "--run-dir", run, cwd=tmp_path, fault="after_race:2")
    assert killed.returncode == -9, killed.stderr
    resumed = run_cli("resume", run, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert outcome(run) == outcome(raced_run)
