"""Scaling with data size: preparation time, peak memory and time per epoch at 10k, 100k and 1M bars.

Each measurement runs in fresh child processes (bench_data.py's approach), so peak
resident memory (ru_maxrss) belongs to that size alone:
- preparation: bench_data.py's own child (generate synthetic bars, features, labels,
  split + scaling); its peak RSS minus that of a child that only imported the same
  modules is the data's own memory;
- epoch: a second child prepares the same bars and times the real `train_model` (default
  config: LSTM 2 x 64, window 32, batch 64) over a fixed number of training batches
  (stopped through its should_stop hook) and `predict` over a fixed number of validation
  samples, then scales both to the full epoch: est = s/batch x train batches + s/sample x
  val samples. At 10k bars one real epoch is also timed, to check the estimate.
Linearity: for each step (10k -> 100k, 100k -> 1M) the ratio of ratios
(cost ratio) / (bars ratio); 1.0 is linear, below 1 sublinear (fixed costs), above 1 worse.
With a fixed batch count the epoch estimate is linear by construction apart from the
per-batch cost, so its ratio of ratios says whether a batch gets slower on bigger data
(also given as the plain ratio of s/batch, 1.0 = no slower).
Allocator: the epoch children run with glibc's MALLOC_TRIM_THRESHOLD_ /
MALLOC_MMAP_THRESHOLD_ / MALLOC_TOP_PAD_ raised. Without them the bare 10k child returns
freed memory to the OS after every step and page-faults it back in on the next (~1.4x
slower batches, reported as "allocator"); a real `hyperopt` process is not affected
(same wall time with and without those variables at 10k bars), so the bench measures
without that artefact.

    python bench/bench_scaling.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import common

SIZES = (10_000, 100_000, 1_000_000)
THREADS = 1  # one torch thread: per-batch times stay stable when other processes share the cores


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_baseline() -> dict[str, Any]:
    """Peak RSS of a child that imports what bench_data.child_synthetic imports, and nothing else."""
    import numpy  # noqa: F401

    from hyperopt_cli.config import DataConfig, LabelsConfig  # noqa: F401
    from hyperopt_cli.data.features import compute_features  # noqa: F401
    from hyperopt_cli.data.labels import triple_barrier_labels  # noqa: F401
    from hyperopt_cli.data.prepare import DataPreparer  # noqa: F401
    from hyperopt_cli.data.synthetic import synthetic_ohlcv  # noqa: F401

    return {"peak_rss_mib": _peak_mib()}


def child_epoch(n_bars: int, n_batches: int, n_eval: int, full_epoch: bool) -> dict[str, Any]:
    import dataclasses

    import torch

    from hyperopt_cli.config import DataConfig, LabelsConfig, ModelConfig, TrainerConfig
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.data.synthetic import synthetic_ohlcv
    from hyperopt_cli.training.model import LSTMClassifier
    from hyperopt_cli.training.trainer import TrainHooks, TrainingInterrupted, predict, train_model

    base_rss = _peak_mib()
    data = DataPreparer(synthetic_ohlcv(n_bars, 0), DataConfig()).prepare(LabelsConfig())
    prep_rss = _peak_mib()
    cfg, model_cfg = TrainerConfig(device="cpu", num_threads=THREADS), ModelConfig()
    torch.set_num_threads(THREADS)

    def batch_times(k: int) -> list[float]:
        """Wall time between consecutive should_stop() calls (one per batch): gather + step + scheduler."""
        stamps: list[float] = []

        def stop() -> bool:
            stamps.append(time.perf_counter())
            return len(stamps) > k

        try:
            train_model(data, cfg, model_cfg, epochs=1, seed=0, hooks=TrainHooks(should_stop=stop))
        except TrainingInterrupted:
            pass
        return [b - a for a, b in itertools.pairwise(stamps)]

    batch_times(5)  # warm-up (oneDNN primitives)
    # Three separate bursts; the median within a burst resists short interruptions, the
    # fastest burst one that overlapped another process's busy spell.
    bursts = [batch_times(n_batches // 3 + 2)[2:] for _ in range(3)]
    times = min(bursts, key=statistics.median)
    per_batch = statistics.median(times)
    val = data.val
    chunk = 512
    n_eval = min(n_eval, len(val))
    model = LSTMClassifier(data.n_features, model_cfg.hidden_size, model_cfg.num_layers, cfg.dropout)
    eval_times = []
    for start_row in range(0, n_eval - chunk + 1, chunk):
        rows = slice(start_row, start_row + chunk)
        sub = dataclasses.replace(
            val,
            end_rows=val.end_rows[rows],
            labels=val.labels[rows],
            forward_returns=val.forward_returns[rows],
            timestamps=val.timestamps[rows],
        )
        t = time.perf_counter()
        predict(model, sub, cfg.eval_batch_size, "cpu")
        eval_times.append((time.perf_counter() - t) / chunk)
    per_eval_sample = statistics.median(eval_times[1:] or eval_times)
    train_batches = math.ceil(len(data.train) / cfg.batch_size)
    out: dict[str, Any] = {
        "bars": n_bars,
        "samples": {"train": len(data.train), "val": len(val)},
        "timed_batches": n_batches,
        "timed_eval_samples": n_eval,
        "s_per_batch": per_batch,
        "s_per_batch_p10_p90": [statistics.quantiles(times, n=10)[0], statistics.quantiles(times, n=10)[-1]],
        "s_per_batch_burst_medians": [statistics.median(b) for b in bursts],
        "s_per_eval_sample": per_eval_sample,
        "epoch_s_estimate": per_batch * train_batches + per_eval_sample * len(val),
        "base_rss_mib": base_rss,
        "prepared_rss_mib": prep_rss,
    }
    if full_epoch:
        measured = []
        for _ in range(2):
            start = time.perf_counter()
            train_model(data, cfg, model_cfg, epochs=1, seed=0)
            measured.append(time.perf_counter() - start)
        out["epoch_s_measured"] = min(measured)
        out["estimate_over_measured"] = out["epoch_s_estimate"] / out["epoch_s_measured"]
    out["peak_rss_mib"] = _peak_mib()
    return out


# glibc malloc settings that stop it handing freed memory back to the OS after every step
# (and re-faulting it in on the next): see "allocator" in the output.
MALLOC_ENV = {
    "MALLOC_TRIM_THRESHOLD_": str(2 << 30),
    "MALLOC_MMAP_THRESHOLD_": str(2 << 30),
    "MALLOC_TOP_PAD_": str(512 << 20),
}


def _child(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _linearity(rows: list[dict[str, Any]], key: str, per_bar: bool = True) -> dict[str, float]:
    """(cost ratio) / (bars ratio) per step; with per_bar=False the plain cost ratio (for per-batch costs)."""
    out = {}
    for a, b in itertools.pairwise(rows):
        scale = b["bars"] / a["bars"] if per_bar else 1.0
        out[f"{a['bars'] // 1000}k->{b['bars'] // 1000}k"] = (b[key] / a[key]) / scale
    return out


def run(quick: bool = False) -> dict[str, Any]:
    import bench_data

    n_batches, n_eval = (30, 2048) if quick else (100, 8192)
    prep_repeats = 2 if quick else 3
    baseline = _child("baseline")["peak_rss_mib"]
    rows = []
    for n in SIZES:
        # bench_data.py's own child: times + peak RSS; the fastest of a few, as the machine is shared
        preps = [bench_data._run_child("synthetic", str(n)) for _ in range(prep_repeats)]
        prep = min(preps, key=lambda p: p["pipeline_s"])
        epoch = _child("epoch", str(n), str(n_batches), str(n_eval), "1" if n == SIZES[0] else "0", env=MALLOC_ENV)
        rows.append(
            {
                "bars": n,
                "prep_s": prep["pipeline_s"],  # generate + features + labels/split/scaling
                "prep_split_s": {k: prep[k] for k in ("generate_s", "preparer_init_s", "prepare_s")},
                "prep_peak_rss_mib": prep["peak_rss_mib"],
                "prep_s_all": [p["pipeline_s"] for p in preps],
                "data_rss_mib": prep["peak_rss_mib"] - baseline,
                "epoch_s": epoch["epoch_s_estimate"],
                "s_per_batch": epoch["s_per_batch"],
                "epoch_detail": epoch,
            }
        )
        print(json.dumps({k: rows[-1][k] for k in ("bars", "prep_s", "data_rss_mib", "epoch_s")}), file=sys.stderr)
    # In a bare child with glibc's default thresholds, the small (10k) process hands freed
    # memory back to the OS after each step and faults it in again on the next; that is why
    # the epoch children above run with MALLOC_ENV. A `hyperopt` process does not show it
    # (checked by hand: same wall time with and without MALLOC_ENV at 10k bars).
    bare = _child("epoch", str(SIZES[0]), str(n_batches), str(n_eval), "0")
    allocator = {
        "bars": SIZES[0],
        "env": MALLOC_ENV,
        "s_per_batch_bare_default_malloc": bare["s_per_batch"],
        "s_per_batch_malloc_env": rows[0]["s_per_batch"],
        "slowdown_default_malloc": bare["s_per_batch"] / rows[0]["s_per_batch"],
    }
    linear = {key: _linearity(rows, key) for key in ("prep_s", "data_rss_mib", "epoch_s")}
    linear["s_per_batch (plain ratio)"] = _linearity(rows, "s_per_batch", per_bar=False)
    return {
        "what": "data preparation time, peak memory and time per epoch vs bars; ratio of ratios 1.0 = linear",
        "baseline_rss_mib": baseline,
        "sizes": rows,
        "ratio_of_ratios": linear,
        "allocator": allocator,
        "epoch_note": f"time per epoch estimated from {n_batches} timed training batches and {n_eval} validation samples "
        f"scaled to the epoch (default model, batch 64, {THREADS} torch thread); checked against one real "
        "epoch at 10k bars",
        "epoch_check_10k": {
            k: rows[0]["epoch_detail"].get(k)
            for k in ("epoch_s_estimate", "epoch_s_measured", "estimate_over_measured")
        },
    }


def _dispatch_child(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "baseline":
        result = child_baseline()
    else:
        n, batches, n_eval, full = rest
        result = child_epoch(int(n), int(batches), int(n_eval), full == "1")
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _dispatch_child(sys.argv[2:])
    else:
        common.bench_main(run, __doc__)
