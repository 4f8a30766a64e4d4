"""The final evaluation: the chosen configuration walks forward over the test blocks, and is saved.

The walk-forward is the only final evaluation: for each of `walk_forward_blocks` test
blocks the configuration (and every baseline) is trained on all labelled bars before it
and scores the block. The run's test metrics are the pooled metrics of those blocks, the
baselines' scores likewise, and the verdict compares them. The model trained for the last
block (on every labelled bar before it) is what the run hands its user: it is saved to
RUN_DIR/model/ (see hyperopt_cli.model).

Each finished block is kept in the last group's study user attrs, so a stop resumes at the
next block; a result already stored for the same params is returned as is (and its model
rebuilt, by retraining the last block with the same seeds, if model/ went missing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hyperopt_cli.config import OptimizationConfig, families_for, model_for, with_params
from hyperopt_cli.core.errors import StopRequested
from hyperopt_cli.core.faults import fault_point
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.run.events import EventSink
from hyperopt_cli.run.records import FINAL_ATTR
from hyperopt_cli.search.events import EvaluationNote
from hyperopt_cli.search.group import params_tag
from hyperopt_cli.training.metrics import confusion_matrix
from hyperopt_cli.training.seeding import derive_seed
from hyperopt_cli.training.trainer import TrainHooks, TrainingInterrupted, delete_checkpoint

if TYPE_CHECKING:
    from hyperopt_cli.evaluation.lstm import BlockModels
    from hyperopt_cli.evaluation.walkforward import WalkForwardResult, WalkForwardSource


WALK_FORWARD_ATTR = "walk_forward_blocks"  # + "_" + params tag: the finished blocks, as JSON
LAST_BLOCK_ATTR = "walk_forward_last_block"  # + "_" + params tag: the last block's validation record


class RecordStore(Protocol):
    """Where the result is kept: an Optuna study's user attrs (the last group's study)."""

    @property
    def user_attrs(self) -> dict[str, Any]: ...

    def set_user_attr(self, key: str, value: Any) -> None: ...


@dataclass
class FinalEvaluation:
    """What the final evaluation works with; `model_dir` None: no model is saved (e.g. in tests)."""

    cfg: OptimizationConfig
    preparer: DataPreparer
    fixed: dict[str, Any]
    stop_event: threading.Event
    store: RecordStore
    checkpoints: Path  # folder of the blocks' training checkpoints
    events: EventSink
    model_dir: Path | None = None
    data_fingerprint: dict[str, Any] | None = None  # state.json's "data": path, bars, sha256
    epochs: int | None = None  # what selection chose (None: epochs_per_trial)
    # The verdict as results.json words it (with the run's PBO and search note), for the saved model.
    annotate: Callable[[dict[str, Any] | None], dict[str, Any] | None] | None = None

    @property
    def n_epochs(self) -> int:
        return self.epochs or self.cfg.epochs_per_trial

    @property
    def tag(self) -> str:
        """The params (and the epoch count, where selection chose fewer) a stored result belongs to."""
        if self.n_epochs == self.cfg.epochs_per_trial:
            return params_tag(self.fixed)
        return params_tag({**self.fixed, "__epochs": self.n_epochs})


def final_evaluation(
    cfg: OptimizationConfig,
    preparer: DataPreparer,
    fixed: dict[str, Any],
    stop_event: threading.Event,
    store: RecordStore,
    checkpoint: Path,
    events: EventSink,
    model_dir: Path | None = None,
    data_fingerprint: dict[str, Any] | None = None,
    epochs: int | None = None,
    annotate: Callable[[dict[str, Any] | None], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Walk forward with `fixed` for `epochs` (selection's choice), state the verdict, save the last block's model."""
    run = FinalEvaluation(
        cfg,
        preparer,
        fixed,
        stop_event,
        store,
        checkpoint.parent,
        events,
        model_dir,
        data_fingerprint,
        epochs,
        annotate,
    )
    existing = store.user_attrs.get(FINAL_ATTR)
    if existing is not None and existing.get("params_tag") == run.tag:
        if model_dir is not None and not (model_dir / "model.json").is_file():
            events.emit(EvaluationNote(message=f"{model_dir} is missing: retraining the last walk-forward block"))
            _save_model(run, existing, _retrain_last_block(run))
        return dict(existing)
    events.emit(
        EvaluationNote(
            message=f"walking forward over {cfg.walk_forward_blocks} test blocks "
            f"with the best params ({len(fixed)} fixed), {run.n_epochs} epochs"
        )
    )
    last: list[BlockModels] = []
    result = _walk_forward(run, last)
    from hyperopt_cli.evaluation.verdict import verdict

    judged = verdict(result, seed=derive_seed(cfg.seed, "verdict"))
    events.emit(EvaluationNote(message=judged.wording()))
    final = _record(run, result, judged.as_dict())
    final.update(_per_symbol(run, result))
    store.set_user_attr(FINAL_ATTR, final)
    if model_dir is not None:
        _save_model(run, final, last[-1] if last else _retrain_last_block(run))
    for block_checkpoint in run.checkpoints.glob("walk_forward_*.pt"):
        delete_checkpoint(block_checkpoint)
    return final


