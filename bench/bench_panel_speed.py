"""Training throughput per sample: a panel of several symbols against one file of the same total size.

Issue 24 item 5: trials/hour per sample must stay within 10 % of a single-file run of the
same total size. A trial's cost is its `train_model` call, so this times one `train_model`
(configs/default.yaml's trainer and model: LSTM 2 x 64, window 32, its batch size and
knobs; one torch thread, CPU) on

- `panel`: SYMBOLS synthetic hourly symbols of BARS bars each (different seeds, the same
  start; bench_data.panel_frames), prepared as one run (the same-time split, per-symbol scaling);
- `single`: one synthetic file of SYMBOLS x BARS bars, prepared as today.

Both are prepared with the default data and label settings. Per sample = (training samples
x epochs) / seconds of `train_model` (its per-epoch validation pass included, as in a
trial), both in wall seconds and in this process's CPU seconds: with one torch thread the
CPU seconds are the work itself, and do not count the time another process held the core
(the machine is shared; wall-clock ratios swung 0.74-1.13 under a load average of 2-5).
The two alternate within one process, `repeats` times, after one untimed warm-up each; the
ratio panel / single is paired per repeat (same machine load), median. Target: >= 0.9 (on
CPU seconds; the wall ratio is kept beside it).

    python bench/bench_panel_speed.py [--quick]   -> bench/results/panel-speed-DATE.json and .md
"""

from __future__ import annotations

import time
from typing import Any

import common

SYMBOLS = 4
TARGET_RATIO = 0.9  # panel samples/s at least 90 % of the single file's


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"symbols": SYMBOLS, "bars_per_symbol": 2500, "epochs": 1, "repeats": 2}
    return {"symbols": SYMBOLS, "bars_per_symbol": 10_000, "epochs": 2, "repeats": 5}


def prepared(size: dict[str, int]) -> tuple[dict[str, Any], Any, Any]:
    """(data by variant, trainer config, model config), all from configs/default.yaml."""
    import bench_data
    from hyperopt_cli.config import with_params
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.data.synthetic import synthetic_ohlcv

    raw = common.read_yaml("configs/default.yaml")
    raw["trainer"]["num_threads"] = 1
    raw["trainer"]["device"] = "cpu"
    cfg = common.make_cfg(raw)
    trainer_cfg, labels_cfg = with_params(cfg, {})
    n, bars = size["symbols"], size["bars_per_symbol"]
    data = {
        "panel": DataPreparer(bench_data.panel_frames(n, bars), cfg.data).prepare(labels_cfg),
        "single": DataPreparer(synthetic_ohlcv(n * bars, bench_data.SEED), cfg.data).prepare(labels_cfg),
    }
    return data, trainer_cfg, cfg.model


def run(quick: bool = False) -> dict[str, Any]:
    import torch

    from hyperopt_cli.training.trainer import train_model

    torch.set_num_threads(1)
    size = sizes(quick)
    data, trainer_cfg, model_cfg = prepared(size)
    epochs = size["epochs"]

    def timed(name: str, n_epochs: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        train_model(data[name], trainer_cfg, model_cfg, epochs=n_epochs, seed=0)
        return time.perf_counter() - wall, time.process_time() - cpu

    for name in data:  # warm-up: oneDNN primitives, allocator
        timed(name, 1)
    seconds: dict[str, list[float]] = {name: [] for name in data}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in data}
    for r in range(size["repeats"]):
        for name in ("panel", "single") if r % 2 == 0 else ("single", "panel"):
            wall, cpu = timed(name, epochs)
            seconds[name].append(wall)
            cpu_seconds[name].append(cpu)
    rates = {name: [len(data[name].train) * epochs / s for s in secs] for name, secs in seconds.items()}
    cpu_rates = {name: [len(data[name].train) * epochs / s for s in secs] for name, secs in cpu_seconds.items()}
    paired = [p / s for p, s in zip(rates["panel"], rates["single"], strict=True)]
    cpu_paired = [p / s for p, s in zip(cpu_rates["panel"], cpu_rates["single"], strict=True)]
    ratio = common.median(cpu_paired)
    return {
        "size": size,
        "trainer": {
            "batch_size": trainer_cfg.batch_size,
            "threads": 1,
            "hidden_size": model_cfg.hidden_size,
            "num_layers": model_cfg.num_layers,
            "window": data["panel"].train.window,
        },
        "samples": {name: {seg: len(getattr(d, seg)) for seg in ("train", "val", "test")} for name, d in data.items()},
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "samples_per_s": rates,
        "samples_per_s_median": {name: common.median(r) for name, r in rates.items()},
        "samples_per_cpu_s_median": {name: common.median(r) for name, r in cpu_rates.items()},
        "panel_over_single_wall_paired": paired,
        "panel_over_single_wall": common.median(paired),
        "panel_over_single_paired": cpu_paired,
        "panel_over_single": ratio,
        "target_ratio": TARGET_RATIO,
        "target_met": bool(ratio >= TARGET_RATIO),
        "commit": common.git_commit(),
        "load_avg_after": common.load_avg(),
    }


def markdown(result: dict[str, Any]) -> str:
    size = result["size"]
    lines = [
        f"## Training throughput: {size['symbols']} symbols x {size['bars_per_symbol']:,} bars vs one file of "
        f"{size['symbols'] * size['bars_per_symbol']:,} bars",
        "",
        f"One `train_model` of {size['epochs']} epochs (configs/default.yaml: LSTM {result['trainer']['num_layers']} x "
        f"{result['trainer']['hidden_size']}, window {result['trainer']['window']}, batch "
        f"{result['trainer']['batch_size']}; 1 torch thread), {size['repeats']} alternating repeats.",
        "",
        "| data | train samples | wall s per call (repeats) | CPU s per call (repeats) | samples per wall s "
        "| samples per CPU s |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("single", "panel"):
        secs = ", ".join(f"{s:.1f}" for s in result["seconds"][name])
        cpu = ", ".join(f"{s:.1f}" for s in result["cpu_seconds"][name])
        lines.append(
            f"| {name} | {result['samples'][name]['train']:,} | {secs} | {cpu} "
            f"| {result['samples_per_s_median'][name]:,.0f} | {result['samples_per_cpu_s_median'][name]:,.0f} |"
        )
    lines += [
        "",
        f"Panel / single samples per CPU second, paired per repeat (median): **{result['panel_over_single']:.3f}** "
        f"(repeats: {', '.join(f'{r:.3f}' for r in result['panel_over_single_paired'])}); target >= "
        f"{result['target_ratio']}: **{'met' if result['target_met'] else 'missed'}**. Per wall second: "
        f"{result['panel_over_single_wall']:.3f} "
        f"(repeats: {', '.join(f'{r:.3f}' for r in result['panel_over_single_wall_paired'])}).",
        "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; load average "
        f"{result['machine']['load_avg']} before, {result['load_avg_after']} after; commit {result['commit']}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    common.dated_main(run, markdown, __doc__, "panel-speed", "2,500 bars per symbol, 1 epoch, 2 repeats (a smoke run)")


if __name__ == "__main__":
    main()
