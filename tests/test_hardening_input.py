"""Input that must be accepted, and input that must be refused in one clear line (issue 14: 2, 5, 10, 11)."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from cli_helpers import env, hyperopt, load_run_study, write_config
from hyperopt_cli.config import load_config
from hyperopt_cli.core.errors import (
    EXIT_CONFIG,
    EXIT_RUN_STATE,
    EXIT_STORAGE_FULL,
    ConfigError,
    DataError,
    storage_full,
)
from hyperopt_cli.core.quote import QUOTE_CHARS
from hyperopt_cli.data.load import SNIFF_BYTES, load_ohlcv
from hyperopt_cli.run import rundir

HEADER = "timestamp,open,high,low,close,volume\n"
ROWS = "".join(f"2020-01-{d:02d},1.0,1.2,0.9,1.1,10\n" for d in range(2, 20))


def billion_laughs(levels: int = 9) -> str:
    """A 400-byte YAML document whose aliases stand for 9**levels strings."""
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    names = "abcdefghijklmnop"
    for prev, name in zip(names, names[1:levels]):
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    return text


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# --------------------------------------------------------------------------- item 10: OHLC rounding


def test_adjusted_prices_one_ulp_apart_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "adjusted.csv"
    path.write_text(HEADER + "2020-01-01,0.12425307929515839,0.12425307929515837,0.12,0.12425307929515839,5\n" + ROWS)
    assert len(load_ohlcv(path)) == 19


@pytest.mark.parametrize("high", ["0.99999", "0.999999"])  # 1e-5 and 1e-6 below the close: real violations
def test_a_real_high_below_close_is_still_refused(tmp_path: Path, high: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + f"2020-01-01,0.5,{high},0.4,1.0,5\n" + ROWS)
    with pytest.raises(DataError, match=rf"high {high} is below max\(open, close\) 1.0 at data row 1"):
        load_ohlcv(path)


def test_a_real_low_above_open_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "2020-01-01,1.0,1.5,1.000001,1.2,5\n" + ROWS)
    with pytest.raises(DataError, match=r"low 1.000001 is above min\(open, close\) 1.0"):
        load_ohlcv(path)


# --------------------------------------------------------------------------- item 11: data edges


def test_a_first_row_over_the_sniffed_head_with_an_extra_field_is_refused_without_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(HEADER + "2020-01-01,1.0,1.2,0.9,1.1,10," + "x" * (SNIFF_BYTES + 10) + "\n" + ROWS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a pandas ParserWarning would fail the test here
        with pytest.raises(DataError) as info:
            load_ohlcv(path)
    assert str(info.value) == (
        f"{path}: line 2 is longer than {SNIFF_BYTES} bytes; "
        "a row of OHLCV bars is far shorter (is this the right file?)"
    )


def test_a_200k_column_header_is_one_short_line(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"column_{i}" for i in range(200_000)) + "\n" + ",".join(["1"] * 200_000) + "\n")
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    assert str(info.value).startswith(f"{path}: line 1 is longer than") and len(str(info.value)) < 300


def test_a_wide_header_under_the_limit_names_few_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(
        "timestamp," + ",".join(f"c{i}" for i in range(3000)) + "\n2020-01-01," + ",".join(["1"] * 3000) + "\n"
    )
    with pytest.raises(DataError, match=r"missing required column 'open'") as info:
        load_ohlcv(path)
    assert "(3001 in all)" in str(info.value) and len(str(info.value)) < 600


# --------------------------------------------------------------------------- item 2 and 11: config edges


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    started = time.monotonic()
    with pytest.raises(ConfigError, match="expands to more than 10000 values through YAML aliases"):
        load_config(path)
    assert time.monotonic() - started < 2


def test_a_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("search_space: &s {learning_rate: *s}\n")
    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(path)


def test_a_small_anchor_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text("trainer: &t {batch_size: 32}\nmodel: {hidden_size: 8}\n")
    assert load_config(path).trainer.batch_size == 32


def test_a_bomb_in_a_set_override_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--set 'seed' expands to more than"):
        load_config(None, ["seed=" + billion_laughs().replace("\n", ", ").join("{}")])


def test_quoted_values_are_cut_to_about_80_characters(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(f"seed: {'7' * 5000}x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    quoted = str(info.value).split("got ", 1)[1].split(" (", 1)[0]
    assert quoted.startswith("'777") and "..." in quoted and len(quoted) <= QUOTE_CHARS


def test_an_unknown_key_of_5000_characters_is_not_echoed_whole(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["k" * 5000 + "=1"])
    assert len(str(info.value)) < 1000


def test_a_config_with_a_nul_byte_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"seed: 1\nstudy\x00_name: x\n")
    result = hyperopt("start", "--config", path, "--run-dir", tmp_path / "run", cwd=tmp_path, timeout=120)
    assert result.returncode == EXIT_CONFIG
    assert one_error_line(result) == f"Error: {path} holds a NUL byte at line 2; a config must be a YAML text file"
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_cli_refuses_an_alias_bomb_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    result = hyperopt("start", "--config", path, "--run-dir", tmp_path / "run", cwd=tmp_path, timeout=60)
    assert result.returncode == EXIT_CONFIG and "expands to more than 10000 values" in one_error_line(result)


# --------------------------------------------------------------------------- item 11: storage full, corrupt DB


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_storage_full_is_found_through_the_exception_chain(code: int) -> None:
    try:
        try:
            raise OSError(code, os.strerror(code), "state.json")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        found = storage_full(outer)
    assert found is not None and found.exit_code == EXIT_STORAGE_FULL
    assert str(found).startswith(f"cannot write state.json: {os.strerror(code)}; free some space")
    assert storage_full(OSError(errno.EACCES, "Permission denied")) is None


def _file_size_limit(limit: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_its_own_exit_code_not_unexpected(tmp_path: Path) -> None:
    """A file size limit makes the first config.yaml write fail as a full disk does (EFBIG instead of ENOSPC)."""
    config = write_config(tmp_path, mode="quick")
    result = subprocess.run(
        [sys.executable, "-m", "hyperopt_cli", "start", "--config", str(config), "--run-dir", str(tmp_path / "run")],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_file_size_limit(1000),
    )
    assert result.returncode == EXIT_STORAGE_FULL, result.stderr
    assert one_error_line(result) == (
        "Error: a write failed: File too large; free some space (or raise the quota "
        "or file size limit), then resume the run"
    )


def _tmpfs(folder: Path, size: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    folder.mkdir()
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )


@pytest.mark.slow
def test_a_run_on_a_full_filesystem_exits_9_and_stays_readable(tmp_path: Path) -> None:
    """A real ENOSPC (a 64 KiB tmpfs) writing the run's study files is exit 9, and status still reads the run."""
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "64k"):
        pytest.skip("needs root and mount to make a small filesystem")
    try:
        config = write_config(tmp_path, mode="quick")
        run = disk / "run"
        result = hyperopt("start", "--config", config, "--run-dir", run, cwd=tmp_path, timeout=300)
        assert result.returncode == EXIT_STORAGE_FULL, result.stderr
        line = one_error_line(result)
        assert "free some space" in line and line.endswith("then resume the run"), line
        assert json.loads((run / rundir.STATE_FILE).read_text())["job_id"] == "run"
        assert hyperopt("status", run, "--json", cwd=tmp_path, timeout=120).returncode == 0
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def tiny_run_dir(tmp_path: Path, mode: str = "quick") -> Path:
    """A run directory with config.yaml only, as `start` writes it first."""
    run = tmp_path / "runs" / "20260101_000000"
    run.mkdir(parents=True)
    (run / rundir.CONFIG_FILE).write_text(write_config(tmp_path, mode=mode).read_text())
    return run


