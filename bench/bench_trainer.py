"""Throughput of `train_model` against a minimal hand-written torch loop, in the same run.

Both train the same LSTMClassifier on the same batches (Segment.windows gathers), one epoch
per repeat, each followed by one validation forward pass; repeats are interleaved so both
see the same machine state. Reported: median training samples/s and trainer/raw ratio.

    python bench/bench_trainer.py --out bench/out/trainer.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hyperopt_cli.config import ModelConfig, TrainerConfig
from hyperopt_cli.data.prepare import PreparedData, Segment
from hyperopt_cli.training.model import LSTMClassifier
from hyperopt_cli.training.trainer import resolve_device, train_model


def synthetic_data(n_train: int, n_val: int, n_features: int, window: int) -> PreparedData:
    rng = np.random.default_rng(0)
    n_rows = n_train + n_val + 2 * window
    features = rng.standard_normal((n_rows, n_features)).astype(np.float32)
    labels_all = rng.integers(0, 3, n_rows)
    returns = rng.normal(0, 0.01, n_rows)
    stamps = np.arange(n_rows).astype("datetime64[h]").astype("datetime64[ns]")

    def seg(name: str, rows: np.ndarray) -> Segment:
        return Segment(name, features, rows, labels_all[rows], returns[rows], stamps[rows], window)

    train_rows = np.arange(window - 1, window - 1 + n_train)
    val_rows = np.arange(train_rows[-1] + window + 1, train_rows[-1] + window + 1 + n_val)
    return PreparedData(
        train=seg("train", train_rows),
        val=seg("val", val_rows),
        test=seg("test", val_rows[:1]),
        feature_names=tuple(f"f{i}" for i in range(n_features)),
        class_weights=np.ones(3, np.float32),
        purge_bars=window,
    )


def raw_loop(data: PreparedData, model_cfg: ModelConfig, cfg: TrainerConfig, device: torch.device) -> float:
    """The floor: shuffle, gather, forward, CE, backward, AdamW step; then one validation pass."""
    torch.manual_seed(0)
    model = LSTMClassifier(data.n_features, model_cfg.hidden_size, model_cfg.num_layers, cfg.dropout).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    train, val = data.train, data.val
    start = time.perf_counter()
    order = np.random.default_rng(0).permutation(len(train))
    model.train()
    for b in range(0, len(order), cfg.batch_size):
        idx = order[b : b + cfg.batch_size]
        x = torch.from_numpy(train.windows(idx)).to(device)
        y = torch.from_numpy(train.labels[idx]).to(device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.inference_mode():
        for b in range(0, len(val), cfg.eval_batch_size):
            model(torch.from_numpy(val.windows(np.arange(b, min(b + cfg.eval_batch_size, len(val))))).to(device)).cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def trainer_run(data: PreparedData, model_cfg: ModelConfig, cfg: TrainerConfig) -> float:
    start = time.perf_counter()
    train_model(data, cfg, model_cfg, epochs=1, seed=0)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/out/trainer.json"))
    parser.add_argument("--n-train", type=int, default=6400)
    parser.add_argument("--n-val", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=None, help="repeats per variant (default 5; --quick 1)")
    parser.add_argument("--quick", action="store_true", help="CI-sized: 1 repeat")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    parser.add_argument("--no-bf16", action="store_true", help="skip the trainer.precision=bf16 variants")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 5)
    if args.threads:
        torch.set_num_threads(args.threads)

    model_cfg = ModelConfig(hidden_size=args.hidden_size, num_layers=2)
    data = synthetic_data(args.n_train, args.n_val, n_features=20, window=32)
    default = TrainerConfig(batch_size=args.batch_size, device=args.device, precision="fp32", num_threads=args.threads)
    # "fair": the raw loop has no augmentation or focal loss, so the trainer runs without them too.
    fair = dataclasses.replace(default, use_augmentation=False, use_focal_loss=False)
    device = resolve_device(args.device)
    variants: dict[str, Callable[[], float]] = {
        "raw_loop": lambda: raw_loop(data, model_cfg, fair, device),
        "trainer_fair": lambda: trainer_run(data, model_cfg, fair),
        "trainer_default": lambda: trainer_run(data, model_cfg, default),
    }
    if not args.no_bf16:  # trainer.precision=bf16: the same trainings with bf16 autocast steps
        variants["trainer_fair_bf16"] = lambda: trainer_run(
            data, model_cfg, dataclasses.replace(fair, precision="bf16")
        )
        variants["trainer_default_bf16"] = lambda: trainer_run(
            data, model_cfg, dataclasses.replace(default, precision="bf16")
        )
    for run in variants.values():  # warm-up: oneDNN/cuDNN kernel selection, allocator
        run()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            seconds[name].append(run())

    rates = {name: args.n_train / statistics.median(s) for name, s in seconds.items()}
    # Interleaved repeats see the same machine load, so per-repeat ratios resist a busy machine.
    paired = {
        name: statistics.median(r / t for r, t in zip(seconds["raw_loop"], s, strict=True))
        for name, s in seconds.items()
    }
    result: dict[str, Any] = {
        "samples_per_s": {k: round(v, 1) for k, v in rates.items()},
        "seconds_per_epoch": {k: [round(x, 4) for x in v] for k, v in seconds.items()},
        "ratio_fair": round(rates["trainer_fair"] / rates["raw_loop"], 4),
        "ratio_default": round(rates["trainer_default"] / rates["raw_loop"], 4),
        "ratio_paired_median": {k: round(v, 4) for k, v in paired.items() if k != "raw_loop"},
        "setup": {
            "n_train": args.n_train,
            "n_val": args.n_val,
            "window": 32,
            "n_features": 20,
            "hidden_size": args.hidden_size,
            "num_layers": 2,
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "device": str(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{'variant':<16} {'samples/s':>10} {'vs raw':>7} {'paired':>7}")
    for name, rate in rates.items():
        print(f"{name:<16} {rate:>10.0f} {rate / rates['raw_loop']:>7.3f} {paired[name]:>7.3f}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
