"""The run report: one self-contained HTML file plus its PNG figures, from a run directory alone.

``write_report(run_dir)`` reads config.yaml, state.json, results.json and the studies, and
writes ``<run_dir>/report/report.html`` (every figure embedded as base64, so the one file
opens offline and can be mailed) next to the PNGs themselves. Sections:

- the verdict in words (results.json `verdict.wording`): does the LSTM beat its best baseline?
  With several symbols, each symbol's scores and own verdict follow the pooled one;
- overview: status, data, per-group counts, how to open the studies in optuna-dashboard;
- optimisation history and parameter importances (fANOVA, seeded) per group;
- Optuna's parallel-coordinate and slice plots per group (report/pictures.py);
- the learning curves (per-epoch metrics) of each group's best trial;
- the equity curve of the test signals, LSTM vs each baseline, over the walk-forward blocks;
- predicted vs true class shares per segment;
- confusion matrices of the final model on validation and test;
- the label distribution per segment (recomputed from the run's config and data);
- the test scores next to the baselines (results.json);
- the fixed params carried from group to group.

It works on a paused, interrupted or still running run: a section shows what exists so
far and says plainly what is not available yet. SQLite studies are opened read-only
(``mode=ro``), so a report never writes to, or blocks, the run that owns them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from hyperopt_cli.config import OptimizationConfig, read_yaml, with_params
from hyperopt_cli.core.atomic import atomic_write_bytes, atomic_write_text
from hyperopt_cli.core.errors import HyperoptError
from hyperopt_cli.report.words import PBO_SCALE, check_lines, small_sample_note
from hyperopt_cli.run import rundir
from hyperopt_cli.run.records import (
    FINAL_ATTR,
    finished_best,
    fixed_params,
    group_objective,
    load_run_config,
)
from hyperopt_cli.run.results import FinalResult, RunResults, panel_of
from hyperopt_cli.run.symbols import POOLED_INTERVAL_NOTE, SYMBOL_HEADER, data_label, symbol_rows
from hyperopt_cli.search.ladder import epoch_rungs
from hyperopt_cli.search.storage import RunStorage, readonly_storage
from hyperopt_cli.search.study_records import group_done_of
from hyperopt_cli.search.summary import GuardPolicy, StudySummary, summarize

__all__ = ["REPORT_DIR", "REPORT_FILE", "SECTIONS", "Report", "readonly_storage", "write_report"]

REPORT_DIR = "report"
REPORT_FILE = "report.html"
CLASSES = ("SELL", "HOLD", "BUY")
CLASS_COLORS = ("#c0392b", "#95a5a6", "#27ae60")
DPI = 100
NOT_YET = "not available yet"

SECTIONS: tuple[tuple[str, str], ...] = (
    ("verdict", "Verdict"),
    ("overview", "Overview"),
    ("history", "Optimisation history"),
    ("importances", "Parameter importances"),
    ("parallel", "Parallel coordinates"),
    ("slice", "Slice plots"),
    ("learning-curves", "Best trial learning curves"),
    ("equity", "Equity curve of the test signals"),
    ("predictions", "Predictions vs labels per segment"),
    ("confusion", "Confusion matrices"),
    ("labels", "Label distribution per segment"),
    ("baselines", "Test scores and baselines"),
    ("feature-importance", "Which inputs the model uses"),
    ("fixed-params", "Fixed params carried from group to group"),
)


@dataclass
class Report:
    """What `write_report` wrote."""

    html: Path
    figures: list[Path]
    missing: dict[str, str] = field(default_factory=dict)  # section id -> why it has no content (yet)


@dataclass
class _Group:
    name: str
    metric: str
    direction: str
    study: optuna.Study | None
    trials: list[FrozenTrial]
    summary: StudySummary | None
    reason: str | None  # why it ended; None while unfinished
    best_params: dict[str, Any] | None  # frozen for later groups once it ended


# --------------------------------------------------------------------------- reading the run


def _read_groups(cfg: OptimizationConfig, run_dir: Path) -> list[_Group]:
    """Every group's study, opened read-only, with its summary and (once finished) its decision."""
    groups = []
    store = RunStorage(cfg, run_dir)
    for group in cfg.groups_to_run():
        metric, direction = group_objective(cfg, group)
        study = store.open_readonly(group)
        trials = list(study.get_trials(deepcopy=False)) if study is not None else []
        summary = (
            summarize(group, trials, metric, direction, cfg.convergence_threshold, policy=GuardPolicy.of(cfg))
            if study
            else None
        )
        record = group_done_of(study.user_attrs) if study is not None else None
        reason = str(record.get("reason") or "done") if record is not None else None
        best = finished_best(record, summary.best_params if summary else None) if record is not None else None
        groups.append(_Group(group, metric, direction, study, trials, summary, reason, best))
    return groups


