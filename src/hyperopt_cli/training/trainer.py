"""Train one trial's LSTM: a plain epoch loop with stop checks, checkpoints and exact resume.

Read top to bottom, `train_model` is: seed and build the model, resume from a checkpoint if
one matches, then for each epoch shuffle, run the batches, evaluate on validation, save a
checkpoint and report through `hooks.on_epoch`.

Stop and resume. `hooks.should_stop()` is asked before every batch and every evaluation
batch; when it says yes a checkpoint is written and `TrainingInterrupted` is raised. A
checkpoint is also written at the end of every epoch and whenever
`checkpoint_interval_s` passed since the last one. Resuming continues at the saved batch.

Best-epoch restore. With `restore_best_epoch`, the weights after the epoch with the best
validation objective (`epoch_objective`, val_f1 unless the caller passes its own; the
earliest epoch wins a tie) are kept beside the running ones, saved in every checkpoint,
and returned as the result's model with their validation predictions.

Determinism. No random state is carried from batch to batch: the model init, each epoch's
order, each batch's noise/mixup and each batch's dropout come from seeds derived from
(seed, what, epoch, batch). So on CPU a run stopped anywhere and resumed in a new process
ends with bit-identical weights and history (all but the wall-clock `seconds`).

Precision. `trainer.precision` bf16 runs each training step's forward pass under bf16
autocast (precision.py); weights, optimiser state, loss and metrics stay fp32, and
validation and `predict` always run in fp32, so scores do not depend on it. Resume is
bit-identical per precision on CPU; a checkpoint of one precision never resumes another.

This module never imports optuna or rich: whoever watches training does so through hooks.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

from hyperopt_cli.config import ModelConfig, TrainerConfig
from hyperopt_cli.core.atomic import atomic_write
from hyperopt_cli.core.errors import DivergedError, TrainingError
from hyperopt_cli.data.prepare import CLASS_NAMES, PreparedData, Segment
from hyperopt_cli.training.losses import LossFn, build_loss
from hyperopt_cli.training.metrics import COLLAPSE_LIMIT, block_metrics, classification_metrics, trading_score
from hyperopt_cli.training.model import N_CLASSES, LSTMClassifier
from hyperopt_cli.training.optim import adamw
from hyperopt_cli.training.precision import autocast, resolve_precision
from hyperopt_cli.training.seeding import derive_seed, numpy_rng, torch_generator

log = logging.getLogger("hyperopt_cli")

CHECKPOINT_FORMAT = 2  # bump when the checkpoint layout changes; other versions are ignored


@dataclass
class EpochMetrics:
    """What one epoch reports; `epoch` counts from 0."""

    epoch: int
    train_loss: float  # mean training loss over the epoch's batches (with smoothing/weights/mixup)
    val_loss: float  # plain cross-entropy on validation, comparable across trials
    val_f1: float  # macro F1 over SELL/HOLD/BUY
    val_precision: float  # macro precision
    val_recall: float  # macro recall
    val_accuracy: float
    per_class_f1: list[float]  # [SELL, HOLD, BUY]
    pred_distribution: list[float]  # share of validation predictions per class
    collapsed: bool  # more than 90% of validation predictions in one class
    trading_score: float  # see metrics.trading_score
    seconds: float  # wall time of the epoch (training + evaluation), summed over resumes
    # The same metrics on each contiguous validation sub-block (metrics.SUB_BLOCKS): the paired
    # units the incumbent guard and PBO compare. Empty in histories stored before it existed.
    val_blocks: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EpochMetrics:
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


@dataclass
class TrainHooks:
    """How a caller watches and steers training; every hook is optional."""

    on_epoch: Callable[[EpochMetrics], None] | None = None  # after each epoch (and replayed on resume)
    should_stop: Callable[[], bool] | None = None  # asked before every batch; True: checkpoint and stop
    on_warning: Callable[[str], None] | None = None  # mode collapse, unusable checkpoint; default: log


class TrainingInterrupted(Exception):
    """`should_stop()` returned True; the checkpoint (if any) is written and training can resume."""

    def __init__(self, checkpoint_path: Path | None, epoch: int, batch: int) -> None:
        where = f"checkpoint {checkpoint_path}" if checkpoint_path is not None else "no checkpoint path given"
        super().__init__(f"training stopped at epoch {epoch}, batch {batch} ({where})")
        self.checkpoint_path = checkpoint_path
        self.epoch = epoch
        self.batch = batch


@dataclass
class TrainResult:
    history: list[EpochMetrics]  # one entry per epoch, including epochs done before a resume
    model: nn.Module  # the trained model, on the training device, in eval mode
    val_pred: np.ndarray  # class index of each validation sample after the last epoch
    val_probs: np.ndarray  # (n_val, 3) softmax probabilities after the last epoch
    resumed_from_epoch: int | None  # position the checkpoint resumed at; None: started fresh
    resumed_from_batch: int | None
    best_epoch: int | None = None  # the epoch whose weights `model` holds with restore_best_epoch; None: the last
    precision: str = "fp32"  # what the training steps ran in: "fp32" or "bf16" (trainer.precision resolved)


EpochObjective = Callable[[EpochMetrics], float]  # higher is better
Weights = Mapping[str, torch.Tensor]  # a model's state_dict


class _BestEpoch:
    """The best epoch so far by the objective, and a copy of its weights."""

    def __init__(self, objective: EpochObjective) -> None:
        self.objective = objective
        self.reset()

    def reset(self) -> None:
        self.epoch: int | None = None
        self.value = -math.inf
        self.weights: dict[str, torch.Tensor] | None = None

    def update(self, metrics: EpochMetrics, model: nn.Module) -> None:
        value = float(self.objective(metrics))
        if self.epoch is None or value > self.value:  # NaN never wins; a tie keeps the earlier epoch
            self.epoch, self.value = metrics.epoch, value
            self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def state(self) -> dict[str, Any] | None:
        if self.epoch is None:
            return None
        return {"epoch": self.epoch, "value": self.value, "weights": self.weights}

    def load(self, saved: dict[str, Any] | None) -> None:
        if saved is not None:
            self.epoch, self.value, self.weights = int(saved["epoch"]), float(saved["value"]), saved["weights"]


@dataclass
class _Position:
    """Where training stands; what a checkpoint needs besides the state_dicts."""

    epoch: int = 0
    batch: int = 0  # next batch to run in `epoch`
    loss_sum: float = 0.0  # training loss summed over the epoch's finished batches
    seconds: float = 0.0  # wall time already spent on `epoch` (before a resume)


# --------------------------------------------------------------------------- public helpers


def resolve_device(name: str) -> torch.device:
    """ "auto": CUDA when available, else CPU; "cuda" without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("trainer.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return torch.device(name)


def predict(
    model: nn.Module, segment: Segment, batch_size: int, device: torch.device | str
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices (n,) int64 and softmax probabilities (n, 3) float32 of every sample in `segment`."""
    logits = _logits(model, segment, batch_size, torch.device(device))
    assert logits is not None
    return logits.argmax(dim=1).numpy(), torch.softmax(logits, dim=1).numpy()


def delete_checkpoint(path: Path) -> None:
    """Remove a trial's checkpoint and any temp file a killed write left beside it."""
    path = Path(path)
    path.unlink(missing_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def epoch_order(labels: np.ndarray, seed: int, epoch: int, oversample: bool) -> np.ndarray:
    """The training sample indices of `epoch`, in order; a function of (seed, epoch) only.

    With `oversample`, each class present gets ceil(n / classes) draws (with replacement
    when it has fewer members), so an epoch stays about as long as without it.
    """
    rng = numpy_rng(seed, "shuffle", epoch)
    n = len(labels)
    if not oversample:
        return rng.permutation(n)
    members = [np.flatnonzero(labels == c) for c in range(N_CLASSES)]
    members = [m for m in members if len(m)]
    per_class = math.ceil(n / len(members))
    picks = [rng.choice(m, size=per_class, replace=len(m) < per_class) for m in members]
    return rng.permutation(np.concatenate(picks))


# --------------------------------------------------------------------------- training


def train_model(
    data: PreparedData,
    trainer_cfg: TrainerConfig,
    model_cfg: ModelConfig,
    *,
    epochs: int,
    seed: int,
    hooks: TrainHooks | None = None,
    checkpoint_path: Path | None = None,
    checkpoint_tag: str = "",
    epoch_objective: EpochObjective | None = None,
    initial_weights: Weights | None = None,
) -> TrainResult:
    """Train for `epochs` epochs on data.train, evaluating on data.val after each.

    Resumes from `checkpoint_path` when it holds a checkpoint of this same training
    (same `checkpoint_tag`, seed and data shape). Raises `TrainingInterrupted` after a
    stop request and `DivergedError` on a NaN/inf loss. The caller deletes the
    checkpoint when the trial is over (`delete_checkpoint`). `epoch_objective` ranks the
    epochs for `restore_best_epoch` (higher is better; default val_f1). `initial_weights` (a
    state_dict of the same architecture) replace the seeded initialisation of a fresh start; a
    usable checkpoint wins over them, since it continues a training that started from them.
    """
    hooks = hooks or TrainHooks()
    if len(data.train) == 0 or len(data.val) == 0:
        raise TrainingError(
            f"training needs samples in train and val, got {len(data.train)} and {len(data.val)}; "
            "use more bars or larger train/val fractions"
        )
    device = resolve_device(trainer_cfg.device)
    # From here on cfg.precision is what the steps run in ("fp32" or "bf16"), never "auto".
    trainer_cfg = dataclasses.replace(trainer_cfg, precision=resolve_precision(trainer_cfg.precision, device))
    if trainer_cfg.num_threads > 0:
        torch.set_num_threads(trainer_cfg.num_threads)
    # Training reseeds torch's global RNG (init, dropout); give the caller theirs back afterwards.
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices):
        best = _BestEpoch(epoch_objective or (lambda m: m.val_f1)) if trainer_cfg.restore_best_epoch else None
        start = _Start(checkpoint_path, checkpoint_tag, initial_weights)
        return _train(data, trainer_cfg, model_cfg, epochs, seed, hooks, start, device, best)


def _build(
    data: PreparedData, cfg: TrainerConfig, model_cfg: ModelConfig, seed: int, device: torch.device
) -> tuple[nn.Module, torch.optim.Optimizer, CosineAnnealingWarmRestarts]:
    torch.manual_seed(derive_seed(seed, "init"))
    model = LSTMClassifier(data.n_features, model_cfg.hidden_size, model_cfg.num_layers, cfg.dropout).to(device)
    optimizer = adamw(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = CosineAnnealingWarmRestarts(optimizer, T_0=cfg.scheduler_T_0, T_mult=cfg.scheduler_T_mult)
    return model, optimizer, scheduler


@dataclass(frozen=True)
class _Start:
    """Where a training starts: its checkpoint (continued when usable), else these weights, else the seeded init."""

    checkpoint_path: Path | None
    checkpoint_tag: str
    initial_weights: Weights | None


def _restore(
    data: PreparedData,
    cfg: TrainerConfig,
    model_cfg: ModelConfig,
    seed: int,
    device: torch.device,
    best: _BestEpoch | None,
    start: _Start,
    fingerprint: dict[str, int],
    warn: Callable[[str], None],
) -> tuple[nn.Module, Any, Any, _Position, list[EpochMetrics], _Position | None]:
    """A fresh model, optimiser and scheduler, or those of a usable checkpoint, with its position and history."""

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer, CosineAnnealingWarmRestarts]:
        model, optimizer, scheduler = _build(data, cfg, model_cfg, seed, device)
        if start.initial_weights is not None:
            model.load_state_dict(start.initial_weights)  # in place: the optimiser keeps its parameters
        return model, optimizer, scheduler

    model, optimizer, scheduler = fresh()
    pos = _Position()
    history: list[EpochMetrics] = []
    resumed: _Position | None = None
    path = start.checkpoint_path
    saved = _read_checkpoint(path, start.checkpoint_tag, fingerprint, warn) if path else None
    if saved is not None:
        try:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            pos = _Position(**saved["position"])
            history = [EpochMetrics.from_dict(m) for m in saved["history"]]
            if best is not None:
                best.load(saved["best"])
            resumed = dataclasses.replace(pos)
        except Exception as exc:  # a partly loaded model is unusable: rebuild from scratch
            warn(f"checkpoint {path} could not be restored ({exc}); starting the trial fresh")
            model, optimizer, scheduler = fresh()
            pos, history = _Position(), []
            if best is not None:
                best.reset()
    return model, optimizer, scheduler, pos, history, resumed


def _train(
    data: PreparedData,
    cfg: TrainerConfig,
    model_cfg: ModelConfig,
    epochs: int,
    seed: int,
    hooks: TrainHooks,
    start: _Start,
    device: torch.device,
    best: _BestEpoch | None,
) -> TrainResult:
    warn = hooks.on_warning or log.warning
    should_stop = hooks.should_stop or (lambda: False)
    fingerprint = _fingerprint(data, cfg, model_cfg, seed)

    model, optimizer, scheduler, pos, history, resumed = _restore(
        data, cfg, model_cfg, seed, device, best, start, fingerprint, warn
    )
    if hooks.on_epoch is not None:
        for metrics in history:  # lets the caller re-report epochs a crash may have lost
            hooks.on_epoch(metrics)

    checkpoints = _Checkpointer(
        start.checkpoint_path, start.checkpoint_tag, fingerprint, model, optimizer, scheduler, best, history
    )

    def stop(p: _Position) -> TrainingInterrupted:
        checkpoints.save(p)
        return TrainingInterrupted(start.checkpoint_path, p.epoch, p.batch)

    loss_fn = build_loss(cfg, data.class_weights, device)
    train = data.train
    val_logits: torch.Tensor | None = None
    last_save = time.monotonic()
    for epoch in range(pos.epoch, epochs):
        order = epoch_order(train.labels, seed, epoch, cfg.use_oversampling)
        n_batches = math.ceil(len(order) / cfg.batch_size)
        if epoch != pos.epoch:
            pos = _Position(epoch=epoch)
        started = time.monotonic() - pos.seconds
        model.train()
        for b in range(pos.batch, n_batches):
            pos.batch, pos.seconds = b, time.monotonic() - started
            if should_stop():
                raise stop(pos)
            if time.monotonic() - last_save >= cfg.checkpoint_interval_s:
                checkpoints.save(pos)
                last_save = time.monotonic()
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            x, target = _make_batch(train, idx, cfg, seed, epoch, b)
            pos.loss_sum += _train_step(model, optimizer, loss_fn, x.to(device), target.to(device), cfg, seed, epoch, b)
            scheduler.step(epoch + (b + 1) / n_batches)  # batch b+1 trains at fractional epoch epoch+(b+1)/n
        pos.batch, pos.seconds = n_batches, time.monotonic() - started

        val_logits = _logits(model, data.val, cfg.eval_batch_size, device, should_stop)
        if val_logits is None:  # stopped during evaluation; a resume re-evaluates this epoch
            raise stop(pos)
        metrics = _epoch_metrics(
            epoch, pos.loss_sum / n_batches, val_logits, data.val, time.monotonic() - started, cfg.val_sub_blocks
        )
        history.append(metrics)
        if best is not None:
            best.update(metrics, model)
        checkpoints.save(_Position(epoch=epoch + 1))
        last_save = time.monotonic()
        if metrics.collapsed:
            warn(_collapse_warning(metrics))
        if hooks.on_epoch is not None:
            hooks.on_epoch(metrics)

    result = _result(model, data.val, cfg.eval_batch_size, device, history, val_logits, best, resumed)
    result.precision = cfg.precision
    return result


@dataclass
class _Checkpointer:
    """Writes what a resume needs: the position, the history so far and every state_dict, in one atomic file."""

    path: Path | None
    tag: str
    fingerprint: dict[str, int]
    model: nn.Module
    optimizer: Any
    scheduler: Any
    best: _BestEpoch | None
    history: list[EpochMetrics]  # the training's own list: appended to as epochs finish

    def save(self, position: _Position) -> None:
        if self.path is None:
            return
        _write_checkpoint(
            self.path,
            {
                "format": CHECKPOINT_FORMAT,
                "tag": self.tag,
                "fingerprint": self.fingerprint,
                "position": dataclasses.asdict(position),
                "history": [m.as_dict() for m in self.history],
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "best": self.best.state() if self.best is not None else None,
            },
        )


def _collapse_warning(metrics: EpochMetrics) -> str:
    share = max(metrics.pred_distribution)
    top = CLASS_NAMES[metrics.pred_distribution.index(share)]
    return f"mode collapse at epoch {metrics.epoch + 1}: {share:.0%} of validation predictions are {top}"


def _result(
    model: nn.Module,
    val: Segment,
    eval_batch_size: int,
    device: torch.device,
    history: list[EpochMetrics],
    val_logits: torch.Tensor | None,
    best: _BestEpoch | None,
    resumed: _Position | None,
) -> TrainResult:
    """The finished training's result; with best-epoch restore, the best epoch's weights go in."""
    best_epoch = None
    if best is not None:
        best_epoch = best.epoch
        if best.weights is not None and best.epoch != len(history) - 1:
            model.load_state_dict(best.weights)
            val_logits = None
    if val_logits is None:  # every epoch was done before this resume, or earlier weights were restored
        val_logits = _logits(model, val, eval_batch_size, device)
        assert val_logits is not None
    model.eval()
    return TrainResult(
        history=history,
        model=model,
        val_pred=val_logits.argmax(dim=1).numpy(),
        val_probs=torch.softmax(val_logits, dim=1).numpy(),
        resumed_from_epoch=resumed.epoch if resumed else None,
        resumed_from_batch=resumed.batch if resumed else None,
        best_epoch=best_epoch,
    )


def _make_batch(
    segment: Segment, idx: np.ndarray, cfg: TrainerConfig, seed: int, epoch: int, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and soft targets of one training batch, augmented when configured (on CPU)."""
    x = torch.from_numpy(segment.windows(idx))
    target = F.one_hot(torch.from_numpy(segment.labels[idx]), N_CLASSES).to(torch.float32)
    if cfg.use_augmentation and cfg.gaussian_noise_std > 0:
        # torch.randn is ~2x faster than numpy's normal here; mul_/add_ reuse the noise buffer.
        noise = torch.randn(x.shape, generator=torch_generator(seed, "noise", epoch, batch))
        x = noise.mul_(cfg.gaussian_noise_std).add_(x)
    if cfg.use_augmentation and cfg.mixup_alpha > 0:
        rng = numpy_rng(seed, "mixup", epoch, batch)
        lam = float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
        perm = torch.from_numpy(rng.permutation(len(idx)))
        x = x.mul(lam).add_(x[perm], alpha=1.0 - lam)
        target = target.mul(lam).add_(target[perm], alpha=1.0 - lam)
    return x, target


def _train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    x: torch.Tensor,
    target: torch.Tensor,
    cfg: TrainerConfig,
    seed: int,
    epoch: int,
    batch: int,
) -> float:
    _seed_dropout(derive_seed(seed, "dropout", epoch, batch), x.device)
    with autocast(cfg.precision, x.device):
        logits = model(x)
    loss = loss_fn(logits.float(), target)  # the loss in fp32 whatever the forward ran in
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    value = loss.item()  # after step: on CUDA the whole step is queued before this one sync
    if not math.isfinite(value):
        raise DivergedError(
            f"training loss became {value} at epoch {epoch}, batch {batch} "
            f"(learning_rate={cfg.learning_rate}, grad_clip={cfg.grad_clip}); "
            "a lower learning_rate or grad_clip > 0 usually helps"
        )
    return value


def _seed_dropout(value: int, device: torch.device) -> None:
    # Not torch.manual_seed: it also queues lazy CUDA/XPU/MTIA seeding, each formatting a
    # stack trace (~1 ms a batch). Only the generator dropout draws from needs the seed.
    if device.type == "cuda":
        torch.cuda.manual_seed(value)
    else:
        torch.default_generator.manual_seed(value)


def _logits(
    model: nn.Module,
    segment: Segment,
    batch_size: int,
    device: torch.device,
    should_stop: Callable[[], bool] | None = None,
) -> torch.Tensor | None:
    """(n, 3) float32 CPU logits of every sample in `segment`; None if `should_stop()` fired."""
    model.eval()
    n = len(segment)
    chunks = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            if should_stop is not None and should_stop():
                return None
            x = torch.from_numpy(segment.windows(np.arange(start, min(start + batch_size, n))))
            chunks.append(model(x.to(device)).float().cpu())
    return torch.cat(chunks) if chunks else torch.empty(0, N_CLASSES)


def _epoch_metrics(
    epoch: int, train_loss: float, val_logits: torch.Tensor, val: Segment, seconds: float, sub_block_count: int
) -> EpochMetrics:
    pred = val_logits.argmax(dim=1).numpy()
    m = classification_metrics(val.labels, pred)
    sample_loss = F.cross_entropy(val_logits, torch.from_numpy(val.labels), reduction="none")
    return EpochMetrics(
        epoch=epoch,
        train_loss=train_loss,
        val_loss=float(sample_loss.mean()),
        val_f1=m["macro_f1"],
        val_precision=m["macro_precision"],
        val_recall=m["macro_recall"],
        val_accuracy=m["accuracy"],
        per_class_f1=m["per_class_f1"],
        pred_distribution=m["pred_distribution"],
        collapsed=max(m["pred_distribution"]) > COLLAPSE_LIMIT,
        trading_score=trading_score(pred, val.forward_returns),
        seconds=seconds,
        val_blocks=block_metrics(val.labels, pred, sample_loss.numpy(), val.forward_returns, sub_block_count),
    )


# --------------------------------------------------------------------------- checkpoints


def _fingerprint(data: PreparedData, cfg: TrainerConfig, model_cfg: ModelConfig, seed: int) -> dict[str, int]:
    """What must match for a checkpoint to continue this training (the tag covers the params)."""
    return {
        "seed": int(seed),
        "n_train": len(data.train),
        "n_val": len(data.val),
        "n_features": data.n_features,
        "window": int(data.train.window),
        "batch_size": cfg.batch_size,
        "hidden_size": model_cfg.hidden_size,
        "num_layers": model_cfg.num_layers,
        "restore_best_epoch": int(cfg.restore_best_epoch),  # a checkpoint without best weights cannot restore them
        # Only when not fp32, so checkpoints written before precision existed (all fp32) still match.
        **({"bf16": 1} if cfg.precision == "bf16" else {}),
    }


def _write_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: torch.save(payload, handle))


def _read_checkpoint(
    path: Path, tag: str, fingerprint: dict[str, int], warn: Callable[[str], None]
) -> dict[str, Any] | None:
    """The checkpoint at `path` if it belongs to this training; None (with a warning) otherwise."""
    if not path.exists():
        return None
    try:
        # weights_only: a checkpoint is data, never code to run.
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        warn(f"checkpoint {path} is unreadable ({type(exc).__name__}: {exc}); starting the trial fresh")
        return None
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        warn(f"checkpoint {path} has an unknown format; starting the trial fresh")
        return None
    if saved.get("tag") != tag:
        warn(f"checkpoint {path} belongs to other parameters (tag {saved.get('tag')!r}); starting the trial fresh")
        return None
    if saved.get("fingerprint") != fingerprint:
        diff = {
            k: (saved.get("fingerprint", {}).get(k), v)
            for k, v in fingerprint.items()
            if saved.get("fingerprint", {}).get(k) != v
        }
        warn(f"checkpoint {path} was made for other data or settings {diff}; starting the trial fresh")
        return None
    return saved
