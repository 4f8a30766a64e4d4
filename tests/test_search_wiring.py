"""End to end through `HyperparameterOptimizer(cfg, run_dir).optimize()`: what each trial trains with,
and which trial each group keeps, recomputed independently from the Optuna studies on disk.

One seam is patched: `hyperopt_cli.search.group.train_model`, the training entry point the group
search calls. The patch records the TrainerConfig it receives and the LabelsConfig its data was
prepared with (`PreparedData.info["labels"]`), then trains for real: the run is unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from cli_helpers import tiny
from hyperopt_cli.config import GROUPS, OptimizationConfig, family_params
from hyperopt_cli.run.optimizer import HyperparameterOptimizer
from hyperopt_cli.search import group as group_search
from hyperopt_cli.search import storage
from hyperopt_cli.search.events import Event, TrialStart
from hyperopt_cli.search.incumbent import INCUMBENT_ATTR, incumbent_params

SEAM = "train_model"  # hyperopt_cli.search.group.train_model


@dataclasses.dataclass
class TrainCall:
    group: str
    trial: int
    settings: dict[str, Any]  # every TrainerConfig and LabelsConfig field, as training received it


class TrainingRecorder:
    """An event sink that also wraps the training seam: each call is tied to the trial just started."""

    def __init__(self) -> None:
        self.calls: list[TrainCall] = []
        self._current: tuple[str, int] | None = None
        self._real = getattr(group_search, SEAM)

    def emit(self, event: Event) -> None:
        if isinstance(event, TrialStart):
            self._current = (event.group, event.trial)

    def train(self, data: Any, trainer_cfg: Any, model_cfg: Any, *args: Any, **kwargs: Any) -> Any:
        assert self._current is not None, "training started before any trial_start event"
        # The labels the data was prepared with, as `hyperopt data` shows them (PreparedData.info).
        settings = {
            **dataclasses.asdict(trainer_cfg),
            **data.info["labels"],
            **family_params(data.families),
            "hidden_size": model_cfg.hidden_size,
            "num_layers": model_cfg.num_layers,
            "window": data.train.window,
        }
        self.calls.append(TrainCall(*self._current, settings))
        return self._real(data, trainer_cfg, model_cfg, *args, **kwargs)


def configured(cfg: OptimizationConfig) -> dict[str, Any]:
    """Every searched parameter at the config's value, read from the config's sections."""
    return {
        **dataclasses.asdict(cfg.trainer),
        **dataclasses.asdict(cfg.labels),
        **family_params(cfg.features.families),
        "hidden_size": cfg.model.hidden_size,
        "num_layers": cfg.model.num_layers,
        "window": cfg.data.window,
    }


def record_run(cfg: OptimizationConfig, run: Path) -> tuple[dict[str, Any], TrainingRecorder]:
    recorder = TrainingRecorder()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(group_search, SEAM, recorder.train)
        results = HyperparameterOptimizer(cfg, run, events=recorder).optimize()
    return results, recorder


def candidates(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The COMPLETE trials: a collapsed one is ranked like any other (the flag informs, never ranks)."""
    return [t for t in trials if t.state == TrialState.COMPLETE]


def drops(trial: FrozenTrial) -> bool:
    m = trial.user_attrs["metrics"]
    return bool(m["collapsed"]) or min(m["pred_distribution"]) < 0.05


def best_by_hand(trials: list[FrozenTrial], maximise: bool) -> FrozenTrial:
    """The best value, unless its mean paired gain over the incumbent's units is not above 0 (margin 0);
    a challenger that drops a class never replaces an incumbent that does not."""
    pool = candidates(trials)
    assert pool, "no COMPLETE trial to pick from"
    pick = max if maximise else min
    best = pick(pool, key=lambda t: float(t.value))  # type: ignore[arg-type]
    incumbent = next((t for t in pool if t.user_attrs.get(INCUMBENT_ATTR)), None)
    if incumbent is not None and drops(best) and not drops(incumbent):
        best = pick([t for t in pool if not drops(t)], key=lambda t: float(t.value))  # type: ignore[arg-type]
    if incumbent is None or incumbent.number == best.number:
        return best
    gains = [(c - i) if maximise else (i - c) for c, i in zip(best.user_attrs["units"], incumbent.user_attrs["units"])]
    return best if sum(gains) / len(gains) > 0 else incumbent


def maximises(group: str) -> bool:
    return group == "triple_barrier"  # skill over the label prior; every other group minimises val_loss


@pytest.fixture(scope="module")
def recorded_full_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, OptimizationConfig, dict[str, Any], TrainingRecorder]]:
    run = tmp_path_factory.mktemp("wiring") / "run"
    cfg = tiny(
        "mode=full",
        "max_trials_per_group=3",
        "n_startup_trials=3",
        "seed=8",
        "incumbent_margin_se=0",  # any paired gain replaces the incumbent: more groups move
        "confirm_share=0",
        "run_check=false",
    )  # the guard of runs before confirmation (tested on its own)
    results, recorder = record_run(cfg, run)
    yield run, cfg, results, recorder


