"""The chronological train/validation/test split with its purge gaps, and how many bars it needs.

The one home of the split arithmetic: `DataPreparer` splits with `split_samples`, and the
"too few bars" message computes its "at least N bars" by running the same split on the
samples N contiguous bars would give (the N from which every longer file is enough too).
"""

from __future__ import annotations

import numpy as np

from hyperopt_cli.core.errors import DataError
from hyperopt_cli.data.features import WARMUP_BARS

SEGMENTS: tuple[str, str, str] = ("train", "val", "test")
# Smallest sample counts per segment after purging; below these a trial means nothing.
MIN_SAMPLES: dict[str, int] = {"train": 50, "val": 20, "test": 20}
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)


def split_by_time(
    times: np.ndarray, label_ends: np.ndarray, fractions: tuple[float, float, float]
) -> dict[str, np.ndarray]:
    """Positions of the train/val/test samples: `times` sorted, cut at the same time for every symbol.

    The cut times are the times of the samples at the fractions of the pooled count; every
    sample at or after a cut belongs to the later segment, and a sample before a cut is kept
    only if its label (plus embargo) ends before the cut: nothing in a segment is later than
    anything in the next one, in any symbol. The test fraction is the rest.
    """
    n = len(times)
    b1 = int(round(n * fractions[0]))
    b2 = int(round(n * (fractions[0] + fractions[1])))
    positions = np.arange(n, dtype=np.int64)
    cut1 = times[b1] if b1 < n else None
    cut2 = times[b2] if b2 < n else None
    before1 = positions if cut1 is None else positions[times < cut1]
    before2 = positions if cut2 is None else positions[times < cut2]
    train = before1 if cut1 is None else before1[label_ends[before1] < cut1]
    val = (
        before2[len(before1) :] if cut2 is None else before2[len(before1) :][label_ends[before2[len(before1) :]] < cut2]
    )
    return {"train": train, "val": val, "test": positions[len(before2) :]}


def split_samples(eligible: np.ndarray, fractions: tuple[float, float, float], purge: int) -> dict[str, np.ndarray]:
    """Split the sample bars of one symbol (sorted) by `fractions`; purge before each boundary.

    A sample t is kept only if t + purge < the first bar of the next segment, so no label
    horizon (plus embargo) reaches into the next segment: `split_by_time` with bars as times.
    """
    return {name: eligible[pos] for name, pos in split_by_time(eligible, eligible + purge, fractions).items()}


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
    while lo < hi:  # the smallest count that is enough
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    # The rounding of the fractions is not monotone: 348 bars can be enough and 349 not (val 19).
    # The minimum people can rely on is the count from which every larger one is enough too.
    for n in range(2 * hi, hi, -1):
        if not enough(n):
            return n + 1
    return hi


def too_few_bars_error(
    source: str, n_bars: int, sizes: tuple[int, int, int], window: int, horizon: int, embargo_bars: int,
    fractions: tuple[float, float, float], warmup: int = WARMUP_BARS, searched_window: bool = False,
) -> DataError:  # fmt: skip
    """`searched_window`: `window` is the longest the model group may try, not data.window (the message says so)."""
    if warmup >= n_bars:  # no bar had every feature defined: the warm-up is the features' own, not the file's length
        warmup = max(warmup, WARMUP_BARS)
    need = min_bars(window, horizon, embargo_bars, fractions, warmup)
    got = ", ".join(f"{name} {n}" for name, n in zip(SEGMENTS, sizes))
    want = ", ".join(f"{name} {n}" for name, n in MIN_SAMPLES.items())
    return DataError(
        f"{source}: too few bars: {n_bars} bars give {got} samples after a {warmup}-bar feature warm-up, "
        f"window {window}{' (the longest search_space.model.window)' if searched_window else ''}, horizon {horizon} "
        f"and a {horizon + embargo_bars}-bar purge per boundary; "
        f"need at least {want}, i.e. at least {need} bars (or a smaller window/horizon)"
    )
