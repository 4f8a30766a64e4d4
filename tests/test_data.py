"""Loading OHLCV files: format variants, the one-line error of every bad input, bar counts."""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hyperopt_cli.config import DataConfig, LabelsConfig, OptimizationConfig, SyntheticConfig
from hyperopt_cli.core.errors import DataError
from hyperopt_cli.data.features import WARMUP_BARS
from hyperopt_cli.data.load import load_data, load_ohlcv
from hyperopt_cli.data.prepare import DataPreparer
from hyperopt_cli.data.split import MIN_SAMPLES, min_bars
from hyperopt_cli.data.synthetic import synthetic_ohlcv as make_bars

EURUSD = Path(__file__).parent / "data" / "EURUSD_H1.csv"
HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = [
    "2020-01-01 00:00:00,1.10,1.20,1.00,1.15,10",
    "2020-01-01 01:00:00,1.15,1.25,1.05,1.20,11",
    "2020-01-01 02:00:00,1.20,1.30,1.10,1.25,12",
]
UTC_HOURS = pd.DatetimeIndex(["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:00"], tz="UTC").as_unit("ns")


def write(tmp_path: Path, text: str, name: str = "bars.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def rows(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


def test_real_eurusd_file() -> None:
    df = load_ohlcv(EURUSD)
    assert len(df) == 5000 and list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert (df.dtypes == np.float64).all()
    assert df.index.name == "timestamp" and df.index.dtype == "datetime64[ns, UTC]"
    assert df.index[0] == pd.Timestamp("2017-04-19 09:00", tz="UTC")
    assert df.attrs["warnings"] == []
    info = df.attrs["info"]
    assert info["bar_size"] == "1h" and info["gaps"] > 30  # weekends
    assert info["timestamp_column"] == "Unnamed: 0" and info["volume_column"] == "Volume"


def test_good_file_values(tmp_path: Path) -> None:
    df = load_ohlcv(write(tmp_path, rows(*GOOD)))
    pd.testing.assert_index_equal(df.index, UTC_HOURS.rename("timestamp"), check_exact=True)
    assert df["close"].tolist() == [1.15, 1.20, 1.25]
    assert df["volume"].tolist() == [10.0, 11.0, 12.0]


VARIANTS = {
    "semicolon": "timestamp;open;high;low;close;volume\n" + "".join(g.replace(",", ";") + "\n" for g in GOOD),
    "tab": "timestamp\topen\thigh\tlow\tclose\tvolume\n" + "".join(g.replace(",", "\t") + "\n" for g in GOOD),
    "pipe": "timestamp|open|high|low|close|volume\n" + "".join(g.replace(",", "|") + "\n" for g in GOOD),
    "uppercase and spaces": " TIMESTAMP , OPEN , HIGH , LOW , CLOSE , VOLUME \n" + "".join(g + "\n" for g in GOOD),
    "short names": "Time,O,H,L,C,V\n" + "".join(g + "\n" for g in GOOD),
    "pandas to_csv index": ",Open,High,Low,Close,Volume\n" + "".join(g + "\n" for g in GOOD),
    "iso T and Z": rows(*(g.replace(" ", "T", 1).replace(",", "Z,", 1) for g in GOOD)),
    "offset +02:00": rows(
        "2020-01-01 02:00:00+02:00,1.10,1.20,1.00,1.15,10",
        "2020-01-01 03:00:00+02:00,1.15,1.25,1.05,1.20,11",
        "2020-01-01 04:00:00+02:00,1.20,1.30,1.10,1.25,12",
    ),
    "mixed offsets": rows(
        "2019-12-31T19:00:00-05:00,1.10,1.20,1.00,1.15,10",
        "2020-01-01T01:00:00+00:00,1.15,1.25,1.05,1.20,11",
        "2020-01-01T03:00:00+01:00,1.20,1.30,1.10,1.25,12",
    ),
    "epoch seconds": "time,open,high,low,close,volume\n"
    "1577836800,1.10,1.20,1.00,1.15,10\n1577840400,1.15,1.25,1.05,1.20,11\n1577844000,1.20,1.30,1.10,1.25,12\n",
    "epoch ms": "open_time,open,high,low,close,volume\n"
    "1577836800000,1.10,1.20,1.00,1.15,10\n1577840400000,1.15,1.25,1.05,1.20,11\n"
    "1577844000000,1.20,1.30,1.10,1.25,12\n",
    "metatrader 4": "<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>,<VOL>,<SPREAD>\n"
    "2020.01.01,00:00,1.10,1.20,1.00,1.15,10,0,2\n2020.01.01,01:00,1.15,1.25,1.05,1.20,11,0,2\n"
    "2020.01.01,02:00,1.20,1.30,1.10,1.25,12,0,2\n",
    "metatrader 5 tab": "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
    "2020.01.01\t00:00:00\t1.10\t1.20\t1.00\t1.15\t10\t0\t2\n2020.01.01\t01:00:00\t1.15\t1.25\t1.05\t1.20\t11\t0\t2\n"
    "2020.01.01\t02:00:00\t1.20\t1.30\t1.10\t1.25\t12\t0\t2\n",
    "metatrader no header": "2020.01.01,00:00,1.10,1.20,1.00,1.15,10\n2020.01.01,01:00,1.15,1.25,1.05,1.20,11\n"
    "2020.01.01,02:00,1.20,1.30,1.10,1.25,12\n",
    "dukascopy gmt": "Gmt time,Open,High,Low,Close,Volume\n01.01.2020 00:00:00.000,1.10,1.20,1.00,1.15,10\n"
    "01.01.2020 01:00:00.000,1.15,1.25,1.05,1.20,11\n01.01.2020 02:00:00.000,1.20,1.30,1.10,1.25,12\n",
    "dukascopy local": "Local time,Open,High,Low,Close,Volume\n"
    "01.01.2020 01:00:00.000 GMT+0100,1.10,1.20,1.00,1.15,10\n01.01.2020 02:00:00.000 GMT+0100,1.15,1.25,1.05,1.20,11\n"
    "01.01.2020 03:00:00.000 GMT+0100,1.20,1.30,1.10,1.25,12\n",
    "decimal comma": "Date;Open;High;Low;Close;Volume\n01.01.2020 00:00;1,10;1,20;1,00;1,15;10\n"
    "01.01.2020 01:00;1,15;1,25;1,05;1,20;11\n01.01.2020 02:00;1,20;1,30;1,10;1,25;12\n",
    "slash dates": "Date Time,Open,High,Low,Close,Volume\n2020/01/01 00:00,1.10,1.20,1.00,1.15,10\n"
    "2020/01/01 01:00,1.15,1.25,1.05,1.20,11\n2020/01/01 02:00,1.20,1.30,1.10,1.25,12\n",
    "histdata compact": "20200101 000000;1.10;1.20;1.00;1.15;10\n20200101 010000;1.15;1.25;1.05;1.20;11\n"
    "20200101 020000;1.20;1.30;1.10;1.25;12\n",
    "quoted": '"timestamp","open","high","low","close","volume"\n'
    + "".join('"' + g.replace(",", '","') + '"\n' for g in GOOD),
    "windows newlines and BOM": "\ufeff" + rows(*GOOD).replace("\n", "\r\n"),
    "blank trailing lines": rows(*GOOD) + "\n\n",
    "trailing delimiters": "".join(line + ",\n" for line in (HEADER.strip(), *GOOD)),
    "trailing delimiter on data only": HEADER + "".join(g + ",\n" for g in GOOD),
    "excel serial dates": "Date,Open,High,Low,Close,Volume\n43831,1.10,1.20,1.00,1.15,10\n"
    "43831.041667,1.15,1.25,1.05,1.20,11\n43831.083333,1.20,1.30,1.10,1.25,12\n",
    "date and time as whole numbers, HHMMSS": "date,time,open,high,low,close,volume\n20200101,000000,1.10,1.20,1.00,1.15,10\n"
    "20200101,010000,1.15,1.25,1.05,1.20,11\n20200101,020000,1.20,1.30,1.10,1.25,12\n",
    "date and time as whole numbers, HHMM": "date,time,open,high,low,close,volume\n20200101,0,1.10,1.20,1.00,1.15,10\n"
    "20200101,100,1.15,1.25,1.05,1.20,11\n20200101,200,1.20,1.30,1.10,1.25,12\n",
    "polygon aggregates": "v,vw,o,c,h,l,t,n\n10,1.15,1.10,1.15,1.20,1.00,1577836800000,3\n"
    "11,1.20,1.15,1.20,1.25,1.05,1577840400000,3\n12,1.25,1.20,1.25,1.30,1.10,1577844000000,3\n",
    "kraken ohlcvt, no header": "1577836800,1.10,1.20,1.00,1.15,10,3\n1577840400,1.15,1.25,1.05,1.20,11,3\n"
    "1577844000,1.20,1.30,1.10,1.25,12,3\n",
    "nasdaq.com": "Date,Close/Last,Volume,Open,High,Low\n01/01/2020 02:00,$1.25,12,$1.20,$1.30,$1.10\n"
    "01/01/2020 01:00,$1.20,11,$1.15,$1.25,$1.05\n01/01/2020 00:00,$1.15,10,$1.10,$1.20,$1.00\n",
}


@pytest.mark.parametrize("text", VARIANTS.values(), ids=VARIANTS.keys())
def test_format_variants(tmp_path: Path, text: str) -> None:
    df = load_ohlcv(write(tmp_path, text))
    pd.testing.assert_index_equal(df.index, UTC_HOURS.rename("timestamp"))
    assert df["close"].tolist() == [1.15, 1.20, 1.25]
    assert df["volume"].tolist() == [10.0, 11.0, 12.0]


def compressed(tmp_path: Path, text: str, kind: str) -> Path:
    """`text` as bars.csv.gz, or as bars.zip holding bars.csv."""
    if kind == "gzip":
        path = tmp_path / "bars.csv.gz"
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path = tmp_path / "bars.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("bars.csv", text)
    return path


@pytest.mark.parametrize("kind", ["gzip", "zip"])
@pytest.mark.parametrize("variant", ["semicolon", "decimal comma", "metatrader no header"])
def test_compressed_files_read_as_the_csv_they_hold(tmp_path: Path, kind: str, variant: str) -> None:
    plain = load_ohlcv(write(tmp_path, VARIANTS[variant]))
    packed = load_ohlcv(compressed(tmp_path, VARIANTS[variant], kind))
    pd.testing.assert_frame_equal(packed, plain, check_exact=True)
    assert packed.attrs["info"]["symbol"] == "bars"


def test_a_zip_must_hold_exactly_one_csv(tmp_path: Path) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", rows(*GOOD))
        archive.writestr("b.csv", rows(*GOOD))
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    assert (
        str(info.value)
        == f"{path}: a zip archive must hold exactly one .csv, .txt or .tsv file; it holds 2 ('a.csv', 'b.csv')"
    )


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs the zip command to encrypt an archive")
def test_an_encrypted_zip_is_one_error_line(tmp_path: Path) -> None:
    write(tmp_path, rows(*GOOD))
    subprocess.run(["zip", "-q", "-P", "secret", "bars.zip", "bars.csv"], cwd=tmp_path, check=True)
    with pytest.raises(
        DataError, match=r"bars.zip: not a readable zip archive \(corrupt, cut short, or another format\)$"
    ):
        load_ohlcv(tmp_path / "bars.zip")


def test_a_corrupt_gzip_file_is_one_error_line_without_its_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,open,SECRET", name="bars.csv.gz")
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    assert str(info.value) == f"{path}: not a readable gzip file (corrupt, cut short, or another format)"
    whole = gzip.compress(rows(*GOOD * 1).encode() * 1)
    cut = write(tmp_path, "", name="cut.csv.gz")
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="cut.csv.gz: "):
        load_ohlcv(cut)


