"""The contention benches' own machinery: the competing busy loops and the contention summary."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_contention  # noqa: E402
import bench_data  # noqa: E402
import common  # noqa: E402
import validity_panel  # noqa: E402


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_busy_loops_burn_cpu_and_are_killed_after_the_block_even_on_error() -> None:
    with pytest.raises(RuntimeError), common.busy_loops(2) as pids:
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        deadline = time.monotonic() + 30  # a loaded machine may give them little CPU; sleeping ones never get 0.1 s
        while not all(_cpu_seconds(p) > 0.1 for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_cpu_seconds(p) > 0.1 for p in pids)  # CPU-bound, not sleeping
        raise RuntimeError("the bench failed")
    assert not any(_alive(p) for p in pids)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_busy_loop_ends_by_itself_when_the_bench_dies() -> None:
    parent = (
        "import os, subprocess, sys; sys.path.insert(0, sys.argv[1]); import common\n"
        "p = subprocess.Popen(common.busy_loop_command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(p.pid, flush=True); os._exit(0)\n"
    )  # dies at once, maybe before the loop has started
    out = subprocess.run([sys.executable, "-c", parent, str(BENCH)], capture_output=True, text=True, timeout=60)
    pid = int(out.stdout.split()[0])
    try:
        assert _wait_gone(pid), f"busy loop {pid} outlived its parent"
    finally:
        if _alive(pid):
            os.kill(pid, 9)


def test_the_runs_config_makes_every_trial_cost_the_same() -> None:
    size = bench_contention.sizes(quick=True)
    cfg = common.make_cfg(bench_contention.run_config(size))
    assert cfg.groups_to_run() == ("learning_rate",)
    assert cfg.search_space["learning_rate"]["batch_size"].choices == [cfg.trainer.batch_size]
    assert cfg.n_warmup_steps >= cfg.epochs_per_trial  # the pruner never prunes
    assert cfg.convergence_patience >= cfg.max_trials_per_group == size["trials"]
    assert cfg.workers == 0 and cfg.trainer.num_threads == 0  # "auto": start decides


def _run(rate: float, header: str) -> dict[str, object]:
    return {"trials_per_hour": rate, "trial_s_median": 1.0, "wall_s": 20.0, "parallel_header": header}


def test_summary_ratios_and_the_target_line() -> None:
    results = {
        "auto": {
            "idle": [_run(6000, "2 workers x 1 thread, journal files"), _run(6400, "x")],
            "loaded": [_run(4500, "x"), _run(4700, "x")],
        },
        "old": {"idle": [_run(4000, "1 worker x 2 threads, sqlite files")], "loaded": [_run(1600, "y")]},
    }
    summary = bench_contention.summarise(results)
    assert summary["trials_per_hour"]["auto"] == {"idle": 6200, "loaded": 4600}
    assert summary["loaded_over_idle"]["auto"] == pytest.approx(4600 / 6200)
    assert summary["loaded_over_idle"]["old"] == pytest.approx(0.4)
    assert summary["auto_over_old"] == {"idle": pytest.approx(1.55), "loaded": pytest.approx(4600 / 1600)}
    assert summary["target_loaded_over_idle_met"] is True and summary["idle_not_slower"] is True
    md = bench_contention.markdown(
        {
            "summary": summary,
            "date": "2026-12-01",
            "command": "python bench/bench_contention.py",
            "git_commit": "abc",
            "machine": {"cpu": "cpu", "cores": 2, "torch": "2"},
            "load_avg_before_after": [[0.1], [0.2]],
            "bench_s": 60,
            "settings": {"rounds": 2, "trials": 24, "epochs": 2, "bars": 20000, "model": "LSTM"},
        }
    )
    assert "| auto (2 workers x 1 thread, journal files) | 6200 | 4600 | 0.74 |" in md
    assert "| auto / old | 1.55 | 2.88 |" in md
    assert "**met**" in md


# ---------------------------------------------------------------------------- several symbols (issue 24)


def test_the_panel_data_sets_share_one_bar_spacing_and_overlap_in_time(tmp_path: Path) -> None:
    from hyperopt_cli.config import DataConfig, LabelsConfig
    from hyperopt_cli.data.load import load_ohlcv
    from hyperopt_cli.data.prepare import DataPreparer

    paths = validity_panel.write_panel_datasets(tmp_path, bars=1500, planted_symbols=3)
    real = [load_ohlcv(p) for p in paths["panel_real"]]
    assert [f.attrs["info"]["symbol"] for f in real] == ["EURUSD_H1", "RANDOM_WALK_H1", "PLANTED_H1"]
    assert all(f.index.equals(real[0].index) for f in real)  # the synthetic markets on EURUSD's own calendar
    assert len(paths["planted_panel"]) == 3
    for files in paths.values():
        preparer = DataPreparer([load_ohlcv(p) for p in files], DataConfig())  # refuses mixed spacings
        data = preparer.prepare(LabelsConfig())
        assert set(np.unique(data.test.symbols)) == set(range(len(files)))  # every symbol in the test time range


def test_the_width_comparison_and_the_win_counts() -> None:
    def run(lo: float, hi: float) -> dict[str, object]:
        return {"verdict": {"interval_macro_f1": [lo, hi], "beats_best_baseline": lo > 0}}

    entry = {"pooled": run(0.01, 0.07), "alone": {"A": run(-0.05, 0.05), "B": run(0.02, 0.22), "C": run(-0.1, 0.1)}}
    c = validity_panel.compare_seed(entry)
    assert c["pooled_width"] == pytest.approx(0.06)
    assert c["median_single_width"] == pytest.approx(0.2)
    assert c["width_ratio"] == pytest.approx(0.3) and c["width_target_met"] is True
    assert c["pooled_wins"] is True and (c["single_wins"], c["singles"]) == (1, 3)
    t = validity_panel.targets({"planted_panel": {"0": entry}})["planted_panel"]
    assert t["pooled_wins"] == "1 of 1" and t["pooled_beats_where_one_symbol_alone_does_not"] is True


def test_the_panel_preparation_child_reports_time_memory_and_every_symbols_samples() -> None:
    one = bench_data.child_panel(1, 3000, "per_symbol")
    two = bench_data.child_panel(2, 3000, "per_symbol")
    assert two["bars"] == 6000 and two["peak_rss_mib"] > 0 and two["preparation_s"] > 0
    assert two["samples"]["train"] == pytest.approx(2 * one["samples"]["train"], rel=0.05)
    assert len(two["fold_train_samples"]) == bench_data.PANEL_FOLDS