# --------------------------------------------------------------------------- figures


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # no pyplot: no global backend state, Agg when saved

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _history_png(g: _Group) -> bytes:
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(7.0, 3.4)
    series: dict[str, tuple[list[int], list[float]]] = {"complete": ([], []), "collapsed": ([], []), "pruned": ([], [])}
    for t in sorted(g.trials, key=lambda t: t.number):
        if t.state == TrialState.COMPLETE and t.value is not None:
            kind = "collapsed" if t.user_attrs.get("collapsed") else "complete"
            series[kind][0].append(t.number)
            series[kind][1].append(float(t.value))
        elif t.state == TrialState.PRUNED and t.intermediate_values:
            series["pruned"][0].append(t.number)
            series["pruned"][1].append(float(t.intermediate_values[max(t.intermediate_values)]))
    ax.scatter(*series["complete"], color="#1f77b4", label="complete", zorder=3)
    ax.scatter(*series["collapsed"], color="#d62728", marker="x", label="collapsed (penalised)", zorder=3)
    ax.scatter(*series["pruned"], facecolors="none", edgecolors="#7f7f7f", label="pruned (last value)", zorder=2)
    best_x, best_y, best = [], [], None
    for x, y in sorted(zip(*series["complete"])):
        if best is None or (y > best if g.direction == "maximize" else y < best):
            best = y
        best_x.append(x)
        best_y.append(best)
    if best_x:
        ax.step(
            best_x,
            best_y,
            where="post",
            color="#ff7f0e",
            alpha=0.6,
            linestyle="--",
            label="best raw value so far (before the noise guard)",
        )
    chosen = g.summary.best_trial if g.summary is not None else None
    chosen_value = next((float(t.value) for t in g.trials if t.number == chosen and t.value is not None), None)
    if chosen is not None and chosen_value is not None:  # the table's best: the incumbent guard's choice
        kept = g.summary.kept if g.summary is not None else None
        ax.scatter(
            [chosen],
            [chosen_value],
            marker="*",
            s=220,
            color="#2ca02c",
            zorder=4,
            label=f"chosen: trial {chosen}" + (f" (kept: {kept})" if kept else ""),
        )
    failed = sum(t.state == TrialState.FAIL for t in g.trials)
    ax.set_title(f"{g.name}: {g.metric} ({g.direction})" + (f", {failed} failed" if failed else ""))
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(g.metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def _importances(g: _Group, seed: int) -> tuple[dict[str, float] | None, str]:
    """fANOVA importances of the group's params, or None and the reason."""
    complete = [t for t in g.trials if t.state == TrialState.COMPLETE and t.value is not None]
    if len(complete) < 2:
        return None, f"needs at least 2 complete trials, {len(complete)} so far"
    if g.study is None:
        return None, "no study"
    if len({float(t.value) for t in complete}) < 2:  # type: ignore[arg-type]
        return None, f"cannot be computed: all {len(complete)} complete trials have the same objective value"
    try:
        from optuna.importance import FanovaImportanceEvaluator, get_param_importances

        raw = get_param_importances(g.study, evaluator=FanovaImportanceEvaluator(seed=seed))
    except Exception as exc:  # e.g. every trial had the same params
        return None, f"could not be computed ({type(exc).__name__}: {exc})"
    values = {k: float(v) for k, v in raw.items()}
    if not values or not all(math.isfinite(v) for v in values.values()):
        return None, "could not be computed (the trials do not vary enough)"
    return values, ""


def _importance_png(name: str, values: dict[str, float]) -> bytes:
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig, ax = _figure(6.0, 0.5 + 0.45 * len(items))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#1f77b4")
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, max(1.0, max(v for _, v in items) * 1.15))
    ax.set_title(f"{name}: fANOVA importance")
    ax.set_xlabel("share of the objective's variance")
    return _png(fig)