def test_metatrader_prefers_tick_volume_when_real_volume_is_zero(tmp_path: Path) -> None:
    df = load_ohlcv(write(tmp_path, VARIANTS["metatrader 4"]))
    assert df.attrs["info"]["volume_column"] == "<TICKVOL>"
    assert df.attrs["warnings"] == [
        f"{tmp_path / 'bars.csv'}: column '<VOL>' is all zero; using tick volume '<TICKVOL>'"
    ]


def test_real_volume_preferred_over_tick_volume(tmp_path: Path) -> None:
    text = VARIANTS["metatrader 4"].replace(",0,2\n", ",7,2\n")
    df = load_ohlcv(write(tmp_path, text))
    assert df["volume"].tolist() == [7.0, 7.0, 7.0] and df.attrs["warnings"] == []


def test_adj_close_is_not_close(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Adj Close,Volume\n" + "".join(
        g + "\n" for g in ("2020-01-01,1,2,0.5,1.5,9,3", "2020-01-02,1,2,0.5,1.6,9,3")
    )
    df = load_ohlcv(write(tmp_path, text))
    assert df["close"].tolist() == [1.5, 1.6]


def test_bitstamp_style_volume_columns(tmp_path: Path) -> None:
    text = "Timestamp,Open,High,Low,Close,Volume_(BTC),Volume_(Currency),Weighted_Price\n" + (
        "1577836800,1,2,0.5,1.5,3,4,1.2\n1577836860,1,2,0.5,1.5,5,6,1.2\n"
    )
    df = load_ohlcv(write(tmp_path, text))
    assert df["volume"].tolist() == [3.0, 5.0]
    assert df.attrs["info"]["bar_size"] == "1min"


