from __future__ import annotations

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hyperopt_cli.config import OptimizationConfig, ParamSpec
from hyperopt_cli.search.space import narrow, study_space
from hyperopt_cli.search.summary import best_trial, decide, group_is_done, summarize, trials_since_improvement

DIST = {"x": FloatDistribution(0.0, 1.0)}


def trials(values: list[float | None], collapsed: set[int] = frozenset(), states: dict[int, TrialState] | None = None):
    out = []
    for i, value in enumerate(values):
        state = (states or {}).get(i, TrialState.COMPLETE if value is not None else TrialState.PRUNED)
        t = create_trial(
            state=state,
            value=value if state == TrialState.COMPLETE else None,
            params={"x": 0.1 * i},
            distributions=DIST,
            user_attrs={"collapsed": i in collapsed},
        )
        t.number = i
        out.append(t)
    return out


def test_a_collapsed_trial_is_ranked_by_its_value_like_any_other() -> None:
    # The flag informs; a penalty once put configurations that generalise better below worse ones.
    ts = trials([0.3, 0.9, 0.5], collapsed={1})
    assert best_trial(ts, "maximize").number == 1
    assert summarize("g", ts, "val_f1", "maximize", 0.005).collapsed_trials == [1]


def with_units(ts, units: dict[int, list[float]], incumbent: int = 0):
    for number, values in units.items():
        ts[number].user_attrs["units"] = values
    ts[incumbent].user_attrs["incumbent"] = True
    return ts


def test_the_incumbent_is_kept_when_the_challenger_gains_within_the_noise() -> None:
    # The challenger's mean gain (0.01) is below one standard error of its noisy paired gains.
    ts = with_units(trials([0.50, 0.51]), {0: [0.5, 0.5, 0.5, 0.5], 1: [0.60, 0.40, 0.62, 0.42]})
    decision = decide(ts, "maximize", 1.0)
    assert decision.trial.number == 0 and decision.kept == "within noise"
    assert decision.challenger["trial"] == 1 and decision.challenger["delta"] == pytest.approx(0.01)
    summary = summarize("g", ts, "val_f1", "maximize", 0.005, margin_se=1.0)
    assert (summary.best_trial, summary.kept) == (0, "within noise")
    assert summarize("g", ts, "val_f1", "maximize", 0.005).best_trial == 1  # unguarded: the raw best


def test_a_challenger_clearly_better_on_every_unit_replaces_the_incumbent() -> None:
    ts = with_units(trials([0.90, 0.80]), {0: [0.9, 0.92, 0.88, 0.9], 1: [0.8, 0.81, 0.79, 0.8]})
    decision = decide(ts, "minimize", 1.0)  # a loss: lower is better
    assert decision.trial.number == 1 and decision.kept is None
    assert decision.challenger["delta"] == pytest.approx(0.1)


def test_without_units_the_guard_falls_back_to_the_objective() -> None:
    ts = trials([0.5, 0.6])
    ts[0].user_attrs["incumbent"] = True
    assert decide(ts, "maximize", 1.0).trial.number == 1


def test_best_respects_direction() -> None:
    ts = trials([0.3, 0.9, 0.5])
    assert best_trial(ts, "minimize").number == 0


def test_convergence_counts_trials_without_improvement_beyond_threshold() -> None:
    # 0.50 best, then +0.004 (below threshold 0.005), a pruned trial, then 0.49.
    ts = trials([0.50, 0.504, None, 0.49])
    assert trials_since_improvement(ts, "maximize", 0.005) == 3
    ts = trials([0.50, 0.51, 0.49])
    assert trials_since_improvement(ts, "maximize", 0.005) == 1


def test_group_done_by_budget_or_convergence() -> None:
    cfg = OptimizationConfig(max_trials_per_group=5, convergence_patience=3)
    assert group_is_done(summarize("g", trials([0.5, 0.6]), "val_f1", "maximize", 0.005), cfg) == (False, None)
    assert group_is_done(summarize("g", trials([0.5, 0.4, 0.4, 0.4]), "val_f1", "maximize", 0.005), cfg) == (
        True,
        "converged",
    )
    five = trials([0.1, 0.2, 0.3, 0.4, None], states={4: TrialState.FAIL})
    summary = summarize("g", five, "val_f1", "maximize", 0.005)
    assert (summary.n_complete, summary.n_failed, summary.failed_trials) == (4, 1, [4])
    assert group_is_done(summary, cfg) == (True, "budget")


