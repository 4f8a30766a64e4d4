"""The decision rule: how class probabilities become SELL / HOLD / BUY signals.

Plain argmax is a decision too, and a poor one for a model trained toward the label shares:
cross-entropy is minimised by predicting the shares, and argmax of such a model can drop a
class altogether (NASDAQ: 100% BUY, macro-F1 0.21). The rule here adds a per-class offset to
the log-probabilities, `argmax(log p + b)` (a prior / logit adjustment, b_HOLD = 0), chosen on
out-of-fold validation predictions to maximise macro-F1.

An offset fitted on a few hundred predictions can fit their noise, so it is checked first:
the validation predictions are cut into two contiguous halves, an offset fitted on each half
scores the other, and only if that cross-fitted macro-F1 beats argmax on both halves, and by
MIN_GAIN on average, is the offset (refitted on all of them) used; otherwise the rule is plain
argmax. On the units it is checked on the rule is therefore never worse than argmax by
construction of the choice. The margin is there because the validation part is not the test
block: on EURUSD's walk-forward (3 blocks x 3 baselines) offsets that gained +0.002 to +0.018
cross-fitted lost 0.03 to 0.13 macro-F1 on the blocks they were applied to, while the one that
gained +0.025 won +0.043 (docs/decisions.md).

Offsets are only fitted at all where argmax drops a class on the validation part (a class
for under 5% of it, or one for over 90%): the failure the rule exists for. Where argmax uses
every class, a shift fitted on the latest 15% of the training samples did not carry to the
next block: on NASDAQ's walk-forward, offsets that passed the check (+0.021 to +0.036
cross-fitted) moved the logistic regression's pooled macro-F1 from 0.360 to 0.317.

Pure numpy; the walk-forward fits one rule per block (on that block's training side only) for
the LSTM and for every baseline that outputs probabilities, and the saved model keeps its rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ARGMAX = "argmax"
FITTED = "fitted"
RULES = (FITTED, ARGMAX)
REFERENCE = 1  # HOLD's offset stays 0: only the differences between offsets matter
GRID = np.round(np.arange(-2.0, 2.0001, 0.1), 10)  # candidate offsets of SELL and BUY (log-odds)
MIN_FIT_SAMPLES = 30  # fewer validation predictions than this: argmax, nothing to fit on
MIN_GAIN = 0.02  # cross-fitted macro-F1 the offsets must add over argmax (on average; and > 0 on each half)
DROPPED_SHARE = 0.05  # argmax saying a class for fewer validation samples than this has dropped it
COLLAPSED_SHARE = 0.9  # ... or for more than this, has collapsed onto it
EPS = 1e-12
CHUNK_CELLS = 2_000_000  # candidate x sample cells scored at once


@dataclass(frozen=True)
class DecisionRule:
    """argmax(log p + offsets); offsets all 0 is plain argmax."""

    kind: str = ARGMAX  # "fitted" (offsets chosen on validation) or "argmax"
    offsets: tuple[float, float, float] = (0.0, 0.0, 0.0)  # added to log p of SELL, HOLD, BUY
    fitted_f1: float | None = None  # cross-fitted validation macro-F1 of the offsets
    argmax_f1: float | None = None  # the same halves' macro-F1 under argmax
    n_val: int = 0  # validation predictions it was checked on

    @property
    def is_argmax(self) -> bool:
        return not any(self.offsets)

    def apply(self, probs: np.ndarray, argmax_pred: np.ndarray | None = None) -> np.ndarray:
        """Class index per row of `probs` (n, 3); `argmax_pred` is returned as is when the rule is argmax."""
        if self.is_argmax:
            if argmax_pred is not None:
                return np.asarray(argmax_pred, dtype=np.int64)
            return np.asarray(probs).argmax(axis=1).astype(np.int64)
        scores = np.log(np.maximum(np.asarray(probs, dtype=np.float64), EPS)) + np.asarray(self.offsets)
        return scores.argmax(axis=1).astype(np.int64)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "offsets": list(self.offsets),
            "fitted_f1": self.fitted_f1,
            "argmax_f1": self.argmax_f1,
            "n_val": self.n_val,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> DecisionRule:
        """A stored rule; anything unreadable is plain argmax (what models saved before rules used)."""
        if not isinstance(raw, dict):
            return cls()
        offsets = raw.get("offsets")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in offsets)
        ):
            return cls()
        kind = str(raw["kind"]) if raw.get("kind") in RULES else ARGMAX
        number = lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None  # noqa: E731
        n_val = raw.get("n_val")
        return cls(
            kind,
            (float(offsets[0]), float(offsets[1]), float(offsets[2])),
            number(raw.get("fitted_f1")),
            number(raw.get("argmax_f1")),
            int(n_val) if isinstance(n_val, int) else 0,
        )


def _macro_f1_many(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Macro-F1 (3 classes, 0 where undefined) of each row of `pred` (m, n) against `labels` (n,)."""
    f1 = np.zeros(pred.shape[0])
    for c in range(3):
        is_pred, is_true = pred == c, (labels == c)[None, :]
        tp = (is_pred & is_true).sum(axis=1)
        denom = is_pred.sum(axis=1) + is_true.sum()
        f1 += np.divide(2 * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    return f1 / 3


def _candidates() -> np.ndarray:
    """(k, 3) offsets: every (SELL, BUY) pair of the grid with HOLD at 0, smallest offsets first."""
    sell, buy = np.meshgrid(GRID, GRID, indexing="ij")
    pairs = np.stack([sell.ravel(), np.zeros(sell.size), buy.ravel()], axis=1)
    order = np.lexsort((pairs[:, 2], pairs[:, 0], np.abs(pairs).sum(axis=1)))
    return pairs[order]


CANDIDATES = _candidates()


def _best_offsets(log_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The offsets of the grid with the highest macro-F1 on these predictions (the smallest on a tie)."""
    chunk = max(1, CHUNK_CELLS // max(len(labels), 1))  # bounded memory on long validation parts (panels)
    scores = np.concatenate(
        [
            _macro_f1_many((log_probs[None, :, :] + CANDIDATES[a : a + chunk, None, :]).argmax(axis=2), labels)
            for a in range(0, len(CANDIDATES), chunk)
        ]
    )
    return CANDIDATES[int(np.argmax(scores))]  # argmax takes the first best: the smallest offsets


def drops_a_class(pred: np.ndarray) -> bool:
    """Whether these signals (nearly) never say one class, or say one class for nearly all samples."""
    shares = np.bincount(np.asarray(pred, dtype=np.int64), minlength=3) / max(len(pred), 1)
    return bool(shares.min() < DROPPED_SHARE or shares.max() > COLLAPSED_SHARE)


def fit_rule(probs: np.ndarray, labels: np.ndarray) -> DecisionRule:
    """The rule for these out-of-fold validation predictions (see the module docstring)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if n < MIN_FIT_SAMPLES or probs.shape != (n, 3) or len(np.unique(labels)) < 2:
        return DecisionRule(ARGMAX, n_val=n)
    log_probs = np.log(np.maximum(probs, EPS))
    if not drops_a_class(log_probs.argmax(axis=1)):
        return DecisionRule(ARGMAX, n_val=n)  # argmax already uses every class: leave it (see the module docstring)
    half = n // 2
    parts = [(slice(0, half), slice(half, n)), (slice(half, n), slice(0, half))]
    fitted, plain = [], []
    for fit_on, score_on in parts:
        offsets = _best_offsets(log_probs[fit_on], labels[fit_on])
        scored = log_probs[score_on]
        both = np.stack([(scored + offsets).argmax(axis=1), scored.argmax(axis=1)])
        f1 = _macro_f1_many(both, labels[score_on])
        fitted.append(f1[0])
        plain.append(f1[1])
    fitted_f1, argmax_f1 = float(np.mean(fitted)), float(np.mean(plain))
    if fitted_f1 < argmax_f1 + MIN_GAIN or any(f <= p for f, p in zip(fitted, plain)):
        return DecisionRule(ARGMAX, fitted_f1=fitted_f1, argmax_f1=argmax_f1, n_val=n)
    offsets = _best_offsets(log_probs, labels)
    return DecisionRule(FITTED, (float(offsets[0]), float(offsets[1]), float(offsets[2])), fitted_f1, argmax_f1, n)


@dataclass(frozen=True)
class RuledPrediction:
    """A predictor's signals under its fitted rule, with what plain argmax would have said."""

    pred: np.ndarray  # class index per sample, the rule applied
    argmax: np.ndarray  # class index per sample under plain argmax
    rule: DecisionRule