def test_missing_volume_is_zero_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "date,open,high,low,close\n2020-01-01,1,2,0.5,1.5\n2020-01-02,1,2,0.5,1.5\n")
    df = load_ohlcv(path)
    assert df["volume"].tolist() == [0.0, 0.0]
    assert df.attrs["warnings"] == [f"{path}: no volume column; volume set to 0.0"]


def test_naive_timestamps_are_read_in_the_configured_zone(tmp_path: Path) -> None:
    df = load_ohlcv(write(tmp_path, rows(*GOOD)), timezone="Europe/Berlin")
    assert df.index[0] == pd.Timestamp("2019-12-31 23:00", tz="UTC")


def test_timezone_does_not_shift_absolute_timestamps(tmp_path: Path) -> None:
    df = load_ohlcv(write(tmp_path, VARIANTS["offset +02:00"]), timezone="America/New_York")
    assert df.index[0] == pd.Timestamp("2020-01-01 00:00", tz="UTC")


def test_explicit_timestamp_column(tmp_path: Path) -> None:
    text = "when,open,high,low,close,volume\n" + "".join(g + "\n" for g in GOOD)
    df = load_ohlcv(write(tmp_path, text), timestamp_column="WHEN")
    assert df.index[0] == UTC_HOURS[0]


def test_month_first_dates_are_detected_by_order(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n01/02/2020,1,2,0.5,1.5,3\n01/03/2020,1,2,0.5,1.5,3\n"
    df = load_ohlcv(write(tmp_path, text))
    # day-first would read 1 Feb, 1 Mar: also increasing, so day-first wins the tie...
    assert df.index[0] == pd.Timestamp("2020-02-01", tz="UTC")
    text = "Date,Open,High,Low,Close,Volume\n01/31/2020,1,2,0.5,1.5,3\n02/01/2020,1,2,0.5,1.5,3\n"
    df = load_ohlcv(write(tmp_path, text))
    # ...but a 31 in the second field settles it
    assert df.index.tolist() == [pd.Timestamp("2020-01-31", tz="UTC"), pd.Timestamp("2020-02-01", tz="UTC")]


@pytest.mark.parametrize("index", [True, False], ids=["index", "column"])
def test_parquet(tmp_path: Path, index: bool) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {"Open": [1.1, 1.15, 1.2], "High": [1.2, 1.25, 1.3], "Low": [1.0, 1.05, 1.1], "Close": [1.15, 1.2, 1.25]},
        index=pd.DatetimeIndex(UTC_HOURS.tz_convert("Europe/Berlin"), name="Date"),
    )
    if not index:
        frame = frame.reset_index()
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    df = load_ohlcv(path)
    pd.testing.assert_index_equal(df.index, UTC_HOURS.rename("timestamp"))
    assert df["close"].tolist() == [1.15, 1.2, 1.25] and df["volume"].tolist() == [0.0, 0.0, 0.0]


