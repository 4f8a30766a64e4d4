"""Trainer throughput against the raw torch loop and against this machine's dense matmul GFLOP/s.

1. Times one epoch (+ one validation pass) of train_model and of bench_trainer.py's minimal
   hand-written torch loop, on bench_trainer.py's data and model (LSTM 2 x 64, window 32,
   20 features, batch 64), interleaved with bursts of float32 dense matmul in the same
   process and thread count: a 1024^3 GEMM (the hardware's practical peak) and a GEMM of
   the LSTM's own shape (batch x (in+hidden) @ (in+hidden) x 4*hidden).
2. Converts samples/s into achieved GFLOP/s with the FLOP count below and divides by the
   best matmul rate. The machine is shared, so rates are best-of-repeats (least disturbed)
   and ratios also paired per repeat (same load), median.
3. Does both at 1 torch thread (per-core efficiency; robust when other processes compete
   for the cores) and, in the full variant, at 2 threads (both cores).

FLOPs of one LSTM layer per time step and sample (multiply-add = 2 FLOPs):
    4 gates x hidden x (in + hidden) multiply-adds x 2 = 8 * hidden * (in + hidden)
(the 4 gates' W_ih @ x and W_hh @ h together; in = n_features for layer 1, hidden after).
    forward per sample = window * sum over layers of 8 * hidden * (in_l + hidden) + 2 * hidden * 3 (head)
    training per sample = 3 x forward (backward ~ 2 x forward); validation = 1 x forward.
Element-wise gate math (sigmoid/tanh, ~10 FLOPs per hidden unit and step) is left out.
The issue's wording "4 gates x 2 matmuls x hidden x (in+hidden) x 2 flops" counts the two
matmuls twice (hidden x (in+hidden) already covers both); `flops_issue_formula` gives that
number too, which doubles every efficiency figure.

    python bench/bench_throughput.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import common

N_FEATURES, WINDOW, HIDDEN, LAYERS, BATCH = 20, 32, 64, 2, 64  # bench_trainer.py's setup


def lstm_forward_flops(n_features: int, hidden: int, layers: int, window: int, n_classes: int = 3) -> int:
    per_step = sum(8 * hidden * ((n_features if layer == 0 else hidden) + hidden) for layer in range(layers))
    return window * per_step + 2 * hidden * n_classes


def flops_issue_formula(n_features: int, hidden: int, layers: int, window: int) -> int:
    """The issue's literal formula, per training sample (uses in = n_features for every layer)."""
    return 4 * 2 * hidden * (n_features + hidden) * 2 * window * layers * 3


def _gemm(m: int, k: int, n: int) -> Callable[[], float]:
    """A burst of float32 (m x k) @ (k x n) products (~0.1 s at tens of GFLOP/s); returns its GFLOP/s."""
    import torch

    a, b, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
    flops = 2.0 * m * k * n
    calls = max(1, int(4e9 / flops))

    def burst() -> float:
        t = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b, out=out)
        return flops * calls / (time.perf_counter() - t) / 1e9

    for _ in range(2):
        burst()
    return burst


