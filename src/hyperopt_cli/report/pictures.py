"""The report's pictures of the search and of the walk-forward test: data in, PNG bytes out.

- Optuna's own parallel-coordinate and slice plots of a group's study
  (`optuna.visualization.matplotlib`), rather than redrawing what Optuna already draws;
- the equity curve of the test signals: the cumulative market-neutral return of the LSTM
  and of each baseline over the walk-forward blocks;
- predicted against true class shares per segment (each block, the pooled test, and the
  final model's validation/test when its confusion matrices exist).

The market-neutral return of sample t in block b is (s_t - mean_b s)(r_t - mean_b r): the
summand of the block's trading score (training/metrics.py `trading_score`, times std r),
so a constant signal earns exactly 0 and the market's drift earns nothing. The forward
returns of neighbouring samples overlap (each spans the label horizon), so the curve is a
sum of overlapping returns: a picture of where the skill comes from, not a P&L.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CLASSES = ("SELL", "HOLD", "BUY")
CLASS_COLORS = ("#c0392b", "#95a5a6", "#27ae60")
DPI = 100
MODEL = "model"  # the LSTM's key among a walk-forward block's predictions
MODEL_LABEL = "tuned LSTM"


def png_of(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


# --------------------------------------------------------------------------- Optuna's plots


def _pyplot() -> Any:
    """pyplot on the Agg backend (optuna's matplotlib plots draw through pyplot)."""
    import matplotlib

    matplotlib.use("Agg")  # a report is written headless; never open a window
    import matplotlib.pyplot as plt

    return plt


def optuna_png(study: Any, kind: str, title: str) -> bytes:
    """Optuna's `plot_parallel_coordinate` ("parallel") or `plot_slice` ("slice") of `study`, as a PNG."""
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    plt = _pyplot()
    draw = {"parallel": optuna_plots.plot_parallel_coordinate, "slice": optuna_plots.plot_slice}[kind]
    # rc_context: Optuna's plots switch pyplot to the "ggplot" style for good; keep that to these figures.
    with warnings.catch_warnings(), plt.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # matplotlib: a parameter with one value has a flat axis
        axes = np.asarray(draw(study)).ravel()
        fig = axes[0].figure
        try:
            if kind == "slice":
                fig.set_size_inches(max(7.0, 3.2 * len(axes)), 3.8)
                fig.suptitle(f"{title}: slice plot")
            else:
                fig.set_size_inches(8.5, 3.8)
                axes[0].set_title(f"{title}: parallel coordinates")
            buf = io.BytesIO()
            # bbox "tight", not a layout engine: constrained layout divides by zero on the twin axes
            # of Optuna's parallel-coordinate plot.
            fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
            return buf.getvalue()
        finally:
            plt.close(fig)


# --------------------------------------------------------------------------- walk-forward pictures


@dataclass(frozen=True)
class BlockSeries:
    """One walk-forward block as the pictures need it."""

    block: int
    labels: np.ndarray  # true classes
    forward_returns: np.ndarray  # NaN where not finite
    predictions: dict[str, np.ndarray]  # MODEL and each baseline

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BlockSeries:
        returns = [math.nan if v is None else float(v) for v in raw.get("forward_returns") or []]
        return cls(
            block=int(raw["block"]),
            labels=np.asarray(raw.get("labels") or [], dtype=np.int64),
            forward_returns=np.asarray(returns, dtype=np.float64),
            predictions={k: np.asarray(v, dtype=np.int64) for k, v in (raw.get("predictions") or {}).items()},
        )


def market_neutral_returns(pred: np.ndarray, forward_returns: np.ndarray) -> np.ndarray:
    """(s_t - mean s)(r_t - mean r) per sample, the means over the samples with a finite return (0 elsewhere)."""
    r = np.asarray(forward_returns, dtype=np.float64)
    finite = np.isfinite(r)
    out = np.zeros(len(r), dtype=np.float64)
    if not finite.any():
        return out
    signal = np.asarray(pred, dtype=np.float64) - 1.0
    s, rf = signal[finite], r[finite]
    out[finite] = (s - s.mean()) * (rf - rf.mean())
    return out


def equity_curves(blocks: Sequence[BlockSeries]) -> dict[str, np.ndarray]:
    """Predictor -> its running trading score over the pooled test samples in time order.

    Each sample adds (s_t - mean s)(r_t - mean r) / (n std r), the means and std over all the
    blocks' samples, which is how the pooled test score is computed (training.metrics.
    trading_score): so each curve ends exactly at the trading score the table shows, with its
    sign and in its order. Demeaning per block, as before, could end a curve above zero for a
    predictor whose pooled score was negative.
    """
    r = np.concatenate([np.asarray(b.forward_returns, dtype=np.float64) for b in blocks])
    finite = np.isfinite(r)
    scale = float(np.std(r[finite])) * int(finite.sum()) if finite.any() else 0.0

    def curve(name: str) -> np.ndarray:
        pred = np.concatenate([np.asarray(b.predictions[name]) for b in blocks])
        summands = market_neutral_returns(pred, r)
        return np.cumsum(summands / scale) if scale > 0 else np.zeros(len(summands))

    return {name: curve(name) for name in blocks[0].predictions}


def equity_png(blocks: Sequence[BlockSeries], display_names: dict[str, str]) -> bytes:
    from matplotlib.figure import Figure

    curves = equity_curves(blocks)
    fig = Figure(figsize=(9.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for name, curve in curves.items():
        is_model = name == MODEL
        ax.plot(
            np.arange(1, len(curve) + 1),
            curve,
            label=MODEL_LABEL if is_model else display_names.get(name, name),
            linewidth=2.4 if is_model else 1.1,
            color="#1f77b4" if is_model else None,
            alpha=1.0 if is_model else 0.8,
            zorder=3 if is_model else 2,
        )
    edge = 0
    for b in blocks:
        ax.axvline(edge + 0.5, color="#bbbbbb", linestyle="--", linewidth=0.8)
        ax.text(
            edge + 1,
            1.0,
            f" block {b.block + 1}",
            transform=ax.get_xaxis_transform(),
            va="top",
            fontsize=8,
            color="#777777",
        )
        edge += len(b.labels) or len(b.forward_returns)
    ax.axhline(0.0, color="#444444", linewidth=0.8)
    ax.set_xlabel("test sample (time order)")
    ax.set_ylabel("running trading score (ends at the table's)")
    ax.set_title("Equity curve of the test signals (each block's model trained only on bars before it)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return png_of(fig)


def class_shares(classes: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.asarray(classes, dtype=np.int64), minlength=len(CLASSES)).astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


def distribution_rows(
    blocks: Sequence[BlockSeries], confusion: dict[str, list[list[int]]] | None
) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """(segment, true shares, predicted shares, samples) per segment: blocks, pooled test, final model's val/test."""
    rows = []
    for b in blocks:
        if len(b.labels) and MODEL in b.predictions:
            rows.append(
                (f"block {b.block + 1}", class_shares(b.labels), class_shares(b.predictions[MODEL]), len(b.labels))
            )
    if len(rows) > 1:
        labels = np.concatenate([b.labels for b in blocks])
        pred = np.concatenate([b.predictions[MODEL] for b in blocks])
        rows.append(("walk-forward pooled", class_shares(labels), class_shares(pred), len(labels)))
    for name in ("val", "test"):
        cm = np.asarray((confusion or {}).get(name) or [], dtype=np.float64)
        if cm.shape == (3, 3) and cm.sum() > 0:
            rows.append(
                (
                    f"final model, {'validation' if name == 'val' else 'test'}",
                    cm.sum(axis=1) / cm.sum(),
                    cm.sum(axis=0) / cm.sum(),
                    int(cm.sum()),
                )
            )
    return rows


def distribution_png(rows: Sequence[tuple[str, np.ndarray, np.ndarray, int]]) -> bytes:
    """Per segment, two 100% bars: the true classes and the LSTM's predictions."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 0.9 + 0.75 * len(rows)), layout="constrained")
    ax = fig.subplots()
    ticks, names = [], []
    for i, (segment, truth, pred, n) in enumerate(rows):
        for offset, shares, kind in ((-0.2, truth, "labels"), (0.2, pred, "predicted")):
            y = i + offset
            left = 0.0
            for k, (cls, color) in enumerate(zip(CLASSES, CLASS_COLORS)):
                ax.barh(
                    y,
                    shares[k],
                    left=left,
                    height=0.36,
                    color=color,
                    label=cls if i == 0 and offset < 0 else None,
                    hatch="//" if kind == "predicted" else None,
                    edgecolor="white",
                )
                if shares[k] >= 0.08:
                    ax.text(left + shares[k] / 2, y, f"{shares[k]:.0%}", ha="center", va="center", fontsize=7)
                left += shares[k]
            ticks.append(y)
            names.append(f"{segment} (n={n}): {kind}")
    ax.set_yticks(ticks, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of samples (hatched: the tuned LSTM's predictions)")
    ax.set_title("Predicted vs true class shares per segment", pad=24)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)
    return png_of(fig)