def test_parquet_unnamed_naive_index_and_string_times(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"open": [1.0, 1.0], "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.5]})
    frame.index = pd.DatetimeIndex(["2020-01-01 00:00", "2020-01-01 01:00"])
    frame.to_parquet(tmp_path / "a.pq")
    assert load_ohlcv(tmp_path / "a.pq").index[1] == UTC_HOURS[1]
    frame.index = ["2020-01-01 00:00", "2020-01-01 01:00"]
    frame.rename_axis("time").to_parquet(tmp_path / "b.parquet")
    assert load_ohlcv(tmp_path / "b.parquet").index[1] == UTC_HOURS[1]


# --------------------------------------------------------------------------- bad inputs


def test_a_newest_first_file_reads_oldest_first_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, rows(*reversed(GOOD)))
    df = load_ohlcv(path)
    expected = load_ohlcv(write(tmp_path, rows(*GOOD), name="sorted.csv"))
    pd.testing.assert_frame_equal(df, expected, check_exact=True)
    assert df.attrs["warnings"] == [f"{path}: the rows are newest first; read them oldest first (3 bars)"]
    assert df.index.is_monotonic_increasing


def test_a_newest_first_file_names_its_bad_price_by_the_files_own_row(tmp_path: Path) -> None:
    broken = [GOOD[2].replace("1.30,1.10", "1.24,1.10"), GOOD[1], GOOD[0]]  # high below close, on data row 1
    with pytest.raises(DataError, match=r"at data row 1 \(2020-01-01 02:00:00\)"):
        load_ohlcv(write(tmp_path, rows(*broken)))


INVESTING = (  # investing.com's layout: newest first, "Price" is the close, quoted grouped numbers, "Vol." with a suffix
    '"Date","Price","Open","High","Low","Vol.","Change %"\n'
    '"01/03/2020","1,250.00","1,240.50","1,260.00","1,230.25","1.50M","0.80%"\n'
    '"01/02/2020","1,240.00","1,200.00","1,245.00","1,195.00","980.00K","3.33%"\n'
    '"01/01/2020","1,200.00","999.50","1,210.00","990.00","2.1B","0.00%"\n'
)


def test_an_investing_com_file_reads_its_grouped_numbers_and_volume_suffixes(tmp_path: Path) -> None:
    df = load_ohlcv(write(tmp_path, INVESTING))
    assert df.index[0] == pd.Timestamp("2020-01-01", tz="UTC") and df.index.is_monotonic_increasing
    assert df["close"].tolist() == [1200.0, 1240.0, 1250.0] and df["open"].tolist() == [999.5, 1200.0, 1240.5]
    assert df["volume"].tolist() == [2.1e9, 980e3, 1.5e6]
    assert df.attrs["info"]["volume_column"] == "Vol."


@pytest.mark.parametrize(
    "values",
    [
        ("1,0716", "1,0720"),  # a European decimal comma in quotes: not a thousands separator
        ("1,250.00", "1,0720"),  # grouping must hold for the whole column, here it does not
        ("1,25.00", "1,250.00"),  # a group of two digits is no thousands grouping
    ],
)
def test_a_column_that_is_not_grouped_by_thousands_throughout_stays_refused(tmp_path: Path, values: Any) -> None:
    text = HEADER + "".join(f'2020-01-0{i + 1} 00:00:00,"{v}","{v}","{v}","{v}",10\n' for i, v in enumerate(values))
    with pytest.raises(DataError, match="has a non-numeric value"):
        load_ohlcv(write(tmp_path, text))


