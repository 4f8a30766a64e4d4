"""The search from Python: groups in order, modes, budgets, failures, collapse, final evaluation."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, TypeVar

import optuna
import pytest

from cli_helpers import tiny
from hyperopt_cli.config import GROUPS, OptimizationConfig
from hyperopt_cli.core.errors import RunStateError, StopRequested
from hyperopt_cli.evaluation.baselines import BASELINES
from hyperopt_cli.run import rundir
from hyperopt_cli.run.optimizer import HyperparameterOptimizer, rebuild_state
from hyperopt_cli.search import storage
from hyperopt_cli.search.events import EpochEnd, Event, RunWarning, TrialEnd, TrialStart
from hyperopt_cli.search.summary import drops_a_class

E = TypeVar("E")


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def named(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


class StopOn(Recorder):
    """Sets the stop event at the first `event` (as Ctrl-C would at that moment)."""

    def __init__(self, kind: type[Event], stop: threading.Event) -> None:
        super().__init__()
        self.kind, self.stop = kind, stop

    def emit(self, event: Event) -> None:
        if isinstance(event, self.kind):
            self.stop.set()


def study(run: Path, cfg: OptimizationConfig, group: str) -> optuna.Study:
    return storage.load_study(cfg, run, group)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OptimizationConfig, dict[str, Any], Recorder]:
    run = tmp_path_factory.mktemp("full") / "run"
    cfg = tiny("mode=full")
    events = Recorder()
    results = HyperparameterOptimizer(cfg, run, events=events).optimize()
    return run, cfg, results, events


@pytest.mark.slow  # a full run
def test_full_mode_writes_the_run_directory(full_run) -> None:
    run, cfg, results, _ = full_run
    assert sorted(p.name for p in run.glob("*.db")) == sorted(f"ml_hyperopt_{g}.db" for g in GROUPS)
    assert list(results["group_results"]) == list(GROUPS)
    assert json.loads((run / "best_params.json").read_text()) == results["best_params"]
    assert json.loads((run / "results.json").read_text()) == results
    assert results["test_metrics"]["n_samples"] > 0
    assert set(results["baselines"]) == set(BASELINES)  # pooled over the walk-forward blocks
    assert results["test_metrics"] == results["walk_forward"]["pooled"]["model"]
    assert (run / "model" / "model.json").is_file()
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "completed" and state["progress"]["groups_completed"] == list(GROUPS)
    assert state["time_estimate"]["total_trials"] == 2 * len(GROUPS)
    for group in GROUPS:
        n = results["group_results"][group]["n_trials"]
        assert n["finished"] == 2 and n["running"] == 0


@pytest.mark.slow  # a full run
def test_fixed_params_grow_group_by_group_in_order(full_run) -> None:
    """Each group's trials record the earlier groups' best values, recomputed here from their studies."""
    run, cfg, results, _ = full_run
    fixed: dict[str, Any] = {}
    for group in GROUPS:
        trials = study(run, cfg, group).trials
        assert trials
        for t in trials:
            assert set(t.params) == set(cfg.search_space[group])
            assert t.user_attrs.get("fixed_params", {}) == fixed, f"{group} trial {t.number}"
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        reported = results["group_results"][group]
        pick = max if reported["direction"] == "maximize" else min
        best = pick(complete, key=lambda t: t.value)
        incumbent = next((t for t in complete if t.user_attrs.get("incumbent")), None)
        if incumbent is not None and drops_a_class(best) and not drops_a_class(incumbent) and not reported["kept"]:
            best = pick([t for t in complete if not drops_a_class(t)], key=lambda t: t.value)
        chosen = next(t for t in complete if t.number == reported["best_trial"])
        if reported["kept"]:  # the incumbent guard kept the values the group started from
            assert chosen.user_attrs.get("incumbent") and reported["challenger"]["trial"] == best.number
        else:
            assert chosen.number == best.number
        assert reported["best_value"] == pytest.approx(chosen.value)
        fixed.update(chosen.params)
    assert results["fixed_params"] == fixed
    assert list(results["fixed_params"]) == [p for g in GROUPS for p in cfg.search_space[g]]


@pytest.mark.slow  # a full run
def test_triple_barrier_group_is_scored_by_skill_over_the_label_prior(full_run) -> None:
    run, cfg, results, _ = full_run
    assert results["group_results"]["triple_barrier"]["metric"] == "val_skill"
    assert results["group_results"]["learning_rate"]["metric"] == "val_loss"
    for t in study(run, cfg, "triple_barrier").trials:
        if t.state.name == "COMPLETE":
            assert "val_f1" in t.user_attrs["metrics"] and "trading_score" in t.user_attrs["metrics"]
            assert t.value < 1.0 and t.value == pytest.approx(t.user_attrs["selection"]["value"])


@pytest.mark.slow  # a full run
def test_results_carry_the_runs_pbo_and_the_chosen_epochs(full_run) -> None:
    run, cfg, results, _ = full_run
    assert results["pbo"] is not None and 0.0 <= results["pbo"] <= 1.0
    assert results["verdict"]["pbo"] == results["pbo"]
    assert "probability of backtest overfitting" in results["verdict"]["wording"]
    for group in GROUPS:
        assert results["group_results"][group]["pbo"] is None or 0.0 <= results["group_results"][group]["pbo"] <= 1.0
    last = results["group_results"][GROUPS[-1]]
    assert results["epochs"] == last["best_epochs"] == 1  # one epoch per trial in the tiny config
    manifest = json.loads((run / "model" / "model.json").read_text())
    assert manifest["training"]["epochs"] == results["epochs"]


@pytest.mark.slow  # a full run
def test_rebuild_state_from_dbs_matches_live_results(full_run) -> None:
    run, cfg, results, _ = full_run
    rebuilt = rebuild_state(run)
    assert rebuilt.status == "completed" and rebuilt.results is not None
    assert rebuilt.results["best_params"] == results["best_params"]
    assert rebuilt.results["group_results"] == results["group_results"]
    assert rebuilt.results["test_metrics"] == results["test_metrics"]


@pytest.mark.slow  # a full run
def test_completed_run_refuses_resume(full_run) -> None:
    run, cfg, _, _ = full_run
    with pytest.raises(RunStateError, match="already completed"):
        HyperparameterOptimizer.from_run_dir(run).optimize()


@pytest.mark.slow  # a whole search with its final evaluation (~8 s)
def test_convergence_ends_a_group_early(tmp_path: Path) -> None:
    cfg = tiny("mode=quick", "max_trials_per_group=10", "convergence_patience=2", "convergence_threshold=1.0")
    results = HyperparameterOptimizer(cfg, tmp_path / "run").optimize()
    group = results["group_results"]["learning_rate"]
    assert group["converged"] is True and group["reason"] == "converged"
    assert group["n_trials"]["finished"] == 3  # the first sets the best, two more cannot beat it by 1.0


@pytest.mark.slow  # a whole search with its final evaluation (~8 s)
def test_time_budget_is_summed_across_restarts(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = tiny("mode=quick", "max_trials_per_group=10", "max_total_time_hours=0.01")  # 36 s in all
    stop = threading.Event()
    with pytest.raises(StopRequested):
        HyperparameterOptimizer(cfg, run, events=StopOn(TrialEnd, stop)).optimize(stop)
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "paused" and 0 < state["elapsed_s"] < 36
    assert state["groups"]["learning_rate"]["n_trials"]["finished"] == 1
    state["elapsed_s"] = 36.0  # as if earlier sessions had used all of it
    rundir.write_json(run / "state.json", state)
    events = Recorder()
    started = time.monotonic()
    results = HyperparameterOptimizer.from_run_dir(run, events=events).optimize()
    session_s = time.monotonic() - started
    assert results["group_results"]["learning_rate"]["n_trials"]["finished"] == 1  # no trial once it is spent
    assert events.named(TrialStart) == []
    assert [e.message for e in events.named(RunWarning)] == ["time budget of 0.01 h used up during learning_rate"]
    after = json.loads((run / "state.json").read_text())
    assert after["status"] == "completed"
    assert 36.0 < after["elapsed_s"] <= 36.0 + session_s + 0.01  # this session added to the earlier ones


@pytest.mark.slow  # a whole search with its final evaluation (~8 s)
def test_diverging_trial_fails_and_the_search_goes_on(tmp_path: Path) -> None:
    cfg = tiny(
        "mode=quick",
        "max_trials_per_group=3",
        "n_startup_trials=3",
        "trainer.grad_clip=0",
        "search_space.learning_rate.learning_rate.low=1e6",
        "search_space.learning_rate.learning_rate.high=1e9",
    )
    events = Recorder()
    results = HyperparameterOptimizer(cfg, tmp_path / "run", events=events).optimize()
    group = results["group_results"]["learning_rate"]
    assert group["n_trials"]["failed"] >= 1 and group["n_trials"]["finished"] == 3
    failed = study(tmp_path / "run", cfg, "learning_rate").trials[group["failed_trials"][0]]
    assert (
        "training loss became nan" in failed.user_attrs["fail_reason"].lower()
        or " inf " in failed.user_attrs["fail_reason"]
    )
    assert results["test_metrics"] is not None


@pytest.mark.slow  # a whole search with its final evaluation (~8 s)
def test_collapse_is_flagged_and_never_changes_the_objective(tmp_path: Path) -> None:
    cfg = tiny("mode=quick", "collapse_precision=0.99")
    run = tmp_path / "run"
    events = Recorder()
    results = HyperparameterOptimizer(cfg, run, events=events).optimize()
    trials = [t for t in study(run, cfg, "learning_rate").trials if t.state.name == "COMPLETE"]
    assert trials
    for t in trials:
        assert t.user_attrs["collapsed"] is True
        assert t.value == pytest.approx(t.user_attrs["raw_value"])
    assert sorted(results["group_results"]["learning_rate"]["collapsed_trials"]) == [t.number for t in trials]
    assert any("mode collapse" in e.message for e in events.named(RunWarning))


@pytest.mark.slow  # a whole search with its final evaluation (~8 s)
@pytest.mark.parametrize("mode", ["quick", "group"])
def test_single_group_modes(tmp_path: Path, mode: str) -> None:
    overrides = [f"mode={mode}"] + (["target_group=scheduler"] if mode == "group" else [])
    cfg = tiny(*overrides)
    run = tmp_path / "run"
    results = HyperparameterOptimizer(cfg, run).optimize()
    group = "scheduler" if mode == "group" else "learning_rate"
    assert [p.name for p in run.glob("*.db")] == [f"ml_hyperopt_{group}.db"]
    assert list(results["group_results"]) == [group]
    assert set(results["best_params"]) == set(cfg.search_space[group])


@pytest.mark.slow  # a full run
def test_fine_tune_narrows_ranges_around_an_earlier_run(full_run, tmp_path: Path) -> None:
    source, _, source_results, _ = full_run
    cfg = tiny("mode=fine_tune", f"fine_tune_from={source}", "fine_tune_shrink=0.1")
    run = tmp_path / "run"
    results = HyperparameterOptimizer(cfg, run).optimize()
    assert [p.name for p in run.glob("*.db")] == ["ml_hyperopt_fine_tune.db"]
    center = source_results["best_params"]
    for t in study(run, cfg, "fine_tune").trials:
        assert set(t.params) == set(center)
        width = cfg.search_space["regularization"]["dropout"]
        assert abs(t.params["dropout"] - center["dropout"]) <= 0.05 * (width.high - width.low) + 1e-9
    assert results["test_metrics"] is not None


def test_fine_tune_without_a_finished_run_is_refused(tmp_path: Path) -> None:
    cfg = tiny("mode=fine_tune", f"fine_tune_from={tmp_path / 'nothing'}")
    with pytest.raises(RunStateError, match="no results.json with best_params there"):
        HyperparameterOptimizer(cfg, tmp_path / "run").optimize()


def test_stop_event_pauses_with_a_running_trial_kept(tmp_path: Path) -> None:
    cfg = tiny("mode=quick", "epochs_per_trial=3")
    run = tmp_path / "run"
    stop = threading.Event()
    with pytest.raises(StopRequested):
        HyperparameterOptimizer(cfg, run, events=StopOn(EpochEnd, stop)).optimize(stop)
    states = [t.state.name for t in study(run, cfg, "learning_rate").trials]
    assert states == ["RUNNING"]
    assert (run / "checkpoints" / "learning_rate_trial00000.pt").exists()
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "paused" and state["groups"]["learning_rate"]["status"] == "paused"
    assert not (run / rundir.PID_FILE).exists()


@pytest.mark.slow  # a whole search with its final evaluation (~8 s)
def test_run_started_by_an_older_version_without_newer_keys_resumes(tmp_path: Path) -> None:
    import yaml

    from hyperopt_cli.config import mapping_hash

    run = tmp_path / "run"
    cfg = tiny("mode=quick", "max_trials_per_group=3")
    stop = threading.Event()
    with pytest.raises(StopRequested):
        HyperparameterOptimizer(cfg, run, events=StopOn(TrialEnd, stop)).optimize(stop)
    # What an older version wrote: config.yaml without the keys added since, hashed as written.
    old = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("workers", "heartbeat_interval_s", "worker_timeout_s", "checkpoint_dir"):
        old.pop(key)
    (run / "config.yaml").write_text(yaml.safe_dump(old))
    state = json.loads((run / "state.json").read_text())
    state["config_hash"] = mapping_hash(old)
    rundir.write_json(run / "state.json", state)
    results = HyperparameterOptimizer.from_run_dir(run).optimize()
    assert results["group_results"]["learning_rate"]["n_trials"]["finished"] == 3


@pytest.mark.slow  # a full run
def test_trials_are_scored_over_selection_folds_and_the_final_model_trains_the_chosen_epochs(tmp_path: Path) -> None:
    cfg = tiny(
        "mode=quick", "selection_folds=2", "epochs_per_trial=3", "n_warmup_steps=10", "data.synthetic.n_bars=2500"
    )
    run = tmp_path / "run"
    results = HyperparameterOptimizer(cfg, run).optimize()
    trials = [t for t in study(run, cfg, "learning_rate").trials if t.state.name == "COMPLETE"]
    assert trials
    for t in trials:
        selection = t.user_attrs["selection"]
        assert selection["folds"] == 2 and len(selection["fold_values"]) == 2
        assert sorted(t.intermediate_values) == list(range(6))  # step = fold * epochs + epoch
        mean = [(t.intermediate_values[e] + t.intermediate_values[3 + e]) / 2 for e in range(3)]
        assert selection["curve"] == pytest.approx(mean)
        assert t.value == pytest.approx(min(mean)) and selection["epochs"] == mean.index(min(mean)) + 1
        assert len(t.user_attrs["units"]) == len(t.user_attrs["skill_units"]) == 8  # 2 folds x 4 sub-blocks
    chosen = results["group_results"]["learning_rate"]
    assert results["epochs"] == chosen["best_epochs"]
    assert f"{results['epochs']} epochs" in (run / rundir.LOG_FILE).read_text()
    assert not list((run / "checkpoints").glob("*.pt"))


@pytest.mark.slow  # a whole search with its final evaluation (~8 s)
def test_a_label_setting_with_a_vanishing_class_is_refused_untrained(tmp_path: Path) -> None:
    # A threshold of 30 vol units: nearly every label is HOLD, so every trial's labels are degenerate.
    cfg = tiny(
        "mode=group",
        "target_group=triple_barrier",
        "max_trials_per_group=2",
        "incumbent_first=false",
        "search_space.triple_barrier.threshold.low=30",
        "search_space.triple_barrier.threshold.high=31",
        "search_space.triple_barrier.take_profit.low=40",
        "search_space.triple_barrier.take_profit.high=41",
        "search_space.triple_barrier.stop_loss.low=40",
        "search_space.triple_barrier.stop_loss.high=41",
    )
    run = tmp_path / "run"
    events = Recorder()
    results = HyperparameterOptimizer(cfg, run, events=events).optimize()
    trials = study(run, cfg, "triple_barrier").trials
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    for t in trials:
        assert t.user_attrs["degenerate_labels"] is True and "min_class_share" in t.user_attrs["fail_reason"]
        assert "history" not in t.user_attrs  # refused before any training
    assert results["best_params"] == {}  # the config's labels stay
    assert any("trial refused: degenerate labels" in e.message for e in events.named(RunWarning))


@pytest.mark.slow  # a full run
def test_results_command_prints_the_pbo_the_epochs_and_which_inputs_the_model_uses(full_run) -> None:
    from typer.testing import CliRunner

    from hyperopt_cli.cli import app

    run, _, results, _ = full_run
    shown = CliRunner().invoke(app, ["results", str(run)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert (
        f"Probability of backtest overfitting (PBO, CSCV over the trials' fold sub-blocks): {results['pbo']:.2f}"
        in shown.stdout
    )
    assert f"the final model trained {results['epochs']} epochs" in shown.stdout
    assert "permutation importance" in shown.stdout and "cross-entropy rise" in shown.stdout
    assert f"probability of backtest overfitting {results['pbo']:.2f}" in shown.stdout  # in the verdict line