def _source(run: FinalEvaluation) -> tuple[Any, WalkForwardSource]:
    from hyperopt_cli.evaluation.walkforward import WalkForwardSource

    _, labels_cfg = with_params(run.cfg, run.fixed)
    data = run.preparer.prepare(labels_cfg, families_for(run.cfg, run.fixed), model_for(run.cfg, run.fixed)[1])
    return data, WalkForwardSource.from_prepared(run.preparer, data)


def _fit_predict(run: FinalEvaluation, data: Any, on_models: Any) -> Any:
    from hyperopt_cli.evaluation.lstm import lstm_fit_predict

    trainer_cfg, _ = with_params(run.cfg, run.fixed)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    return lstm_fit_predict(
        trainer_cfg,
        model_for(run.cfg, run.fixed)[0],
        epochs=run.n_epochs,
        seed=derive_seed(run.cfg.seed, "final"),
        purge_bars=data.purge_bars,
        feature_names=data.feature_names,
        hooks=TrainHooks(should_stop=run.stop_event.is_set),
        checkpoint_dir=run.checkpoints,
        ensemble_seeds=run.cfg.ensemble_seeds,
        on_models=on_models,
        decision_rule=run.cfg.decision_rule,
    )


def _walk_forward(run: FinalEvaluation, last: list[BlockModels]) -> WalkForwardResult:
    """Every block not stored yet; the last block's members land in `last` (and its validation record in the store)."""
    from hyperopt_cli.evaluation.walkforward import BlockResult, walk_forward

    cfg, store = run.cfg, run.store
    key = f"{WALK_FORWARD_ATTR}_{run.tag}"
    done = [BlockResult.from_dict(raw) for raw in store.user_attrs.get(key, [])]
    data, source = _source(run)
    last_first_row = _last_block_first_row(source, cfg.walk_forward_blocks)

    def keep(block: BlockResult) -> None:
        done.append(block)
        store.set_user_attr(key, [b.as_dict() for b in done])
        fault_point("during_final")
        run.events.emit(
            EvaluationNote(
                message=f"walk-forward block {block.block + 1}/{cfg.walk_forward_blocks}: "
                f"LSTM macro-F1 {block.metrics['model']['macro_f1']:.4f}"
            )
        )

    def on_models(models: BlockModels) -> None:
        if int(models.block.end_rows[0]) == last_first_row:
            last.append(models)
            record = _validation_record(models)
            from hyperopt_cli.evaluation.importance import family_importance  # issue 26: which inputs it uses

            record["feature_importance"] = family_importance(
                models, data.feature_names, cfg.seed, cfg.trainer.eval_batch_size, cfg.trainer.device
            )
            store.set_user_attr(f"{LAST_BLOCK_ATTR}_{run.tag}", record)

    from hyperopt_cli.evaluation.baselines import baselines_for

    try:
        return walk_forward(
            source,
            _fit_predict(run, data, on_models),
            n_blocks=cfg.walk_forward_blocks,
            seed=cfg.seed,
            baselines=baselines_for(cfg.decision_rule),
            done=list(done),
            on_block=keep,
        )
    except TrainingInterrupted:
        raise StopRequested("stop requested") from None