@pytest.mark.parametrize(
    "values",
    [
        ("$1.10", "1.15"),  # the sign must be on every value of the column
        ("$1.10", "€1.15"),  # and the same sign
        ("€1,0716", "€1,0720"),  # after the sign, a decimal comma is still no thousands separator
    ],
)
def test_a_currency_sign_is_read_only_when_the_whole_column_carries_it(tmp_path: Path, values: Any) -> None:
    text = HEADER + "".join(f'2020-01-0{i + 1} 00:00:00,"{v}","{v}","{v}","{v}",10\n' for i, v in enumerate(values))
    with pytest.raises(DataError, match="has a non-numeric value"):
        load_ohlcv(write(tmp_path, text))


def test_excel_serial_dates_are_read_in_the_configured_zone_and_said(tmp_path: Path) -> None:
    path = write(tmp_path, VARIANTS["excel serial dates"])
    df = load_ohlcv(path, timezone="Europe/Berlin")
    assert df.index[0] == pd.Timestamp("2019-12-31 23:00", tz="UTC")  # midnight in Berlin
    assert df.attrs["warnings"] == [
        f"{path}: column 'Date' holds numbers from 43831 to 43831.083333: read as Excel serial dates "
        "(days since 1899-12-30) in data.timezone, not as unix seconds (which would all fall in January 1970)"
    ]


def test_numbers_past_the_excel_dates_pandas_holds_are_not_read_as_excel_dates(tmp_path: Path) -> None:
    text = "time,open,high,low,close,volume\n" + "".join(
        f"{1_492_592 + 4 * i}," + g.split(",", 1)[1] + "\n" for i, g in enumerate(GOOD)
    )
    df = load_ohlcv(write(tmp_path, text))  # as Excel days: the year 5986; as unix seconds: January 1970, said
    assert (
        df.index[0] == pd.Timestamp(1_492_592, unit="s", tz="UTC")
        and "puts every bar in 1970" in df.attrs["warnings"][0]
    )


def test_a_count_read_as_unix_seconds_is_said_to_put_every_bar_in_1970(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "time,open,high,low,close,volume\n" + "".join(f"{i}," + g.split(",", 1)[1] + "\n" for i, g in enumerate(GOOD)),
    )
    df = load_ohlcv(path)
    assert df.index[0] == pd.Timestamp(0, tz="UTC")
    assert df.attrs["warnings"] == [
        f"{path}: column 'time' read as unix seconds puts every bar in 1970; if it is a row number or another "
        "count, name the timestamp column with data.timestamp_column"
    ]
    assert load_ohlcv(write(tmp_path, VARIANTS["epoch seconds"], name="epoch.csv")).attrs["warnings"] == []


def test_volume_suffixes_are_read_only_in_the_volume_column(tmp_path: Path) -> None:
    text = HEADER + '2020-01-01,"1.5K",2000,1000,1500,"1.5K"\n2020-01-02,1500,2000,1000,1500,"2M"\n'
    with pytest.raises(DataError, match="column 'open' has a non-numeric value '1.5K'"):
        load_ohlcv(write(tmp_path, text))


def test_a_row_with_no_price_at_all_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, rows(GOOD[0], "2020-01-01 00:30:00,null,null,null,null,null", GOOD[1], GOOD[2]))
    df = load_ohlcv(path)
    pd.testing.assert_frame_equal(df, load_ohlcv(write(tmp_path, rows(*GOOD), name="whole.csv")), check_exact=True)
    assert df.attrs["warnings"] == [
        f"{path}: 1 row with no price (every open, high, low and close empty or null) dropped, "
        "the first at data row 2 (2020-01-01 00:30:00)"
    ]


def test_after_a_dropped_row_errors_still_name_the_files_own_row(tmp_path: Path) -> None:
    bad_high = GOOD[1].replace("1.25,1.05", "1.19,1.05")  # high below close
    with pytest.raises(DataError, match=r"at data row 3 \(2020-01-01 01:00:00\)"):
        load_ohlcv(write(tmp_path, rows(GOOD[0], "2020-01-01 00:30:00,,,,,", bad_high)))
    with pytest.raises(DataError, match=r"duplicate timestamp 2020-01-01 01:00:00 at data rows 3 and 4"):
        load_ohlcv(write(tmp_path, rows(GOOD[0], "2020-01-01 00:30:00,,,,,", GOOD[1], GOOD[1]), name="dup.csv"))


def test_a_row_missing_only_some_prices_is_still_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"column 'high' is empty at data row 2"):
        load_ohlcv(write(tmp_path, rows(GOOD[0], "2020-01-01 01:00:00,1.15,null,1.05,1.20,11", GOOD[2])))