def test_a_corrupt_study_db_is_a_run_state_error(tmp_path: Path) -> None:
    run = tiny_run_dir(tmp_path)
    (run / "ml_hyperopt_learning_rate.db").write_bytes(b"this is not a SQLite file at all " * 64)
    for command in ("status", "resume"):
        result = hyperopt(command, run, cwd=tmp_path, timeout=120)
        assert result.returncode == EXIT_RUN_STATE, (command, result.stderr)
        line = one_error_line(result)
        assert "ml_hyperopt_learning_rate.db" in line and "file is not a database" in line, line


# --------------------------------------------------------------------------- item 5: readers never write


def test_status_of_a_zero_byte_study_db_leaves_it_untouched(tmp_path: Path) -> None:
    run = tiny_run_dir(tmp_path)
    db = run / "ml_hyperopt_learning_rate.db"
    db.touch()
    result = hyperopt("status", run, "--json", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["groups"]["learning_rate"]["status"] == "pending"
    assert db.stat().st_size == 0, "a reader wrote an Optuna schema into the study file"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"status": "paused", "progress": 5}, "'progress' must be an object or null, got a number"),
        ({"status": "paused", "groups": ["learning_rate"]}, "'groups' must be an object or null, got a list"),
        (
            {"status": "paused", "groups": {"learning_rate": "done"}},
            "groups['learning_rate'] must be an object, got a string",
        ),
        ({"status": ["running"]}, "'status' must be a string, got a list"),
        ({"status": "paused", "workers": "x"}, "'workers' must be an object or null, got a string"),
    ],
)
def test_wrong_types_in_state_json_are_exit_6(tmp_path: Path, state: dict[str, object], message: str) -> None:
    run = tiny_run_dir(tmp_path)
    (run / rundir.STATE_FILE).write_text(json.dumps(state))
    for command in ("status", "results"):
        result = hyperopt(command, run, cwd=tmp_path, timeout=120)
        assert result.returncode == EXIT_RUN_STATE, (command, result.stderr)
        assert one_error_line(result) == (
            f"Error: {run / rundir.STATE_FILE}: {message}; restore the file, or delete "
            "it to have it rebuilt from the studies"
        )


