"""The final evaluation: train the chosen configuration once more and score it on the test segment.

Narrow on purpose (a walk-forward evaluation will replace it): config, data preparer,
fixed params, stop event and the place its result is kept in, to a plain dict. A result
already stored for the same params is returned as is, so a resumed run does not retrain.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from hyperopt_cli.config import OptimizationConfig, with_params
from hyperopt_cli.errors import StopRequested
from hyperopt_cli.run.evaluation import baselines, score_predictions
from hyperopt_cli.run.events import EventSink
from hyperopt_cli.run.records import FINAL_ATTR
from hyperopt_cli.search.group import PreparerLike, params_tag
from hyperopt_cli.training.metrics import confusion_matrix
from hyperopt_cli.training.seeding import derive_seed
from hyperopt_cli.training.trainer import TrainHooks, TrainingInterrupted, delete_checkpoint, predict, train_model


WALK_FORWARD_ATTR = "walk_forward_blocks"  # + "_" + params tag: the finished blocks, as JSON
SINGLE_ATTR = "final_single_model"  # the single test score, kept while the walk-forward runs


class RecordStore(Protocol):
    """Where the result is kept: an Optuna study's user attrs (the last group's study)."""

    @property
    def user_attrs(self) -> dict[str, Any]: ...

    def set_user_attr(self, key: str, value: Any) -> None: ...


def final_evaluation(cfg: OptimizationConfig, preparer: PreparerLike, fixed: dict[str, Any],
                     stop_event: threading.Event, store: RecordStore, checkpoint: Path,
                     events: EventSink) -> dict[str, Any]:
    """Train with `fixed` (checkpointed at `checkpoint`, so a stop resumes it) and score val and test."""
    existing = store.user_attrs.get(FINAL_ATTR)
    if existing is not None and existing.get("params_tag") == params_tag(fixed):
        return dict(existing)
    trainer_cfg, labels_cfg = with_params(cfg, fixed)
    data = preparer.prepare(labels_cfg)
    single = store.user_attrs.get(SINGLE_ATTR)
    if single is not None and single.get("params_tag") == params_tag(fixed):  # stopped during walk-forward
        final = dict(single)
        final.update(walk_forward_evaluation(cfg, preparer, fixed, data, stop_event, store, checkpoint.parent, events))
        store.set_user_attr(FINAL_ATTR, final)
        return final
    events.emit("evaluation", message=f"training with the best params ({len(fixed)} fixed) and scoring the test segment")
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = train_model(
            data, trainer_cfg, cfg.model, epochs=cfg.epochs_per_trial, seed=derive_seed(cfg.seed, "final"),
            hooks=TrainHooks(should_stop=stop_event.is_set), checkpoint_path=checkpoint,
            checkpoint_tag=params_tag(fixed),
        )
    except TrainingInterrupted:
        raise StopRequested("stop requested") from None
    pred, _ = predict(result.model, data.test, trainer_cfg.eval_batch_size, next(result.model.parameters()).device)
    final = {
        "params_tag": params_tag(fixed),
        "precision": result.precision,  # what the final model's training steps ran in
        "test_metrics": score_predictions(data.test, pred),
        "validation_metrics": result.history[-1].as_dict(),
        "baselines": baselines(data, cfg.seed),
        "test_range": [str(data.test.timestamps[0]), str(data.test.timestamps[-1])] if len(data.test) else None,
        # rows: true SELL/HOLD/BUY, columns: predicted; for the report
        "confusion_matrices": {
            "val": confusion_matrix(data.val.labels, result.val_pred).tolist(),
            "test": confusion_matrix(data.test.labels, pred).tolist(),
        },
    }
    delete_checkpoint(checkpoint)
    t = final["test_metrics"]
    best_name, best = max(final["baselines"].items(), key=lambda kv: kv[1]["macro_f1"])
    events.emit("evaluation", message=f"test macro-F1 {t['macro_f1']:.4f} vs best baseline {best_name} {best['macro_f1']:.4f}")
    store.set_user_attr(SINGLE_ATTR, final)
    final.update(walk_forward_evaluation(cfg, preparer, fixed, data, stop_event, store, checkpoint.parent, events))
    store.set_user_attr(FINAL_ATTR, final)
    return final


def walk_forward_evaluation(cfg: OptimizationConfig, preparer: PreparerLike, fixed: dict[str, Any], data: Any,
                            stop_event: threading.Event, store: RecordStore, checkpoints: Path,
                            events: EventSink) -> dict[str, Any]:
    """The chosen configuration and the baselines walk-forward over the test blocks, and the verdict.

    Each finished block is kept in `store` under its own attribute, so a stop resumes at the
    next block without refitting the finished ones.
    """
    from hyperopt_cli.evaluation.lstm import lstm_fit_predict
    from hyperopt_cli.evaluation.verdict import verdict
    from hyperopt_cli.evaluation.walkforward import BlockResult, WalkForwardSource, walk_forward

    trainer_cfg, _ = with_params(cfg, fixed)
    tag = params_tag(fixed)
    key = f"{WALK_FORWARD_ATTR}_{tag}"
    done = [BlockResult.from_dict(raw) for raw in store.user_attrs.get(key, [])]

    def keep(block: BlockResult) -> None:
        done.append(block)
        store.set_user_attr(key, [b.as_dict() for b in done])
        events.emit("evaluation", message=f"walk-forward block {block.block + 1}/{cfg.walk_forward_blocks}: "
                    f"LSTM macro-F1 {block.metrics['model']['macro_f1']:.4f}")

    fit_predict = lstm_fit_predict(
        trainer_cfg, cfg.model, epochs=cfg.epochs_per_trial, seed=derive_seed(cfg.seed, "final"),
        purge_bars=data.purge_bars, feature_names=data.feature_names,
        hooks=TrainHooks(should_stop=stop_event.is_set), checkpoint_dir=checkpoints,
    )
    try:
        result = walk_forward(WalkForwardSource.from_prepared(preparer, data), fit_predict,
                              n_blocks=cfg.walk_forward_blocks, seed=cfg.seed, done=list(done), on_block=keep)
    except TrainingInterrupted:
        raise StopRequested("stop requested") from None
    for block_checkpoint in checkpoints.glob("walk_forward_*.pt"):
        delete_checkpoint(block_checkpoint)
    judged = verdict(result, seed=derive_seed(cfg.seed, "verdict"))
    events.emit("evaluation", message=judged.wording())
    return {"walk_forward": result.as_dict(), "verdict": judged.as_dict()}