@pytest.mark.parametrize("placeholder", ["-", ""])
def test_a_volume_column_without_any_number_is_no_volume_with_a_warning(tmp_path: Path, placeholder: str) -> None:
    path = write(tmp_path, rows(*(g.rsplit(",", 1)[0] + f",{placeholder}" for g in GOOD)))
    df = load_ohlcv(path)
    assert df["volume"].tolist() == [0.0, 0.0, 0.0]
    assert df.attrs["warnings"] == [
        f"{path}: column 'volume' holds no number (only placeholders such as '-'); volume set to 0.0"
    ]


def test_a_volume_column_with_some_numbers_and_some_placeholders_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="column 'volume' has a non-numeric value '-' at data row 2"):
        load_ohlcv(write(tmp_path, rows(GOOD[0], GOOD[1].rsplit(",", 1)[0] + ",-", GOOD[2])))


G0, G1, G2 = GOOD
BAD_CSV = {
    "empty file": ("", "{p}: file is empty"),
    "header only": (HEADER, "{p}: no data rows (columns found: 'timestamp', 'open', 'high', 'low', 'close', 'volume')"),
    "missing close": (
        "timestamp,open,high,low,adj close\n2020-01-01,1,2,0.5,1.5\n",
        "{p}: missing required column 'close' (columns found: 'timestamp', 'open', 'high', 'low', 'adj close'); "
        "accepted names: close, c, close_price, closeprice, closing_price, last, close/last, price",
    ),
    "no timestamp column": (
        "when,open,high,low,close\n2020-01-01,1,2,0.5,1.5\n",
        "{p}: no timestamp column found (columns found: 'when', 'open', 'high', 'low', 'close'); "
        "name it with data.timestamp_column",
    ),
    "non-numeric": (
        rows(G0, "2020-01-01 01:00:00,1.15,1.25,1.05,abc,11", G2),
        "{p}: column 'close' has a non-numeric value 'abc' at data row 2 (2020-01-01 01:00:00)",
    ),
    "empty price": (
        rows(G0, G1, "2020-01-01 02:00:00,1.20,,1.10,1.25,12"),
        "{p}: column 'high' is empty at data row 3 (2020-01-01 02:00:00)",
    ),
    "nan price": (
        rows(G0, "2020-01-01 01:00:00,NaN,1.25,1.05,1.20,11", G2),
        "{p}: column 'open' is empty at data row 2 (2020-01-01 01:00:00)",
    ),
    "infinite price": (
        rows(G0, "2020-01-01 01:00:00,1.15,inf,1.05,1.20,11", G2),
        "{p}: column 'high' has a non-finite value inf at data row 2 (2020-01-01 01:00:00)",
    ),
    "unparseable timestamp": (
        rows(G0, "2020-13-45 01:00:00,1.15,1.25,1.05,1.20,11", G2),
        "{p}: column 'timestamp' has an unparseable timestamp '2020-13-45 01:00:00' at data row 2",
    ),
    "garbage timestamp": (
        rows("yesterday,1.10,1.20,1.00,1.15,10", G1),
        "{p}: column 'timestamp' has an unparseable timestamp 'yesterday' at data row 1",
    ),
    "empty timestamp": (
        rows(G0, ",1.15,1.25,1.05,1.20,11", G2),
        "{p}: column 'timestamp' has an empty timestamp at data row 2",
    ),
    "duplicate timestamp": (
        rows(G0, G1, G1.replace("1.15,", "1.16,", 1)),
        "{p}: duplicate timestamp 2020-01-01 01:00:00 at data rows 2 and 3",
    ),
    "unsorted": (
        rows(G0, G2, G1),
        "{p}: timestamp 2020-01-01 01:00:00 at data row 3 is earlier than 2020-01-01 02:00:00 at data row 2; "
        "timestamps must increase (sort the file by time)",
    ),
    "zero price": (
        rows(G0, "2020-01-01 01:00:00,1.15,1.25,0,1.20,11", G2),
        "{p}: column 'low' has a non-positive price 0.0 at data row 2 (2020-01-01 01:00:00); prices must be > 0",
    ),
    "negative price": (
        rows("2020-01-01 00:00:00,-1.10,1.20,-1.30,1.15,10", G1),
        "{p}: column 'open' has a non-positive price -1.1 at data row 1 (2020-01-01 00:00:00); prices must be > 0",
    ),
    "high below close": (
        rows(G0, G1, "2020-01-01 02:00:00,1.20,1.22,1.10,1.25,12"),
        "{p}: high 1.22 is below max(open, close) 1.25 at data row 3 (2020-01-01 02:00:00); "
        "need high >= max(open, close)",
    ),
    "low above open": (
        rows("2020-01-01 00:00:00,1.10,1.20,1.12,1.15,10", G1),
        "{p}: low 1.12 is above min(open, close) 1.1 at data row 1 (2020-01-01 00:00:00); need low <= min(open, close)",
    ),
    "negative volume": (
        rows(G0, "2020-01-01 01:00:00,1.15,1.25,1.05,1.20,-11", G2),
        "{p}: column 'volume' has a negative volume -11.0 at data row 2 (2020-01-01 01:00:00)",
    ),
    "mixed offsets and naive": (
        rows("2020-01-01T00:00:00Z,1.10,1.20,1.00,1.15,10", "2020-01-01T01:00:00,1.15,1.25,1.05,1.20,11"),
        "{p}: column 'timestamp' mixes timestamps with and without a UTC offset: "
        "'2020-01-01T01:00:00' at data row 2 has none",
    ),
    "naive then offset": (
        rows("2020-01-01T00:00:00,1.10,1.20,1.00,1.15,10", "2020-01-01T01:00:00+01:00,1.15,1.25,1.05,1.20,11"),
        "{p}: column 'timestamp' mixes timestamps with and without a UTC offset: "
        "'2020-01-01T01:00:00+01:00' at data row 2 has one",
    ),
    "ragged rows": (
        rows(G0, G1 + ",99,98", G2),
        "{p}: cannot parse as CSV (delimiter ','): Error tokenizing data. C error: Expected 6 fields in line 3, saw 8",
    ),
    "more fields than header": (
        "timestamp,open,high,low,close\n2020-01-01 00:00:00,123,1,2,0.5,1.5\n",
        "{p}: the header has 5 fields but the first data row has 6 (delimiter ','); fix the header or the delimiter",
    ),
    "one column": (
        "just text\nmore text\n",
        "{p}: cannot find the delimiter in line 1 (tried comma, semicolon, tab, pipe): 'just text'",
    ),
    "bad epoch": (
        "time,open,high,low,close\n1577836800,1,2,0.5,1.5\nsoon,1,2,0.5,1.5\n",
        "{p}: column 'time' has an unparseable timestamp 'soon' at data row 2",
    ),
}


