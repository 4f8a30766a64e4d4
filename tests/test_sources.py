"""Several data files in one run: data.path as a list, a folder or a glob; one file is one symbol."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import hyperopt
from hyperopt_cli.config import config_from_dict, config_hash, dump_config
from hyperopt_cli.control import resolve_config
from hyperopt_cli.core.errors import EXIT_DATA, ConfigError, DataError, RunStateError
from hyperopt_cli.data import load as load_module
from hyperopt_cli.data.load import load_data
from hyperopt_cli.data.sources import GLOB_EXTENSIONS, expand_data_paths, frozen_data_path, symbol_of
from hyperopt_cli.run import rundir
from hyperopt_cli.run.checks import check_data
from hyperopt_cli.run.records import load_run_config

HEADER = "timestamp,open,high,low,close,volume\n"


def bars(start_price: float, n: int = 4) -> str:
    lines = [
        f"2020-01-01 {h:02d}:00:00,{start_price + h},{start_price + h + 1},{start_price + h - 0.5},"
        f"{start_price + h + 0.5},{10 + h}\n"
        for h in range(n)
    ]
    return HEADER + "".join(lines)


def write(folder: Path, name: str, start_price: float = 1.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.suffix in (".parquet", ".pq"):
        pd.read_csv(io.StringIO(bars(start_price))).to_parquet(path)
    else:
        path.write_text(bars(start_price))
    return path


def test_symbol_is_the_file_stem() -> None:
    assert symbol_of("data/EURUSD.csv") == "EURUSD"
    assert symbol_of(Path("/x/BTC-USD.parquet")) == "BTC-USD"
    assert symbol_of("data/EUR.USD.csv.gz") == "EUR.USD"  # the compression is part of the extension
    assert symbol_of("BTCUSDT-1h-2024-01.zip") == "BTCUSDT-1h-2024-01"


def test_glob_extensions_are_the_loaders() -> None:
    assert GLOB_EXTENSIONS == (
        load_module.CSV_EXTENSIONS
        + load_module.GZIP_EXTENSIONS
        + load_module.ZIP_EXTENSIONS
        + load_module.PARQUET_EXTENSIONS
    )


def test_a_folder_gives_its_compressed_files_too(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    for name in ("A.csv.gz", "B.zip", "C.txt.gz", "D.gz"):  # .txt.gz is a note, as .txt is; a bare .gz names no format
        write(folder, name)
    assert expand_data_paths(str(folder)) == [folder / "A.csv.gz", folder / "B.zip"]


def test_folder_gives_its_data_files_sorted_by_symbol_not_recursive(tmp_path: Path) -> None:
    folder = tmp_path / "bars"
    for name in ("ZZZ.csv", "AAA.parquet", "MMM.tsv"):
        write(folder, name)
    (folder / "notes.txt").write_text("not data")
    (folder / ".~lock.AAA.csv#").write_text("an editor's lock")
    write(folder / "nested", "NESTED.csv")
    assert expand_data_paths(str(folder)) == [folder / "AAA.parquet", folder / "MMM.tsv", folder / "ZZZ.csv"]


def test_glob_list_relative_entries_and_dedupe(tmp_path: Path) -> None:
    a = write(tmp_path / "a", "EURUSD.csv")
    b = write(tmp_path / "b", "NASDAQ.csv")
    c = write(tmp_path / "b", "GOLD.csv")
    got = expand_data_paths(["a/EURUSD.csv", "b/*.csv", str(a), "b/../a/EURUSD.csv"], base=tmp_path)
    assert got == [a, c, b]  # EURUSD, GOLD, NASDAQ: each once, absolute
    assert all(p.is_absolute() for p in got)


def test_two_files_with_one_stem_are_refused(tmp_path: Path) -> None:
    a = write(tmp_path / "a", "EURUSD.csv")
    b = write(tmp_path / "b", "EURUSD.parquet")
    with pytest.raises(DataError) as err:
        expand_data_paths([str(tmp_path / "a"), str(tmp_path / "b")])
    assert str(err.value).startswith(f"two files give symbol EURUSD: {a} and {b}")
    assert err.value.exit_code == EXIT_DATA


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("missing.csv", "missing.csv: file not found"),
        ("nothing/*.csv", "*.csv: pattern matches no data file"),
        ("empty", "empty: folder holds no data file"),
    ],
)
def test_an_entry_that_names_nothing_is_one_data_error(tmp_path: Path, entry: str, message: str) -> None:
    write(tmp_path, "EURUSD.csv")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no bars here")
    with pytest.raises(DataError) as err:
        expand_data_paths(["EURUSD.csv", entry], base=tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("path", ["bars.csv", ["bars.csv"], ["a.csv", "b.csv"], None])
def test_config_takes_a_string_or_a_list_and_a_list_of_one_is_the_string(path: object) -> None:
    cfg = config_from_dict({"data": {"path": path}})
    assert cfg.data.path == (path[0] if isinstance(path, list) and len(path) == 1 else path)
    if path == ["bars.csv"]:
        assert config_hash(cfg) == config_hash(config_from_dict({"data": {"path": "bars.csv"}}))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (5, "data.path must be a string or a list of strings or null, got 5"),
        ({"a": 1}, "data.path must be a string or a list of strings or null"),
        ([], "data.path must be a non-empty list"),
        (["a.csv", 3], "data.path[1] must be a non-empty string, got 3"),
        (["a.csv", ""], "data.path[1] must be a non-empty string"),
    ],
)
def test_config_refuses_other_data_paths(path: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"path": path}})
    assert str(err.value).startswith(message)


def test_load_data_gives_one_frame_per_symbol_with_its_name(tmp_path: Path) -> None:
    write(tmp_path, "NASDAQ.csv", 100.0)
    write(tmp_path, "EURUSD.parquet", 1.0)
    frames = load_data(config_from_dict({"data": {"path": str(tmp_path)}}))
    assert isinstance(frames, list) and len(frames) == 2
    assert [f.attrs["info"]["symbol"] for f in frames] == ["EURUSD", "NASDAQ"]
    assert frames[1]["open"].iloc[0] == 100.0 and frames[0]["open"].iloc[0] == 1.0


def test_load_data_of_one_file_is_one_frame_named_too(tmp_path: Path) -> None:
    path = write(tmp_path, "EURUSD.csv")
    for spec in (str(path), [str(path)], str(tmp_path), str(tmp_path / "*.csv")):
        frame = load_data(config_from_dict({"data": {"path": spec}}))
        assert isinstance(frame, pd.DataFrame) and frame.attrs["info"]["symbol"] == "EURUSD"
    assert frame.attrs["info"]["source"] == str(path)


def test_start_freezes_the_files_a_folder_names_and_they_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bars"
    a, b = write(folder, "AAA.csv"), write(folder, "BBB.csv")
    monkeypatch.chdir(tmp_path)
    cfg = resolve_config(None, ["trainer.device=cpu"], data_path=[Path("bars")])
    assert cfg.data.path == [str(a), str(b)]
    write(folder, "CCC.csv")  # a file added later is not picked up by the frozen run
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / rundir.CONFIG_FILE).write_text(dump_config(cfg))
    monkeypatch.chdir(run_dir)  # resume from anywhere
    resumed = load_run_config(run_dir)
    assert resumed.data.path == [str(a), str(b)] and config_hash(resumed) == config_hash(cfg)


def test_start_keeps_one_data_value_as_today_and_several_as_a_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = write(tmp_path, "AAA.csv"), write(tmp_path, "BBB.csv")
    monkeypatch.chdir(tmp_path)
    assert resolve_config(None, [], data_path=Path("AAA.csv")).data.path == str(a)
    assert resolve_config(None, [], data_path=[Path("missing.csv")]).data.path == str(tmp_path / "missing.csv")
    assert resolve_config(None, [], data_path=[Path("BBB.csv"), Path("AAA.csv")]).data.path == [str(a), str(b)]
    config = tmp_path / "conf" / "c.yaml"
    config.parent.mkdir()
    config.write_text("data:\n  path: [../AAA.csv, ../BBB.csv]\n")  # relative to the config file, as a string is
    assert resolve_config(config, []).data.path == [str(a), str(b)]


def test_frozen_data_path_of_a_glob_naming_one_file_is_that_file(tmp_path: Path) -> None:
    a = write(tmp_path, "AAA.csv")
    assert frozen_data_path("*.csv", tmp_path) == str(a)


def test_check_data_fingerprints_each_file_and_names_the_changed_one(tmp_path: Path) -> None:
    a, b = write(tmp_path, "AAA.csv"), write(tmp_path, "BBB.csv")
    cfg = config_from_dict({"data": {"path": [str(a), str(b)]}})
    known = check_data(cfg, None, 8)
    assert check_data(cfg, known, 8) == known  # unchanged: accepted
    b.write_text(bars(5.0))
    with pytest.raises(RunStateError) as err:
        check_data(cfg, known, 8)
    assert str(err.value).startswith(f"data file {b} changed since the run started")


def test_data_command_with_two_bad_paths_is_one_error_line(tmp_path: Path) -> None:
    result = hyperopt("data", "--data", "nope1.csv", "--data", "nope2.csv", cwd=tmp_path, timeout=120)
    assert result.returncode == EXIT_DATA, result.stderr
    assert result.stderr.strip().splitlines() == [f"Error: {tmp_path.resolve() / 'nope1.csv'}: file not found"]


def test_data_export_of_several_symbols_labels_each_on_its_own_bars(tmp_path: Path) -> None:
    import pandas as pd

    from hyperopt_cli.config import LabelsConfig
    from hyperopt_cli.data.labels import triple_barrier_labels
    from hyperopt_cli.data.load import load_ohlcv
    from hyperopt_cli.data.synthetic import synthetic_ohlcv

    for seed, symbol in enumerate(("AAA", "BBB")):
        synthetic_ohlcv(700, seed=seed, freq="1h").to_csv(tmp_path / f"{symbol}.csv", index_label="timestamp")
    result = hyperopt("data", "--data", ".", "--export", "labels.csv", "--json", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    exported = pd.read_csv(tmp_path / "labels.csv")
    assert list(exported.columns) == ["symbol", "timestamp", "label"]
    for symbol in ("AAA", "BBB"):
        bars = load_ohlcv(tmp_path / f"{symbol}.csv")
        labels, valid = triple_barrier_labels(bars["close"].to_numpy(), LabelsConfig())
        mine = exported[exported["symbol"] == symbol]
        assert mine["label"].tolist() == labels[valid].tolist()  # no label reaches into the other file