@pytest.mark.slow  # a full run of every group (~20 s)
def test_every_trial_trains_with_its_own_values_and_the_earlier_groups_best(recorded_full_run) -> None:
    run, cfg, results, recorder = recorded_full_run
    defaults = configured(cfg)
    frozen: dict[str, Any] = {}  # best values of the groups before the current one, from their studies
    moved_from_default = 0
    for group in GROUPS:
        trials = {t.number: t for t in storage.load_study(cfg, run, group).get_trials()}
        calls = [c for c in recorder.calls if c.group == group]
        assert sorted(c.trial for c in calls) == sorted(trials), f"{group}: every trial trained once"
        later = {p for g in GROUPS[GROUPS.index(group) + 1 :] for p in cfg.search_space[g]}
        for call in calls:
            for name, value in frozen.items():
                assert call.settings[name] == value, f"{group} trial {call.trial}: {name} is not the earlier best"
            for name, value in trials[call.trial].params.items():
                assert call.settings[name] == value, f"{group} trial {call.trial}: sampled {name} not trained"
            for name in later:
                assert call.settings[name] == defaults[name], f"{group} trial {call.trial}: later {name} leaked"
        moved_from_default += sum(frozen[name] != defaults[name] for name in frozen)
        best = best_by_hand(list(trials.values()), maximise=maximises(group))
        frozen.update(best.params)
    assert moved_from_default > 0, "no earlier best differed from its default: the test proves nothing"
    assert results["fixed_params"] == frozen
    assert json.loads((run / "best_params.json").read_text()) == frozen


@pytest.mark.slow  # a full run of every group (~20 s)
def test_each_groups_best_is_its_guarded_best_trial(recorded_full_run) -> None:
    run, cfg, results, _ = recorded_full_run
    decisive = 0  # groups whose pool holds distinct values, so a wrong direction would pick another
    for group in GROUPS:
        study = storage.load_study(cfg, run, group)
        direction = StudyDirection.MAXIMIZE if maximises(group) else StudyDirection.MINIMIZE
        assert study.direction == direction  # val_loss, and skill over the label prior for triple_barrier
        trials = study.get_trials()
        best = best_by_hand(trials, maximise=maximises(group))
        reported = results["group_results"][group]
        assert reported["direction"] == ("maximize" if maximises(group) else "minimize")
        assert reported["best_value"] == pytest.approx(best.value)
        assert trials[reported["best_trial"]].value == pytest.approx(best.value)
        assert reported["best_params"] == trials[reported["best_trial"]].params
        decisive += len({t.value for t in candidates(trials)}) > 1
    assert decisive >= 2, "too few groups with distinct values to tell the direction apart"


@pytest.mark.slow  # a full run of every group (~20 s)
def test_each_groups_first_trial_is_its_incumbent(recorded_full_run) -> None:
    """Trial 0 of every group trains the values the group starts from: defaults over the earlier groups' best."""
    run, cfg, _, recorder = recorded_full_run
    current = configured(cfg)
    enqueued = 0
    for group in GROUPS:
        study = storage.load_study(cfg, run, group)
        space = cfg.search_space[group]
        expected = incumbent_params(space, current)
        first = next(t for t in study.get_trials() if t.number == 0)
        if expected is not None:
            enqueued += 1
            assert first.params == expected and first.user_attrs.get(INCUMBENT_ATTR) is True, group
            assert study.user_attrs[INCUMBENT_ATTR] == expected
            call = next(c for c in recorder.calls if c.group == group and c.trial == 0)
            assert {name: call.settings[name] for name in space} == expected
        else:
            assert INCUMBENT_ATTR not in study.user_attrs
        current.update(best_by_hand(study.get_trials(), maximise=maximises(group)).params)
    assert enqueued == len(GROUPS), "every default lies inside its range: each group starts with its incumbent"


@pytest.mark.slow  # a whole search with its final evaluation (~6 s)
def test_without_incumbent_first_the_first_trial_is_sampled(tmp_path: Path) -> None:
    cfg = tiny("mode=quick", "max_trials_per_group=1", "incumbent_first=false")
    record_run(cfg, tmp_path / "run")
    study = storage.load_study(cfg, tmp_path / "run", "learning_rate")
    first = study.get_trials()[0]
    assert INCUMBENT_ATTR not in study.user_attrs and INCUMBENT_ATTR not in first.user_attrs
    assert first.params["learning_rate"] != cfg.trainer.learning_rate


def test_incumbent_values_outside_the_space_are_not_enqueued() -> None:
    space = tiny().search_space["learning_rate"]
    assert incumbent_params(space, {"learning_rate": 1e-3, "batch_size": 64}) == {
        "learning_rate": 1e-3,
        "batch_size": 64,
    }
    assert incumbent_params(space, {"learning_rate": 1.0, "batch_size": 64}) is None  # above the range
    assert incumbent_params(space, {"learning_rate": 1e-3, "batch_size": 48}) is None  # not a choice
    assert incumbent_params(space, {"learning_rate": 1e-3}) is None  # a parameter without a value


@pytest.mark.slow  # a whole search with its final evaluation (~6 s)
def test_collapsed_trials_are_flagged_not_penalised_and_the_lowest_loss_wins(tmp_path: Path) -> None:
    cfg = tiny(
        "mode=quick",
        "max_trials_per_group=3",
        "n_startup_trials=3",
        "collapse_precision=0.99",
        "incumbent_first=false",
        "confirm_share=0",
    )  # the whole-validation objective
    run = tmp_path / "run"
    results = HyperparameterOptimizer(cfg, run).optimize()
    study = storage.load_study(cfg, run, "learning_rate")
    assert study.direction == StudyDirection.MINIMIZE
    complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    for t in complete:  # precision can never reach 0.99 here: every trial is flagged
        assert t.user_attrs["collapsed"] is True
        chosen = t.user_attrs["selection"]["epochs"]
        loss = t.user_attrs["history"][chosen - 1]["val_loss"]
        assert t.value == pytest.approx(loss) == pytest.approx(t.user_attrs["raw_value"])  # no penalty
    assert len({t.value for t in complete}) == 3
    group = results["group_results"]["learning_rate"]
    lowest = min(complete, key=lambda t: float(t.value))  # type: ignore[arg-type]
    assert group["metric"] == "val_loss" and group["direction"] == "minimize"
    assert group["best_value"] == pytest.approx(lowest.value) and group["best_trial"] == lowest.number
    assert results["best_params"] == lowest.params