def _curves_png(name: str, trial: FrozenTrial, history: list[dict[str, Any]]) -> bytes:
    fig, (left, right) = _figure(9.0, 3.4, ncols=2)
    epochs = [int(h["epoch"]) + 1 for h in history]
    params = {**(trial.user_attrs.get("fixed_params") or {}), **trial.params}
    objective = "focal loss" if params.get("use_focal_loss") else "cross-entropy"
    if params.get("label_smoothing"):
        objective += ", label smoothing"
    labels = {
        "train_loss": f"train_loss (training objective: {objective})",
        "val_loss": "val_loss (validation cross-entropy)",
    }
    for key, color in (("train_loss", "#1f77b4"), ("val_loss", "#ff7f0e")):
        left.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", color=color, label=labels[key])
    left.set_title("loss: two different objectives, compare their shapes, not their levels", fontsize=9)
    for key in ("val_f1", "val_precision", "val_recall", "val_accuracy", "trading_score"):
        right.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key)
    right.set_title("validation metrics")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_xticks(epochs)
    fig.suptitle(f"{name}: best trial #{trial.number}")
    return _png(fig)


def _confusion_png(matrices: dict[str, list[list[int]]]) -> bytes:
    names = [n for n in ("val", "test") if n in matrices]
    fig, axes = _figure(4.2 * len(names), 3.8, ncols=len(names))
    axes = np.atleast_1d(axes)
    for ax, name in zip(axes, names):
        cm = np.asarray(matrices[name], dtype=np.float64)
        rows = cm.sum(axis=1, keepdims=True)
        share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
        for i in range(3):
            for j in range(3):
                color = "white" if share[i, j] > 0.6 else "black"
                ax.text(j, i, f"{int(cm[i, j])}\n{share[i, j]:.0%}", ha="center", va="center", color=color, fontsize=9)
        ax.set_xticks(range(3), CLASSES)
        ax.set_yticks(range(3), CLASSES)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{'validation' if name == 'val' else 'test'} (n={int(cm.sum())})")
    return _png(fig)