@pytest.mark.parametrize("text, message", BAD_CSV.values(), ids=BAD_CSV.keys())
def test_bad_csv(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        load_ohlcv(path)
    assert str(info.value) == message.format(p=path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text, zone, message",
    [
        (
            rows("2020-11-01 00:30:00,1,2,0.5,1.5,3", "2020-11-01 01:30:00,1,2,0.5,1.5,3"),
            "America/New_York",
            "{p}: timestamp at data row 2 (2020-11-01 01:30:00) is ambiguous (it occurs twice when DST ends) in "
            "America/New_York; store UTC timestamps or timestamps with an offset, or set data.timezone to a zone "
            "without DST",
        ),
        (
            rows("2020-03-29 01:30:00,1,2,0.5,1.5,3", "2020-03-29 02:30:00,1,2,0.5,1.5,3"),
            "Europe/Berlin",
            "{p}: timestamp at data row 2 (2020-03-29 02:30:00) does not exist (skipped when DST starts) in "
            "Europe/Berlin; store UTC timestamps or timestamps with an offset, or set data.timezone to a zone "
            "without DST",
        ),
        (
            rows(*GOOD),
            "Mars/Olympus",
            "{p}: unknown timezone 'Mars/Olympus' (data.timezone); use an IANA name such as 'UTC' or 'Europe/Berlin'",
        ),
    ],
    ids=["ambiguous", "nonexistent", "unknown zone"],
)
def test_timezone_errors(tmp_path: Path, text: str, zone: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        load_ohlcv(path, timezone=zone)
    assert str(info.value) == message.format(p=path)


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError) as info:
        load_ohlcv(missing)
    assert str(info.value) == f"{missing}: file not found"
    with pytest.raises(DataError) as info:
        load_ohlcv(tmp_path)
    assert str(info.value) == f"{tmp_path}: not a file"
    xlsx = write(tmp_path, "x", "bars.xlsx")
    with pytest.raises(DataError) as info:
        load_ohlcv(xlsx)
    assert (
        str(info.value)
        == f"{xlsx}: unsupported file extension '.xlsx'; use one of .csv, .txt, .tsv, .csv.gz, .txt.gz, .tsv.gz, .zip, .parquet, .pq"
    )
    broken = write(tmp_path, "not parquet at all", "bars.parquet")
    with pytest.raises(DataError, match=r"bars\.parquet: not a readable Parquet file: "):
        load_ohlcv(broken)
    unknown_column = write(tmp_path, rows(*GOOD))
    with pytest.raises(DataError) as info:
        load_ohlcv(unknown_column, timestamp_column="when")
    assert str(info.value) == (
        f"{unknown_column}: timestamp column 'when' (data.timestamp_column) not found "
        "(columns found: 'timestamp', 'open', 'high', 'low', 'close', 'volume')"
    )


# Root reads any file, so as root the load runs in a subprocess that drops to `nobody` first
# (after one load as root, so every lazy import is done while the interpreter's files are readable).
LOAD_AS_NOBODY = """
import os, sys
from hyperopt_cli.data.load import load_ohlcv
from hyperopt_cli.core.errors import DataError
load_ohlcv(sys.argv[1])
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    load_ohlcv(sys.argv[2])
except DataError as exc:
    print(exc)
"""


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        path = write(tmp_path, rows(*GOOD))
        path.chmod(0)
        with pytest.raises(DataError, match=r"bars\.csv: cannot read the file: Permission denied"):
            load_ohlcv(path)
        return
    folder = Path(tempfile.mkdtemp(prefix="hyperopt-unreadable-"))  # beside tmp_path: nobody may enter it
    try:
        folder.chmod(0o711)
        readable = write(folder, rows(*GOOD), "ok.csv")
        path = write(folder, rows(*GOOD))
        path.chmod(0)
        done = subprocess.run(
            [sys.executable, "-c", LOAD_AS_NOBODY, str(readable), str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path}: cannot read the file: Permission denied"


def test_errors_name_the_first_offending_row_in_a_long_file(tmp_path: Path, synthetic_ohlcv: pd.DataFrame) -> None:
    df = synthetic_ohlcv.copy()
    df.iloc[2500, df.columns.get_loc("high")] = df["low"].iloc[2500] / 2
    path = tmp_path / "long.csv"
    df.to_csv(path)
    with pytest.raises(DataError, match=r"^.*long\.csv: high .* at data row 2501 \(2020-04-14 04:00:00\+00:00\)"):
        load_ohlcv(path)


# --------------------------------------------------------------------------- bar counts


def prepare_bars(n_bars: int, window: int, horizon: int, embargo_bars: int = 0, source: str = "data") -> tuple:
    """The segment sizes the real split gives `n_bars` clean synthetic bars (DataError when too few)."""
    bars = make_bars(n_bars, seed=3)
    bars.attrs["info"] = {"source": source}
    data = DataPreparer(bars, DataConfig(window=window, embargo_bars=embargo_bars)).prepare(
        LabelsConfig(horizon=horizon)
    )
    return len(data.train), len(data.val), len(data.test)


def test_min_bars_is_the_exact_threshold_of_the_real_split() -> None:
    need = min_bars(window=32, horizon=12)
    assert prepare_bars(need, window=32, horizon=12)[0] >= MIN_SAMPLES["train"]
    with pytest.raises(DataError, match="too few bars"):
        prepare_bars(need - 1, window=32, horizon=12)
    assert need > WARMUP_BARS + 32 + 12 + sum(MIN_SAMPLES.values())


def test_too_few_bars_message() -> None:
    with pytest.raises(DataError) as info:
        prepare_bars(300, window=32, horizon=12, embargo_bars=2, source="x.csv")
    need = min_bars(32, 12, 2)
    assert str(info.value) == (
        "x.csv: too few bars: 300 bars give train 99, val 10, test 24 samples after a "
        f"{WARMUP_BARS}-bar feature warm-up, window 32, horizon 12 and a 14-bar purge per boundary; "
        f"need at least train 50, val 20, test 20, i.e. at least {need} bars (or a smaller window/horizon)"
    )


def test_the_minimum_in_the_message_is_one_every_longer_file_meets() -> None:
    # 349 bars failed (val 19) under a message that asked for "about 348": the split's rounding is not monotone.
    need = min_bars(window=32, horizon=12)
    for n in range(need, need + 60):
        prepare_bars(n, window=32, horizon=12)  # raises if not enough
    with pytest.raises(DataError, match="too few bars"):
        prepare_bars(need - 1, window=32, horizon=12)


@pytest.mark.parametrize("n_bars", [50, 120, 305])
def test_a_short_file_is_told_the_same_minimum_however_short(n_bars: int) -> None:
    # 50 rows were told "about 305 bars" (a 50-bar warm-up: the file's length), 305 rows "about 348".
    with pytest.raises(DataError) as info:
        prepare_bars(n_bars, window=32, horizon=12)
    assert f"after a {WARMUP_BARS}-bar feature warm-up" in str(info.value)
    assert f"at least {min_bars(32, 12)} bars" in str(info.value)


def test_load_data_synthetic_and_file(tmp_path: Path) -> None:
    cfg = OptimizationConfig(seed=5, data=DataConfig(synthetic=SyntheticConfig(n_bars=500)))
    a = load_data(cfg)
    assert len(a) == 500 and a.attrs["info"]["source"] == "synthetic (seed 5)"
    cfg_seeded = dataclasses.replace(cfg, data=DataConfig(synthetic=SyntheticConfig(n_bars=500, seed=9)))
    assert load_data(cfg_seeded).attrs["info"]["source"] == "synthetic (seed 9)"
    path = write(tmp_path, rows(*GOOD))
    cfg_file = dataclasses.replace(cfg, data=DataConfig(path=str(path), timezone="Europe/Berlin"))
    assert load_data(cfg_file).index[0] == pd.Timestamp("2019-12-31 23:00", tz="UTC")
