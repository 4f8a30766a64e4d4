"""Trials per hour with 1 and 2 worker processes sharing one study, and the best torch thread count.

There is no `hyperopt worker` command to drive yet, so each worker here is a plain Python
process running an ask -> train_model -> tell loop on one shared Optuna study in a
JournalFileStorage (the tool's `storage_url: journal`; JournalFileBackend takes several
writers at once, a SQLite file takes one). Every worker loads the same data, warms up,
waits at a start line, then takes trials until the deadline; the trial in flight at the
deadline is stopped there (through train_model's should_stop hook) and counted by the
share of its batches done, so the window is exact and no worker's tail biases the rate. Trials have a fixed cost (only the learning rate is
searched; batch size 64), so trials/hour measures throughput, not the sampler's choices.

Configurations: workers x torch threads per worker = 1x1, 1x2, 2x1, 2x2 (2x2 oversubscribes
2 cores), for the default model (LSTM 2 x 64, window 32) and, in the full variant, the
quick.yaml model (LSTM 1 x 32, window 24); in rounds, configurations interleaved. Workers
run with bench_scaling.MALLOC_ENV, like the scaling children.

    python bench/bench_parallel.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common

CONFIGS = ((1, 1), (1, 2), (2, 1), (2, 2))  # (workers, threads per worker)
MODELS = {
    "default_2x64_w32": {"hidden_size": 64, "num_layers": 2, "window": 32},
    "quick_1x32_w24": {"hidden_size": 32, "num_layers": 1, "window": 24},
}
BARS = 5000
EPOCHS = 2


def settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"models": ["default_2x64_w32"], "rounds": 1, "window_s": 8.0}
    return {"models": list(MODELS), "rounds": 2, "window_s": 15.0}


# ---------------------------------------------------------------------------- worker process


def worker(spec: dict[str, Any]) -> None:
    """One worker: prepare, warm up, wait for the start file, run trials until the deadline."""
    import logging

    import optuna
    import torch
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    from hyperopt_cli.config import DataConfig, LabelsConfig, ModelConfig, TrainerConfig
    from hyperopt_cli.data.prepare import DataPreparer
    from hyperopt_cli.data.synthetic import synthetic_ohlcv
    from hyperopt_cli.training.trainer import TrainHooks, TrainingInterrupted, train_model

    t0 = time.time()
    logging.getLogger("hyperopt_cli").addHandler(logging.NullHandler())
    logging.getLogger("hyperopt_cli").propagate = False
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(spec["threads"])
    model = MODELS[spec["model"]]
    data = DataPreparer(synthetic_ohlcv(BARS, 0), DataConfig(window=model["window"])).prepare(LabelsConfig())
    model_cfg = ModelConfig(hidden_size=model["hidden_size"], num_layers=model["num_layers"])
    base = TrainerConfig(batch_size=64, device="cpu", checkpoint_interval_s=3600.0)
    train_model(data, base, model_cfg, epochs=1, seed=0)  # warm-up: oneDNN primitives
    path = spec["journal"]
    storage = JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    study = optuna.load_study(
        study_name="bench",
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=spec["index"], multivariate=True, constant_liar=True),
    )
    ready_s = time.time() - t0
    Path(spec["ready"]).write_text("ready")
    go = Path(spec["go"])
    while not go.exists():
        time.sleep(0.01)
    _start, deadline = json.loads(go.read_text())
    n_batches = EPOCHS * math.ceil(len(data.train) / 64)
    done, partial = [], 0.0
    while time.time() < deadline:
        t = time.time()
        trial = study.ask()
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        cfg = TrainerConfig(
            batch_size=64, learning_rate=lr, device="cpu", checkpoint_interval_s=3600.0, num_threads=spec["threads"]
        )
        batches = [0]

        def past_deadline(batches: list[int] = batches) -> bool:
            batches[0] += 1
            return time.time() >= deadline

        try:
            result = train_model(
                data, cfg, model_cfg, epochs=EPOCHS, seed=trial.number, hooks=TrainHooks(should_stop=past_deadline)
            )
        except TrainingInterrupted:  # the trial in flight at the deadline counts by its share of batches done
            partial = min(1.0, (batches[0] - 1) / n_batches)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            break
        study.tell(trial, result.history[-1].val_f1)
        done.append(time.time() - t)
    Path(spec["out"]).write_text(json.dumps({"trial_s": done, "partial": partial, "ready_s": ready_s}))


# ---------------------------------------------------------------------------- parent


def _measure(model: str, n_workers: int, threads: int, window_s: float, tmp: Path) -> dict[str, Any]:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tag = f"{model}_{n_workers}x{threads}_{time.monotonic_ns()}"
    journal = str(tmp / f"{tag}.journal")
    optuna.create_study(
        study_name="bench",
        direction="maximize",
        storage=JournalStorage(JournalFileBackend(journal, lock_obj=JournalFileOpenLock(journal))),
    )
    go = tmp / f"{tag}.go"
    from bench_scaling import MALLOC_ENV  # same allocator settings as the scaling children (see there)

    env = {**os.environ, **MALLOC_ENV, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    specs, procs = [], []
    for i in range(n_workers):
        spec = {
            "model": model,
            "threads": threads,
            "index": i,
            "journal": journal,
            "go": str(go),
            "ready": str(tmp / f"{tag}.{i}.ready"),
            "out": str(tmp / f"{tag}.{i}.json"),
        }
        specs.append(spec)
        procs.append(subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)], env=env))
    while not all(Path(s["ready"]).exists() for s in specs):
        if any(p.poll() not in (None, 0) for p in procs):
            raise SystemExit(f"a worker of {tag} failed")
        time.sleep(0.05)
    start = time.time()
    go.write_text(json.dumps([start, start + window_s]))
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a worker of {tag} failed")
    outs = [json.loads(Path(s["out"]).read_text()) for s in specs]
    trials = sum(len(o["trial_s"]) + o["partial"] for o in outs)
    durations = [d for o in outs for d in o["trial_s"]]
    return {
        "trials_in_window": trials,
        "trials_per_hour": trials / window_s * 3600,
        "trial_s_median": common.median(durations) if durations else None,
        "trials_finished": sum(len(o["trial_s"]) for o in outs),
        "worker_ready_s": [o["ready_s"] for o in outs],
    }


def _median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return common.median(present) if present else None


def run(quick: bool = False) -> dict[str, Any]:
    st = settings(quick)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        m: {f"{w}x{t}": [] for w, t in CONFIGS} for m in st["models"]
    }
    with tempfile.TemporaryDirectory(prefix="bench_parallel_") as tmp:
        for _ in range(st["rounds"]):
            for model in st["models"]:
                for w, t in CONFIGS:
                    r = _measure(model, w, t, st["window_s"], Path(tmp))
                    results[model][f"{w}x{t}"].append(r)
                    print(f"{model} {w}x{t}: {r['trials_per_hour']:.0f} trials/h", file=sys.stderr)
    summary: dict[str, Any] = {}
    for model, by_cfg in results.items():
        rates = {cfg: common.median([r["trials_per_hour"] for r in rs]) for cfg, rs in by_cfg.items()}
        best = max(rates, key=rates.get)
        summary[model] = {
            "trials_per_hour": rates,
            "speedup_vs_1x2": {cfg: rate / rates["1x2"] for cfg, rate in rates.items()},
            "best": best,
            "trial_s_median": {cfg: _median_or_none([r["trial_s_median"] for r in rs]) for cfg, rs in by_cfg.items()},
        }
    return {
        "what": "trials/hour of W worker processes x T torch threads sharing one JournalFileStorage study "
        "(ask/tell loops, fixed-cost trials: batch 64, 2 epochs on 5000 synthetic bars)",
        "settings": {
            **st,
            "bars": BARS,
            "epochs_per_trial": EPOCHS,
            "configs": [f"{w}x{t}" for w, t in CONFIGS],
            "storage": "optuna JournalStorage(JournalFileBackend) shared by all workers",
        },
        "summary": summary,
        "runs": results,
    }


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
    else:
        common.bench_main(run, __doc__)