def _last_block_first_row(source: WalkForwardSource, n_blocks: int) -> int:
    from hyperopt_cli.evaluation.walkforward import walk_forward_folds

    fold = walk_forward_folds(source, n_blocks)[-1]
    return int(source.end_rows[fold.test_idx[0]])


def _validation_record(models: BlockModels) -> dict[str, Any]:
    """The last block's training history end (member 0) and its validation confusion matrix."""
    return {
        "validation_metrics": models.members[0].history[-1].as_dict(),
        "val_confusion": confusion_matrix(models.val.labels, models.val_pred).tolist(),
        "precision": models.members[0].precision,  # what the training steps ran in
    }


def _retrain_last_block(run: FinalEvaluation) -> BlockModels:
    """Train the last block's members again (same seeds: on CPU the same weights) to rebuild a lost model/."""
    from hyperopt_cli.evaluation.walkforward import fold_segments, walk_forward_folds

    data, source = _source(run)
    fold = walk_forward_folds(source, run.cfg.walk_forward_blocks)[-1]
    train, block = fold_segments(source, fold)
    last: list[BlockModels] = []
    try:
        _fit_predict(run, data, last.append)(train, block)
    except TrainingInterrupted:
        raise StopRequested("stop requested") from None
    return last[-1]


def _record(run: FinalEvaluation, result: WalkForwardResult, judged: dict[str, Any]) -> dict[str, Any]:
    """The final evaluation's dict: pooled walk-forward metrics under the keys results.json always had."""
    from hyperopt_cli.evaluation.walkforward import MODEL

    walk = result.as_dict()
    blocks = walk["blocks"]
    validation = run.store.user_attrs.get(f"{LAST_BLOCK_ATTR}_{run.tag}") or {}
    matrices = {"test": confusion_matrix(result.labels, result.predictions[MODEL]).tolist()}
    if validation.get("val_confusion"):
        matrices = {"val": validation["val_confusion"], **matrices}
    pooled = result.pooled
    return {
        "params_tag": run.tag,
        "epochs": run.n_epochs,  # what every walk-forward model (and the saved one) trained for
        "precision": validation.get("precision"),  # the last block's training precision
        "test_metrics": pooled[MODEL],
        "validation_metrics": validation.get("validation_metrics"),
        "baselines": {name: m for name, m in pooled.items() if name != MODEL},
        "test_range": [blocks[0]["first_timestamp"], blocks[-1]["last_timestamp"]] if blocks else None,
        # rows: true SELL/HOLD/BUY, columns: predicted; "val" is the last block's validation part
        "confusion_matrices": matrices,
        "walk_forward": walk,
        "verdict": judged,
        "feature_importance": validation.get("feature_importance"),  # last block, per family (importance.py)
        "decision": decision_record(run.cfg.decision_rule, result),
    }


def decision_record(rule: str, result: WalkForwardResult) -> dict[str, Any]:
    """results.json `decision`: the rule, each block's fitted offsets, and what argmax would have scored."""
    from hyperopt_cli.evaluation.walkforward import MODEL

    argmax = result.argmax_pooled
    return {
        "rule": rule,
        "blocks": [block.rules.get(MODEL) for block in result.blocks],
        "argmax_test_metrics": argmax.get(MODEL),
        "argmax_baselines": {name: m for name, m in argmax.items() if name != MODEL},
    }


def _per_symbol(run: FinalEvaluation, result: WalkForwardResult) -> dict[str, Any]:
    """Several symbols: each symbol's metrics and own verdict, and the scaling; {} for one symbol."""
    from hyperopt_cli.run.symbols import symbol_results

    per_symbol = symbol_results(result, seed=derive_seed(run.cfg.seed, "verdict"))
    if not per_symbol:
        return {}
    return {"symbols": per_symbol, "scaling": getattr(run.preparer, "scaling", None)}


def _save_model(run: FinalEvaluation, final: dict[str, Any], models: BlockModels) -> None:
    from hyperopt_cli.model.build import save_block_models

    assert run.model_dir is not None
    if run.annotate is not None:
        final = {**final, "verdict": run.annotate(final.get("verdict"))}
    save_block_models(run.model_dir, run.cfg, run.fixed, run.preparer, models, final, run.data_fingerprint)
    run.events.emit(EvaluationNote(message=f"model saved to {run.model_dir}"))