def _labels_png(counts: dict[str, list[int]]) -> bytes:
    fig, ax = _figure(7.0, 3.4)
    segments = list(counts)
    x = np.arange(len(segments))
    width = 0.26
    for k, (cls, color) in enumerate(zip(CLASSES, CLASS_COLORS)):
        shares = [counts[s][k] / max(sum(counts[s]), 1) for s in segments]
        bars = ax.bar(x + (k - 1) * width, shares, width, label=cls, color=color)
        for bar, s in zip(bars, segments):
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                bar.get_height(),
                f"{counts[s][k]}",
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(x, [f"{s} (n={sum(counts[s])})" for s in segments])
    ax.set_ylabel("share of samples")
    ax.set_ylim(0, 1.0)
    ax.set_title("labels per segment (counts on the bars)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


# --------------------------------------------------------------------------- HTML bits


def _e(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
    return str(value)


def _params(params: dict[str, Any] | None) -> str:
    if not params:
        return "-"
    return ", ".join(f"{k}={_fmt(v, 4)}" for k, v in params.items())


class _Bold(str):
    """A table cell shown in bold (the best of its column), its text escaped like any other."""


def _table(headers: list[str], rows: list[list[Any]], bold_row: int | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td><b>{_e(c)}</b></td>" if isinstance(c, _Bold) else f"<td>{_e(c)}</td>" for c in row)
        body.append(f"<tr{' class=best' if i == bold_row else ''}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}h3{font-size:1.05em;margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}tr.best td{font-weight:bold}img{max-width:100%;display:block;margin:.5em 0}
.note{color:#8a6d3b;background:#fcf8e3;padding:.4em .7em;border-radius:4px}
.verdict{font-size:1.15em;padding:.5em .8em;border-radius:4px;background:#fdecea}.verdict.wins{background:#e6f4ea}code{background:#f4f4f4;padding:0 .3em}
nav a{margin-right:1em}
"""


# --------------------------------------------------------------------------- the report


class _Builder:
    def __init__(self, run_dir: Path, out_dir: Path) -> None:
        self.run_dir = run_dir
        self.out_dir = out_dir
        self.figures: list[Path] = []
        self.missing: dict[str, str] = {}

    def figure(self, name: str, png: bytes, alt: str) -> str:
        path = self.out_dir / name
        atomic_write_bytes(path, png)
        self.figures.append(path)
        return _img(png, alt)

    def not_yet(self, section: str, text: str) -> str:
        self.missing.setdefault(section, text)
        return _note(text)


def write_report(run_dir: Path, out_dir: Path | None = None) -> Report:
    """Write the HTML report and its PNGs for `run_dir` (default: `<run_dir>/report/`)."""
    from hyperopt_cli.run.status import run_status

    run_dir = Path(run_dir)
    status = run_status(run_dir)  # raises RunStateError for a missing or non-run directory
    cfg = load_run_config(run_dir, for_display=True)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / REPORT_DIR
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # private, like the run's other files
    b = _Builder(run_dir, out_dir)
    groups = _read_groups(cfg, run_dir)
    raw = rundir.read_json(run_dir / rundir.RESULTS_FILE)
    results = RunResults.from_json(raw) if raw is not None else None
    last = groups[-1].study
    stored = last.user_attrs.get(FINAL_ATTR) if last is not None else None
    final = FinalResult.from_json(stored) if stored is not None else None
    fixed = _fixed_params(groups, results)
    complete = final is not None

    # results.json first; the study's final record where results.json lacks it (not written yet, or older)
    walk = (results.walk_forward if results else None) or (final.walk_forward if final else None)
    verdict = (results.verdict if results else None) or (final.verdict if final else None)
    importance = (results.feature_importance if results else None) or (final.feature_importance if final else None)
    panel = panel_of(results, final)
    parts = [
        _verdict_section(b, verdict, "times" if panel else "samples") + _checks_part(results) + _symbols_part(panel),
        _overview(cfg, status, groups, run_dir),
        _history_section(b, groups),
        _importance_section(b, groups, cfg.seed),
        _optuna_section(b, groups, "parallel"),
        _optuna_section(b, groups, "slice"),
        _curves_section(b, groups),
        _equity_section(b, walk),
        _predictions_section(b, walk, final.confusion_matrices if final else None),
        _confusion_section(b, final),
        _labels_section(b, cfg, fixed),
        _baselines_section(b, results, final),
        _feature_importance_section(b, importance),
        _fixed_section(groups, fixed, complete),
    ]
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title in SECTIONS)
    generated = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    body = "\n".join(
        f'<section id="{sid}"><h2>{_e(title)}</h2>\n{content}</section>'
        for (sid, title), content in zip(SECTIONS, parts)
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>hyperopt report {_e(status.get('job_id'))}</title><style>{CSS}</style></head><body>\n"
        f"<h1>hyperopt run {_e(status.get('job_id'))} <small>[{_e(status.get('status'))}]</small></h1>\n"
        f"<p>Generated {_e(generated)} from <code>{_e(run_dir)}</code>; a snapshot: run "
        f"<code>hyperopt report {_e(run_dir)}</code> again for the latest state.</p>\n<nav>{nav}</nav>\n{body}\n"
        "</body></html>\n"
    )
    html_path = out_dir / REPORT_FILE
    atomic_write_text(html_path, page)
    return Report(html=html_path, figures=b.figures, missing=b.missing)


def _fixed_params(groups: list[_Group], results: RunResults | None) -> dict[str, Any]:
    """The params frozen so far: results.json's at the end, else the best of every finished group."""
    if results and results.fixed_params is not None:
        return dict(results.fixed_params)
    return fixed_params(g.best_params for g in groups)


def _where(progress: dict[str, Any]) -> str:
    if not progress.get("current_group"):
        return "-"
    trial = progress.get("current_trial")
    return f"{progress['current_group']}, " + (f"trial {trial}" if trial is not None else "between trials")


def _budget(cfg: OptimizationConfig) -> str:
    """A trial's epochs: one number, or the ladder's rungs (search/ladder.py)."""
    rungs = epoch_rungs(cfg.epochs_per_trial, cfg.rung_min_epochs, cfg.rung_eta)
    return (
        str(rungs[0]) if len(rungs) == 1 else f"{' -> '.join(map(str, rungs))} (rungs, the best 1/{cfg.rung_eta} climb)"
    )


def _folds(cfg: OptimizationConfig) -> str:
    """How a trial is scored: the folds, and whether a later one fine-tunes the earlier one's model."""
    if cfg.selection_folds == 1:
        return "1 (one split)"
    return f"{cfg.selection_folds}" + (
        " (warm-started: each fine-tunes the one before)" if cfg.fold_start == "warm" else ""
    )


def _overview(cfg: OptimizationConfig, status: dict[str, Any], groups: list[_Group], run_dir: Path) -> str:
    progress = status.get("progress") or {}
    data = data_label(cfg.data.path, limit=None) or f"synthetic ({cfg.data.synthetic.n_bars} bars)"
    facts: list[list[Any]] = [
        ["status", status.get("status")],
        ["mode", cfg.mode],
        ["data", data],
        ["created", status.get("created_at", "-")],
        ["last update", status.get("updated_at", status.get("rebuilt_at", "-"))],
        ["elapsed (h)", _fmt((status.get("elapsed_s") or 0) / 3600.0, 2)],
        ["current", _where(progress)],
        ["epochs per trial / max trials per group", f"{_budget(cfg)} / {cfg.max_trials_per_group}"],
        ["selection folds", _folds(cfg)],
    ]
    rows: list[list[Any]] = []
    for g in groups:
        s = g.summary
        state = "completed" if g.reason else ("not started" if s is None else "in progress")
        if s is None:
            rows.append([g.name, state, g.metric, "-", "-", "-", "-"])
            continue
        kept = f"; kept: {s.kept}" if s.kept else ""
        rows.append(
            [
                g.name,
                state,
                g.metric,
                f"{s.n_complete}/{s.n_pruned}/{s.n_failed}/{s.n_running}",
                _fmt(s.best_value),
                s.best_trial if s.best_trial is not None else "-",
                (g.reason or "-") + kept,
                _fmt(s.pbo),
            ]
        )
    text = _table(["", ""], facts) + _table(
        ["group", "state", "objective", "trials c/p/f/r", "best", "best trial", "ended by", "PBO"], rows
    )
    text += (
        "<p>Trials are ranked by their objective averaged over purged folds at the best epoch, on the earlier "
        "half of each fold's validation part. A group keeps the values it started from unless a challenger's "
        "gain holds on the later, held-back half, corrected for the number of trials compared "
        "(<em>kept: not confirmed</em>), and whatever they show when its own PBO is 0.5 or more "
        "(<em>kept: ranking no better than chance</em>). PBO is the probability of backtest overfitting "
        f"(CSCV over the trials' fold sub-blocks): {PBO_SCALE}. See docs/selection.md.</p>"
    )
    dashboard = RunStorage(cfg, run_dir).dashboard_url(
        next((g.name for g in groups if g.study is not None), groups[0].name)
    )
    if dashboard is not None:
        text += (
            "<p>Explore a group's study interactively (<code>pip install optuna-dashboard</code>; one study file "
            f"per group): <code>optuna-dashboard {_e(dashboard)}</code></p>"
        )
    raw = read_yaml(run_dir / rundir.CONFIG_FILE)  # use_mlflow as written (load_run_config(for_display) ignores it)
    if raw.get("use_mlflow"):
        from hyperopt_cli.run.tracking import default_tracking_uri

        uri = raw.get("mlflow_tracking_uri") or default_tracking_uri(run_dir)
        text += (
            f"<p>MLflow runs (the web UI needs <code>pip install mlflow</code>): "
            f"<code>mlflow ui --backend-store-uri {_e(uri)}</code></p>"
        )
    return text


def _checks_part(results: RunResults | None) -> str:
    """The run against the defaults, the epoch count and the decision rule (docs/selection.md); '' before results."""
    return "".join(f"<p>{_e(line)}</p>" for line in check_lines(results))


def _verdict_section(b: _Builder, verdict: dict[str, Any] | None, block_unit: str = "samples") -> str:
    """`block_unit`: what a bootstrap block counts, "times" when several symbols share each time."""
    if not verdict or not verdict.get("wording"):
        return b.not_yet("verdict", f"{NOT_YET}: the verdict comes from the walk-forward test after the last group")
    wins = bool(verdict.get("beats_best_baseline"))
    lo, hi = (verdict.get("interval_trading_score") or [None, None])[:2]
    detail = (
        f"Δ is the pooled walk-forward test macro-F1 of the LSTM minus that of the best baseline "
        f"({_e(verdict.get('baseline', '-'))}); the brackets hold its "
        f"{_e(_fmt(100 * float(verdict.get('confidence', 0.95)), 0))}% interval over "
        f"{_e(verdict.get('n_resamples', '-'))} paired block-bootstrap resamples (blocks of "
        f"{_e(verdict.get('block_length', '-'))} {block_unit}). The LSTM wins only when the whole interval is "
        f"above 0, and is significantly worse when the whole interval is below 0. Trading-score difference "
        f"{_e(_fmt(verdict.get('delta_trading_score')))} [{_e(_fmt(lo))}, {_e(_fmt(hi))}]."
    )
    if verdict.get("collapsed"):
        share = 100 * float(verdict.get("top_class_share") or 0)
        detail += (
            f' <strong class="collapsed">The final model is collapsed: {_e(_fmt(share, 0))}% of its test '
            f"predictions are {_e(verdict.get('top_class', '-'))}</strong>, so its F1 reflects the class mix "
            "more than any skill."
        )
    small = small_sample_note(verdict.get("n_samples"))
    if small:
        detail += f' <strong class="collapsed">Note: {_e(small)}.</strong>'
    return f'<p class="verdict{" wins" if wins else ""}"><strong>{_e(verdict["wording"])}</strong></p><p>{detail}</p>'


def _symbols_part(panel: RunResults | FinalResult | None) -> str:
    """Several symbols: each symbol's scores and own verdict under the pooled one; '' for a single file."""
    rows = symbol_rows(panel.symbols if panel else None)
    if not rows:
        return ""
    scaling = panel.scaling if panel else None
    return (
        f"<h3>Per symbol ({len(rows)} symbols{', scaling ' + _e(scaling) if scaling else ''})</h3>"
        f"<p>{_e(POOLED_INTERVAL_NOTE)}</p>" + _table(list(SYMBOL_HEADER), rows)
    )


def _optuna_section(b: _Builder, groups: list[_Group], kind: str) -> str:
    from hyperopt_cli.report.pictures import optuna_png

    what = {"parallel": "parallel coordinates", "slice": "slice plot"}[kind]
    parts = [
        f"<p>Optuna's own {what} (<code>optuna.visualization.matplotlib</code>) of each group's complete "
        "trials: every parameter against the objective.</p>"
    ]
    for g in groups:
        parts.append(f"<h3>{_e(g.name)}</h3>")
        complete = sum(t.state == TrialState.COMPLETE for t in g.trials)
        if g.study is None or complete < 2:
            parts.append(b.not_yet(kind, f"{g.name}: {what} need at least 2 complete trials, {complete} so far"))
            continue
        parts.append(
            b.figure(f"{kind}_{g.name}.png", optuna_png(g.study, kind, f"{g.name}: {g.metric}"), f"{what} of {g.name}")
        )
    return "\n".join(parts)


def _blocks(walk: dict[str, Any] | None) -> list[Any]:
    from hyperopt_cli.report.pictures import BlockSeries

    return [BlockSeries.from_json(raw) for raw in (walk or {}).get("blocks") or []]


def _equity_section(b: _Builder, walk: dict[str, Any] | None) -> str:
    from hyperopt_cli.evaluation.baselines import DISPLAY_NAMES
    from hyperopt_cli.report.pictures import equity_png

    blocks = _blocks(walk)
    if not blocks:
        return b.not_yet("equity", f"{NOT_YET}: the walk-forward test runs after the last group")
    if any(len(x.forward_returns) != len(next(iter(x.predictions.values()))) for x in blocks):
        return b.not_yet("equity", "not recorded: this run's walk-forward blocks predate stored forward returns")
    return (
        "<p>Position SELL −1 / HOLD 0 / BUY +1 on each test sample; each sample adds (position − the mean "
        "position) × (forward return − the mean return) / (n × std of the returns), means and std over every "
        "block's samples: the summands of the pooled trading score, so each curve ends exactly at the trading "
        "score in the table below, always-BUY earns exactly 0 and the trend earns nothing. Forward returns "
        "span the label horizon and overlap, so this is a picture of where the skill lies, not a P&amp;L.</p>"
        + b.figure("equity.png", equity_png(blocks, DISPLAY_NAMES), "equity curve of the test signals")
    )


def _predictions_section(b: _Builder, walk: dict[str, Any] | None, confusion: dict[str, Any] | None) -> str:
    from hyperopt_cli.report.pictures import distribution_png, distribution_rows

    rows = distribution_rows(_blocks(walk), confusion)
    if not rows:
        return b.not_yet("predictions", f"{NOT_YET}: the model's predictions come after the last group")
    table = [
        [seg, n, " / ".join(f"{v:.0%}" for v in truth), " / ".join(f"{v:.0%}" for v in pred)]
        for seg, truth, pred, n in rows
    ]
    return (
        "<p>The tuned LSTM's predicted class shares next to the true ones; a model that ignores a class, or "
        "leans with the majority label, shows here first.</p>"
        + _table(["segment", "samples", "true SELL / HOLD / BUY", "predicted SELL / HOLD / BUY"], table)
        + b.figure("predictions.png", distribution_png(rows), "predicted vs true class shares per segment")
    )


def _history_section(b: _Builder, groups: list[_Group]) -> str:
    parts = []
    for g in groups:
        parts.append(f"<h3>{_e(g.name)}</h3>")
        if not any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in g.trials):
            parts.append(b.not_yet("history", f"{g.name}: {NOT_YET} (no finished trial)"))
            continue
        parts.append(b.figure(f"history_{g.name}.png", _history_png(g), f"optimisation history of {g.name}"))
    return "\n".join(parts)


def _importance_section(b: _Builder, groups: list[_Group], seed: int) -> str:
    parts = [
        f"<p>fANOVA (seed {seed}) over each group's complete trials: the share of the objective's "
        "variance each parameter explains. With few trials this is a rough guide.</p>"
    ]
    for g in groups:
        parts.append(f"<h3>{_e(g.name)}</h3>")
        values, why = _importances(g, seed)
        if values is None:
            parts.append(b.not_yet("importances", f"{g.name}: importance {why}"))
            continue
        parts.append(b.figure(f"importance_{g.name}.png", _importance_png(g.name, values), f"importances of {g.name}"))
    return "\n".join(parts)


def _curves_section(b: _Builder, groups: list[_Group]) -> str:
    parts = []
    for g in groups:
        parts.append(f"<h3>{_e(g.name)}</h3>")
        best = g.summary.best_trial if g.summary is not None else None
        trial = next((t for t in g.trials if t.number == best), None)
        history = trial.user_attrs.get("history") if trial is not None else None
        if trial is None or not history:
            parts.append(b.not_yet("learning-curves", f"{g.name}: {NOT_YET} (no complete trial)"))
            continue
        parts.append(
            f"<p>Trial #{trial.number}: {_e(_params(trial.params))}; objective {_e(_fmt(trial.value))}"
            f"{' (collapsed, penalised)' if trial.user_attrs.get('collapsed') else ''}.</p>"
        )
        parts.append(
            b.figure(
                f"curves_{g.name}.png",
                _curves_png(g.name, trial, history),
                f"learning curves of {g.name} trial {trial.number}",
            )
        )
    return "\n".join(parts)


def _confusion_section(b: _Builder, final: FinalResult | None) -> str:
    if final is None:
        return b.not_yet("confusion", f"{NOT_YET}: the final model is trained and scored after the last group")
    matrices = final.confusion_matrices
    if not matrices:
        return b.not_yet("confusion", "not recorded: this run's final evaluation predates confusion matrices")
    return (
        "<p>The final configuration (best params) on the last walk-forward block's validation part and on "
        "the untouched test segment (pooled over the walk-forward blocks); rows are the true "
        "class, cells hold the count and the share of its row.</p>"
        + b.figure("confusion.png", _confusion_png(matrices), "confusion matrices on validation and test")
    )


def _labels_section(b: _Builder, cfg: OptimizationConfig, fixed: dict[str, Any]) -> str:
    from hyperopt_cli.data.load import load_data
    from hyperopt_cli.data.prepare import SEGMENTS, DataPreparer

    try:
        _, labels_cfg = with_params(cfg, fixed)
        data = DataPreparer.for_run(load_data(cfg), cfg).prepare(labels_cfg)
    except HyperoptError as exc:
        return b.not_yet("labels", f"the data could not be loaded for this section: {exc}")
    counts = {name: [int(c) for c in getattr(data, name).class_counts()] for name in SEGMENTS}
    rows = []
    for name in SEGMENTS:
        seg = getattr(data, name)
        total = max(sum(counts[name]), 1)
        span = (
            f"{np.datetime_as_string(seg.timestamps[0], 'm')} .. {np.datetime_as_string(seg.timestamps[-1], 'm')}"
            if len(seg)
            else "-"
        )
        rows.append([name, len(seg), span, *(f"{c} ({c / total:.1%})" for c in counts[name])])
    lc = labels_cfg
    text = (
        f"<p>Triple-barrier labels with horizon {lc.horizon}, take_profit {_fmt(lc.take_profit, 3)}, "
        f"stop_loss {_fmt(lc.stop_loss, 3)}, threshold {_fmt(lc.threshold, 3)} (the config's values, overridden by "
        f"the fixed params found so far); purge {data.purge_bars} bars before each boundary.</p>"
    )
    return (
        text
        + _table(["segment", "samples", "bars (UTC)", *CLASSES], rows)
        + b.figure("labels.png", _labels_png(counts), "label distribution per segment")
    )


def _baselines_section(b: _Builder, results: RunResults | None, final: FinalResult | None) -> str:
    source: RunResults | FinalResult | None = results if results and results.test_metrics else final
    if not source or not source.test_metrics:
        return b.not_yet("baselines", f"{NOT_YET}: the test segment is scored once, after the last group")
    rows: list[tuple[str, dict[str, Any]]] = [("tuned LSTM", source.test_metrics)]
    rows += list((source.baselines or {}).items())
    table_rows = [
        [
            name,
            _fmt(m.get("macro_f1")),
            _fmt(m.get("macro_precision")),
            _fmt(m.get("macro_recall")),
            _fmt(m.get("accuracy")),
            _fmt(m.get("trading_score")),
            " / ".join(f"{v:.0%}" for v in m.get("pred_distribution") or []),
        ]
        for name, m in rows
    ]
    best = max(range(len(rows)), key=lambda i: rows[i][1].get("macro_f1") or -1.0)
    table_rows[best][1] = _Bold(table_rows[best][1])  # that cell alone: not the row's trading score
    test_range = source.test_range
    where = f" ({str(test_range[0])[:16]} .. {str(test_range[1])[:16]} UTC)" if test_range else ""
    val = source.validation_metrics or {}
    return (
        f"<p>Test segment{_e(where)}, never seen by the search, pooled over the walk-forward blocks (each "
        f"predicted by models trained on every bar before it); best macro F1 in bold. The tuned model's "
        f"validation macro F1 (last block) was {_e(_fmt(val.get('val_f1')))}.</p>"
        + _table(
            ["model", "macro F1", "precision", "recall", "accuracy", "trading score", "predicted SELL / HOLD / BUY"],
            table_rows,
        )
    )


def _feature_importance_section(b: _Builder, importance: dict[str, Any] | None) -> str:
    from hyperopt_cli.evaluation.importance import IMPORTANCE_HEADER, importance_rows

    if not importance:
        return b.not_yet("feature-importance", "not recorded: the final evaluation has not run (or predates it)")
    return (
        "<p>Permutation importance per feature family on the last walk-forward block "
        f"({importance.get('block_samples')} samples): each family's columns shuffled across the samples; "
        "how much macro-F1 drops and cross-entropy rises. Near 0: the model does not use that family.</p>"
        + _table(list(IMPORTANCE_HEADER), importance_rows(importance))
    )


def _fixed_section(groups: list[_Group], fixed: dict[str, Any], complete: bool) -> str:
    carried: dict[str, Any] = {}
    rows = []
    for g in groups:
        found = g.best_params
        state = "completed" if g.reason else ("not started" if g.summary is None else "in progress")
        rows.append([g.name, state, _params(carried), _params(found) if found else "-"])
        if found:
            carried = {**carried, **found}
    text = (
        "<p>Each group searches its own parameters with the best values of the groups before it frozen "
        "(carried in); everything else keeps the config's values.</p>"
    )
    text += _table(["group", "state", "carried in", "found (frozen for later groups)"], rows)
    label = "used by the final evaluation" if complete else "frozen so far"
    return text + f"<p>Fixed params {label}: {_e(_params(fixed))}</p>"