def test_wrong_types_in_results_json_are_exit_6(tmp_path: Path) -> None:
    run = tiny_run_dir(tmp_path)
    (run / rundir.STATE_FILE).write_text(json.dumps({"status": "completed", "job_id": run.name}))
    (run / rundir.RESULTS_FILE).write_text(json.dumps({"best_params": [1, 2]}))
    result = hyperopt("results", run, cwd=tmp_path, timeout=120)
    assert result.returncode == EXIT_RUN_STATE
    assert "'best_params' must be an object, got a list" in one_error_line(result)


@pytest.mark.slow
def test_a_truncated_results_json_of_a_completed_run_is_rebuilt_from_the_studies(tmp_path: Path) -> None:
    config = write_config(tmp_path, mode="quick")
    run = tmp_path / "run"
    assert hyperopt("start", "--config", config, "--run-dir", run, cwd=tmp_path, timeout=600).returncode == 0
    results_file = run / rundir.RESULTS_FILE
    whole = json.loads(results_file.read_text())
    results_file.write_text(results_file.read_text()[:40])  # cut mid-object, as a full disk or a bad copy would
    before = results_file.read_bytes()
    result = hyperopt("results", run, "--json", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    rebuilt = json.loads(result.stdout)
    assert rebuilt["complete"] is True and rebuilt["best_params"] == whole["best_params"]
    assert rebuilt["test_metrics"] == whole["test_metrics"]
    assert results_file.read_bytes() == before, "a reader must not write"
    assert len(load_run_study(run, "ml_hyperopt_learning_rate").get_trials(deepcopy=False)) == 2


def test_status_of_all_runs_lists_an_unreadable_one_and_the_others(tmp_path: Path) -> None:
    good = tiny_run_dir(tmp_path)
    (good / rundir.STATE_FILE).write_text(json.dumps({"status": "paused", "job_id": good.name}))
    bad = good.parent / "20260102_000000"
    bad.mkdir()
    (bad / rundir.CONFIG_FILE).write_text((good / rundir.CONFIG_FILE).read_text())
    (bad / rundir.STATE_FILE).write_text(json.dumps({"status": 3}))
    result = hyperopt("status", "--runs-dir", good.parent, "--json", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["job_id"], r["status"]) for r in rows] == [(good.name, "paused"), (bad.name, "unreadable")]
    assert "'status' must be a string, got a number" in rows[1]["message"]