def measure(threads: int, n_train: int, n_val: int, repeats: int) -> dict[str, Any]:
    """Interleaved repeats of matmul bursts and the three loops, all at `threads` torch threads."""
    import dataclasses

    import torch

    import bench_trainer
    from hyperopt_cli.config import ModelConfig, TrainerConfig
    from hyperopt_cli.training.trainer import resolve_device

    torch.set_num_threads(threads)
    model_cfg = ModelConfig(hidden_size=HIDDEN, num_layers=LAYERS)
    data = bench_trainer.synthetic_data(n_train, n_val, n_features=N_FEATURES, window=WINDOW)
    default = TrainerConfig(batch_size=BATCH, device="cpu", num_threads=threads)
    # "fair": the raw loop has no augmentation or focal loss, so the trainer runs without them too.
    fair = dataclasses.replace(default, use_augmentation=False, use_focal_loss=False)
    device = resolve_device("cpu")
    variants: dict[str, Callable[[], float]] = {
        "raw_loop": lambda: bench_trainer.raw_loop(data, model_cfg, fair, device),
        "trainer_fair": lambda: bench_trainer.trainer_run(data, model_cfg, fair),
        "trainer_default": lambda: bench_trainer.trainer_run(data, model_cfg, default),
    }
    gemms = {"square_1024": _gemm(1024, 1024, 1024), "lstm_shape": _gemm(BATCH, N_FEATURES + HIDDEN, 4 * HIDDEN)}
    for fn in variants.values():  # warm-up: oneDNN primitive creation, allocator
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    gflops: dict[str, list[float]] = {name: [] for name in gemms}
    for _ in range(repeats):  # interleaved, so every variant sees the same (shared) machine
        for name, burst in gemms.items():
            gflops[name].append(max(burst() for _ in range(3)))
        for name, fn in variants.items():
            seconds[name].append(fn())

    fwd = lstm_forward_flops(N_FEATURES, HIDDEN, LAYERS, WINDOW)
    epoch_flops = 3 * fwd * n_train + fwd * n_val  # one training epoch plus one validation pass
    peak = max(gflops["square_1024"])
    achieved = {}
    for name, secs in seconds.items():
        best = min(secs)
        per_repeat = [epoch_flops / s / 1e9 for s in secs]
        achieved[name] = {
            "samples_per_s_best": n_train / best,
            "samples_per_s_median": n_train / common.median(secs),
            "gflops_best": epoch_flops / best / 1e9,
            "share_of_matmul_peak": epoch_flops / best / 1e9 / peak,
            "share_of_lstm_shape_gemm": epoch_flops / best / 1e9 / max(gflops["lstm_shape"]),
            # each repeat against the matmul measured just before it (same machine load)
            "share_of_matmul_paired_median": common.median(
                [g / m for g, m in zip(per_repeat, gflops["square_1024"], strict=True)]
            ),
        }
    raw_spread = max(seconds["raw_loop"]) / min(seconds["raw_loop"])
    return {
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        # Another process on a core slows multi-threaded torch several-fold and erratically;
        # a wide spread of the raw loop's repeats is the sign (1.0 = all repeats equal).
        "raw_loop_spread_max_over_min": raw_spread,
        "disturbed": raw_spread > 1.3,
        "matmul_gflops": {name: {"max": max(v), "median": common.median(v), "all": v} for name, v in gflops.items()},
        "achieved": achieved,
        "trainer_vs_raw": {
            "throughput_ratio_best": {
                name: min(seconds["raw_loop"]) / min(secs) for name, secs in seconds.items() if name != "raw_loop"
            },
            "throughput_ratio_paired_median": {
                name: common.median([r / t for r, t in zip(seconds["raw_loop"], secs, strict=True)])
                for name, secs in seconds.items()
                if name != "raw_loop"
            },
        },
        "seconds_per_epoch": seconds,
    }


def run(quick: bool = False) -> dict[str, Any]:
    n_train, n_val = (3200, 640) if quick else (6400, 640)
    repeats = 3 if quick else 7
    thread_counts = [1] if quick else [1, 2]
    fwd = lstm_forward_flops(N_FEATURES, HIDDEN, LAYERS, WINDOW)
    return {
        "what": "train_model vs raw torch loop (bench_trainer.py functions) and achieved GFLOP/s vs dense matmul, "
        "interleaved in one process, per torch thread count",
        "setup": {
            "n_train": n_train,
            "n_val": n_val,
            "repeats": repeats,
            "n_features": N_FEATURES,
            "window": WINDOW,
            "hidden": HIDDEN,
            "layers": LAYERS,
            "batch": BATCH,
            "threads": thread_counts,
        },
        "flops_per_sample": {
            "forward": fwd,
            "train_step": 3 * fwd,
            "issue_formula_train": flops_issue_formula(N_FEATURES, HIDDEN, LAYERS, WINDOW),
        },
        "by_threads": {str(t): measure(t, n_train, n_val, repeats) for t in thread_counts},
    }


if __name__ == "__main__":
    common.bench_main(run, __doc__)