def test_narrow_keeps_share_of_range_around_best_inside_bounds() -> None:
    spec = ParamSpec(type="float", low=0.0, high=1.0)
    n = narrow(spec, 0.5, 0.25)
    assert (n.low, n.high) == pytest.approx((0.375, 0.625))
    edge = narrow(spec, 0.99, 0.25)
    assert edge.high == 1.0 and edge.low == pytest.approx(0.865)
    log_spec = ParamSpec(type="float", low=1e-4, high=1e-2, log=True)
    ln = narrow(log_spec, 1e-3, 0.5)
    assert ln.low == pytest.approx(1e-3 / 10**0.5) and ln.high == pytest.approx(1e-3 * 10**0.5)
    ints = narrow(ParamSpec(type="int", low=1, high=10), 5, 0.25)
    assert (ints.low, ints.high) == (3, 7)
    boolean = ParamSpec(type="bool")
    assert narrow(boolean, True, 0.25) == boolean


def test_fine_tune_space_has_every_parameter() -> None:
    cfg = OptimizationConfig()
    space = study_space(cfg, "fine_tune", center={"dropout": 0.25})
    assert len(space) == sum(len(g) for g in cfg.search_space.values())
    assert space["dropout"].low == pytest.approx(0.25 - 0.0625)


def test_summary_keeps_each_complete_trials_value_in_order_for_the_history_chart() -> None:
    ts = trials([0.3, None, 0.5, 0.4], states={1: TrialState.PRUNED})
    summary = summarize("g", list(reversed(ts)), "val_f1", "maximize", 0.0)
    assert summary.history == [(0, 0.3), (2, 0.5), (3, 0.4)]  # pruned trial 1 left out, ordered by number
    assert summary.as_dict()["history"] == [[0, 0.3], [2, 0.5], [3, 0.4]]


def test_a_kept_incumbent_is_said_in_the_group_status_cell() -> None:
    from hyperopt_cli.cli.render import group_status

    assert group_status({"status": "completed", "kept": "within noise"}) == "completed; kept: within noise"
    assert group_status({"reason": "budget", "kept": None}) == "budget"


def test_a_challenger_that_drops_a_class_never_replaces_an_incumbent_that_does_not() -> None:
    ts = with_units(trials([0.90, 0.50, 0.80]), {0: [0.9] * 4, 1: [0.5] * 4, 2: [0.8, 0.81, 0.79, 0.8]})
    ts[1].user_attrs["metrics"] = {"collapsed": True}  # the lowest loss, but every prediction one class
    decision = decide(ts, "minimize", 1.0)
    assert decision.trial.number == 2  # the best challenger that does not collapse, clearly better than 0
    ts[2].user_attrs["metrics"] = {"collapsed": True}
    decision = decide(ts, "minimize", 1.0)
    assert decision.trial.number == 0 and decision.kept == "challenger drops a class"
    assert decision.challenger == {"trial": 1, "value": 0.5, "drops_a_class": True}
    ts[0].user_attrs["metrics"] = {"collapsed": True}  # the incumbent collapses too: the guard decides as usual
    assert decide(ts, "minimize", 1.0).trial.number == 1


def test_a_challenger_that_almost_never_predicts_a_class_drops_it() -> None:
    ts = with_units(trials([0.90, 0.50]), {0: [0.9] * 4, 1: [0.5] * 4})
    ts[0].user_attrs["metrics"] = {"collapsed": False, "pred_distribution": [0.3, 0.3, 0.4]}
    ts[1].user_attrs["metrics"] = {"collapsed": False, "pred_distribution": [0.49, 0.01, 0.50]}  # HOLD 1%
    assert decide(ts, "minimize", 1.0).kept == "challenger drops a class"
    ts[1].user_attrs["metrics"]["pred_distribution"] = [0.45, 0.06, 0.49]
    assert decide(ts, "minimize", 1.0).trial.number == 1


def test_the_kept_message_says_why() -> None:
    from hyperopt_cli.search.summary import kept_message

    ts = with_units(trials([0.90, 0.50]), {0: [0.9] * 4, 1: [0.5] * 4})
    ts[1].user_attrs["metrics"] = {"collapsed": True}
    summary = summarize("class_balance", ts, "val_loss", "minimize", 0.005, margin_se=1.0)
    assert "trial 1) drops a class" in kept_message(summary)
    ts[1].user_attrs["metrics"] = {}
    ts[1].user_attrs["units"] = [0.6, 0.4, 0.62, 1.4]  # a mean gain of 0.145, inside its noise
    assert "within noise; best challenger trial 1" in kept_message(
        summarize("g", ts, "val_loss", "minimize", 0.005, margin_se=1.0)
    )
