"""The chronological train/validation/test split with its purge gaps, and how many bars it needs.

The one home of the split arithmetic: `DataPreparer` splits with `split_samples`, and the
"too few bars" message computes its "about N bars" by running the same split on the
samples N contiguous bars would give.
"""

from __future__ import annotations

import numpy as np

from hyperopt_cli.data.features import WARMUP_BARS
from hyperopt_cli.errors import DataError

SEGMENTS: tuple[str, str, str] = ("train", "val", "test")
# Smallest sample counts per segment after purging; below these a trial means nothing.
MIN_SAMPLES: dict[str, int] = {"train": 50, "val": 20, "test": 20}
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)


def split_samples(eligible: np.ndarray, fractions: tuple[float, float, float], purge: int) -> dict[str, np.ndarray]:
    """Split the sample bars (sorted) by `fractions`; purge before each boundary.

    A sample t is kept only if t + purge < the first bar of the next segment, so no label
    horizon (plus embargo) reaches into the next segment. The test fraction is the rest.
    """
    n = len(eligible)
    b1 = int(round(n * fractions[0]))
    b2 = int(round(n * (fractions[0] + fractions[1])))
    parts = {"train": eligible[:b1], "val": eligible[b1:b2], "test": eligible[b2:]}
    if b1 < n:
        parts["train"] = parts["train"][parts["train"] + purge < eligible[b1]]
    if b2 < n:
        parts["val"] = parts["val"][parts["val"] + purge < eligible[b2]]
    return parts


def segment_sizes(parts: dict[str, np.ndarray]) -> tuple[int, int, int]:
    return (len(parts["train"]), len(parts["val"]), len(parts["test"]))


def enough_samples(sizes: tuple[int, int, int]) -> bool:
    return all(n >= MIN_SAMPLES[name] for name, n in zip(SEGMENTS, sizes))


def contiguous_samples(n_bars: int, window: int, horizon: int, warmup: int = WARMUP_BARS) -> np.ndarray:
    """The sample bars of `n_bars` clean bars: a full window of defined features and a label.

    Labels need no warm-up of their own: pandas' ewm std is defined from the third bar
    whatever vol_span, and the feature warm-up is longer.
    """
    return np.arange(warmup + window - 1, max(warmup + window - 1, n_bars - horizon), dtype=np.int64)


def min_bars(
    window: int, horizon: int, embargo_bars: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS, warmup: int = WARMUP_BARS,
) -> int:  # fmt: skip
    """The fewest clean bars for which every segment reaches MIN_SAMPLES."""
    purge = horizon + embargo_bars

    def enough(n_bars: int) -> bool:
        samples = contiguous_samples(n_bars, window, horizon, warmup)
        return enough_samples(segment_sizes(split_samples(samples, fractions, purge)))

    lo, hi = 1, 1
    while not enough(hi):
        hi *= 2
    while lo < hi:  # smallest hi that is enough (rounding makes it monotone in practice)
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def too_few_bars_error(
    source: str, n_bars: int, sizes: tuple[int, int, int], window: int, horizon: int, embargo_bars: int,
    fractions: tuple[float, float, float], warmup: int = WARMUP_BARS,
) -> DataError:  # fmt: skip
    need = min_bars(window, horizon, embargo_bars, fractions, warmup)
    got = ", ".join(f"{name} {n}" for name, n in zip(SEGMENTS, sizes))
    want = ", ".join(f"{name} {n}" for name, n in MIN_SAMPLES.items())
    return DataError(
        f"{source}: too few bars: {n_bars} bars give {got} samples after a {warmup}-bar feature warm-up, "
        f"window {window}, horizon {horizon} and a {horizon + embargo_bars}-bar purge per boundary; "
        f"need at least {want}, i.e. about {need} bars (or a smaller window/horizon)"
    )
