"""One group's trial driver: the collapse penalty never improves a value, whatever its sign."""

from __future__ import annotations

import pytest

from hyperopt_cli.search.group import penalised

VALUES = [-2.0, -0.2, -0.01, 0.0, 0.01, 0.2, 0.45, 3.0]


@pytest.mark.parametrize(
    ("direction", "value", "expected"),
    [
        ("maximize", 0.4, 0.2),  # maximise positive: an F1 is halved, as before
        ("maximize", -0.2, -0.3),  # maximise negative: a trading score gets worse, not -0.1
        ("minimize", 0.8, 1.6),  # minimise positive: a loss is doubled, as before
        ("minimize", -0.2, 0.0),  # minimise negative: moved up, never down
    ],
)
def test_penalty_examples(direction: str, value: float, expected: float) -> None:
    assert penalised(value, direction) == pytest.approx(expected)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("value", VALUES)
def test_penalised_value_is_never_better(direction: str, value: float) -> None:
    worse_or_equal = (lambda a, b: a <= b) if direction == "maximize" else (lambda a, b: a >= b)
    assert worse_or_equal(penalised(value, direction), value)
    if value != 0.0:
        assert penalised(value, direction) != value  # a collapsed trial always pays something


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_penalty_keeps_the_order_of_penalised_values(direction: str) -> None:
    penalties = [penalised(v, direction) for v in VALUES]
    assert penalties == sorted(penalties)
