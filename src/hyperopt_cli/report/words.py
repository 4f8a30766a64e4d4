"""Numbers of the report in words, shared by the HTML report and `hyperopt results` (no heavy imports)."""

from __future__ import annotations

from hyperopt_cli.run.results import RunResults

SMALL_SAMPLE = 100  # test samples below which a verdict is fragile: the interval rests on a few blocks


def pbo_meaning(pbo: float) -> str:
    """The probability of backtest overfitting in words, over its whole range (0.61 and 0.79 occur)."""
    if pbo < 0.2:
        return "below 0.2: the search's pick holds up out of sample"
    if pbo < 0.4:
        return "0.2-0.4: the pick is likely, not surely, above the median out of sample"
    if pbo <= 0.6:
        return "about 0.5: the pick does no better than chance out of sample"
    return (
        "above 0.6: worse than chance, the pick is more often below the median out of sample; "
        "the search overfits its validation folds"
    )


PBO_SCALE = (
    "below 0.2 the search's pick holds up on data it was not picked on; 0.2-0.4 it likely does; "
    "about 0.5 it is no better than chance; above 0.6 it is worse than chance: the pick tends to fall "
    "below the median out of sample, so the search overfits its validation folds"
)


def small_sample_note(n_samples: object) -> str | None:
    """A warning for a verdict resting on few test samples, or None."""
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples >= SMALL_SAMPLE:
        return None
    return (
        f"only {n_samples} test samples: the interval rests on a handful of bootstrap blocks, so this verdict, "
        '"significantly" included, is fragile; more test bars make it firmer'
    )


def _number(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-" if value is None else str(value)


def check_lines(results: RunResults | None) -> list[str]:
    """The run against the defaults, the epoch count and the decision rule, a sentence each (docs/selection.md)."""
    res = results or RunResults()
    lines = []
    check = res.run_check
    if isinstance(check, dict):
        said = "kept the defaults" if check.get("kept_defaults") else "beats the defaults"
        lines.append(
            f"Run check: the chosen configuration {said} on the held-back validation sub-blocks "
            f"(skill gain {_number(check.get('delta'))}, t {_number(check.get('t'))}, "
            f"needed {_number(check.get('threshold'))})."
        )
    epochs = res.epoch_check
    if isinstance(epochs, dict):
        said = (
            f"confirmed: {epochs['epochs']} epochs" if epochs.get("epochs") else "not confirmed: the configured epochs"
        )
        lines.append(f"Epoch check: {epochs.get('chosen')} epochs against the last, {said}.")
    decision = res.decision
    if isinstance(decision, dict) and decision.get("rule"):
        rules = [r for r in decision.get("blocks") or [] if isinstance(r, dict)]
        fitted = sum(1 for r in rules if any(r.get("offsets") or []))
        argmax = (decision.get("argmax_test_metrics") or {}).get("macro_f1")
        text = f"Decision rule: {decision['rule']}"
        if decision["rule"] != "argmax":
            text += (
                f" (per-class offsets fitted on each block's own validation predictions where argmax drops a "
                f"class: used in {fitted} of {len(rules)} blocks; plain argmax would have scored macro-F1 "
                f"{_number(argmax)})"
            )
        lines.append(text + ".")
    return lines
