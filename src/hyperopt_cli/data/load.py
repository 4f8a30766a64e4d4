"""Load and validate OHLCV bars from CSV or Parquet files, or build the synthetic ones.

`load_ohlcv` returns a frame with a tz-aware UTC DatetimeIndex named "timestamp" and
float64 columns open, high, low, close, volume, in file order (a file whose rows are newest
first throughout is read oldest first, with a warning). Every rule that fails is
one `DataError` line naming the file, the column, the data row (1-based, header not
counted) with its timestamp as written in the file, and the rule. The checks are
vectorised: a million rows load in a few seconds.
"""

from __future__ import annotations

import csv
import gzip
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hyperopt_cli.config import OptimizationConfig
from hyperopt_cli.core.errors import DataError
from hyperopt_cli.core.quote import clipped, shown
from hyperopt_cli.data.sources import data_extension, expand_data_paths, is_pattern, symbol_of
from hyperopt_cli.data.synthetic import synthetic_ohlcv

CSV_EXTENSIONS: tuple[str, ...] = (".csv", ".txt", ".tsv")  # read with the sniffed delimiter
GZIP_EXTENSIONS: tuple[str, ...] = (".csv.gz", ".txt.gz", ".tsv.gz")  # the same, gzip-compressed
ZIP_EXTENSIONS: tuple[str, ...] = (".zip",)  # an archive of exactly one CSV (Binance's and HistData's downloads)
PARQUET_EXTENSIONS: tuple[str, ...] = (".parquet", ".pq")  # read with pyarrow
SNIFF_BYTES = 64 * 1024  # head of a CSV read to sniff delimiter, decimal mark and header
SNIFF_LINES = 50  # lines of that head compared for a consistent delimiter
# high >= max(open, close) and low <= min(open, close) up to this relative difference: adjusted
# prices are products of floats and miss by an ulp or two (1e-16); a real violation is >= 1e-6.
OHLC_RTOL = 1e-9
COLUMNS_SHOWN = 20  # columns named in a "columns found" list; a 200k-column header is cut there
DELIMITERS: tuple[str, ...] = ("\t", ";", "|", ",")  # preference order when several fit
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")

# Names are compared after `_norm`: lower case, `<>` and outer spaces stripped, inner
# spaces/dashes/dots as "_". "adj_close" is deliberately not a close.
ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o", "open_price", "openprice", "opening_price", "first"),
    "high": ("high", "h", "high_price", "highprice", "max"),
    "low": ("low", "l", "low_price", "lowprice", "min"),
    "close": ("close", "c", "close_price", "closeprice", "closing_price", "last", "close/last", "price"),
}
REAL_VOLUME: tuple[str, ...] = ("volume", "vol", "v", "real_volume", "realvolume", "real_vol", "base_volume")
TICK_VOLUME: tuple[str, ...] = ("tickvol", "tick_volume", "tickvolume", "tick_vol", "ticks", "tick_count")
# Names of a full timestamp, tried first; then a date + time pair; then time, date or dt alone.
TIMESTAMP_NAMES: tuple[str, ...] = (
    "timestamp", "datetime", "date_time", "gmt_time", "local_time", "time_stamp", "open_time",
    "opentime", "ts", "unix", "unix_time", "unix_timestamp", "epoch",
)  # fmt: skip
PARTIAL_TIMESTAMP_NAMES: tuple[str, ...] = ("time", "date", "dt", "t")  # "t": Polygon's aggregates
SYMBOL_COLUMNS: tuple[str, ...] = ("symbol", "ticker")  # a long-format file's symbol column (refused)
UNNAMED = re.compile(r"^(unnamed:_?0|index|)$")  # pandas' name for a header-less first column

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$")
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
_COMMA_NUMBER = re.compile(r"^[+-]?\d+,\d+$")
_GROUPED_OR_PLAIN = r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?"  # 1,234.50 or 1234.50 (a whole column, fullmatch)
_SUFFIXED = r"([+-]?\d+(?:\.\d+)?)\s*([KMBT]?)"  # 1.23M: investing.com's volume (a whole column, fullmatch)
VOLUME_SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
CURRENCY_SIGNS = ("$", "€", "£", "¥")  # a price column whose every value starts with one (nasdaq.com: "$242.84")
# Excel's serial dates (days since its day 0, 1899-12-30, in the 1900 date system) from 1927-05-18 to
# 2255-12-04 (the last years pandas holds). Read as unix seconds, such numbers would all fall in January 1970.
EXCEL_DAY_ZERO = pd.Timestamp("1899-12-30")
EXCEL_DAYS = (10_000, 130_000)
_DOT_NUMBER = re.compile(r"^[+-]?\d+\.\d+$")
_TIME_ONLY = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
# Day-first before month-first: the tie-break when both read a column in time order.
_DATE_FORMATS = (
    "%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d", "%Y%m%d",
    "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y",
)  # fmt: skip
_TIME_FORMATS = (
    "", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", "T%H:%M", "T%H:%M:%S", "T%H:%M:%S.%f", " %H%M%S", " %H%M",
)  # fmt: skip
_ZONE_FORMATS = ("", " GMT%z", " UTC%z", "%z", " %z")


# --------------------------------------------------------------------------- reading


def _norm(name: Any) -> str:
    text = str(name).strip().strip("<>").strip().lower()
    return re.sub(r"[\s\-.]+", "_", text)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    ext = data_extension(path)
    readable = CSV_EXTENSIONS + GZIP_EXTENSIONS + ZIP_EXTENSIONS + PARQUET_EXTENSIONS
    if ext not in readable:
        shown = ext or "(none)"
        raise DataError(f"{path}: unsupported file extension '{shown}'; use one of {', '.join(readable)}")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    if size == 0:
        raise DataError(f"{path}: file is empty")


@dataclass
class _CsvDialect:
    sep: str
    decimal: str
    encoding: str
    header: bool
    first_fields: list[str]


def _zip_member(path: Path) -> str:
    """The one CSV an archive holds, or a DataError saying what it holds instead."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        raise DataError(f"{path}: not a readable zip archive (corrupt, cut short, or another format)") from None
    if len(names) != 1 or data_extension(names[0]) not in CSV_EXTENSIONS:
        listed = ", ".join(shown(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        raise DataError(
            f"{path}: a zip archive must hold exactly one .csv, .txt or .tsv file; it holds {len(names)} "
            f"({listed or 'none'})"
        )
    return names[0]


def _head(path: Path) -> tuple[bytes, bool]:
    """The first SNIFF_BYTES of the file's text (decompressed), and whether there is more."""
    ext = data_extension(path)
    try:
        if ext in ZIP_EXTENSIONS:
            with zipfile.ZipFile(path) as archive, archive.open(_zip_member(path)) as handle:
                return handle.read(SNIFF_BYTES), bool(handle.read(1))
        opener = gzip.open if ext in GZIP_EXTENSIONS else open
        with opener(path, "rb") as handle:
            return handle.read(SNIFF_BYTES), bool(handle.read(1))
    except (OSError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError):
        # gzip.BadGzipFile is an OSError; an encrypted member raises RuntimeError, deflate64 NotImplementedError.
        # Not the exception's text: gzip's quotes the file's first bytes.
        kind = "gzip file" if ext in GZIP_EXTENSIONS else "zip archive" if ext in ZIP_EXTENSIONS else "file"
        raise DataError(f"{path}: not a readable {kind} (corrupt, cut short, or another format)") from None


def _sniff_csv(path: Path) -> _CsvDialect:
    head, truncated = _head(path)
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            text = head.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if truncated:  # the last line of the head may be cut in half
        text = text[: max(text.rfind("\n"), text.rfind("\r")) + 1]
    lines = [line for line in text.splitlines() if line.strip()]
    if truncated and len(lines) < 2:  # pandas would read it, drop fields and warn on stderr
        raise DataError(
            f"{path}: line {len(lines) + 1} is longer than {SNIFF_BYTES} bytes; "
            "a row of OHLCV bars is far shorter (is this the right file?)"
        )
    lines = lines[:SNIFF_LINES]
    if not lines:
        raise DataError(f"{path}: file is empty")
    widths = {d: [len(_fields(ln, d)) for ln in lines] for d in DELIMITERS}
    consistent = [d for d in DELIMITERS if widths[d][0] > 1 and len(set(widths[d])) == 1]
    if consistent:
        sep = consistent[0]
    else:
        sep = max(DELIMITERS, key=lambda d: widths[d][0])
        if widths[sep][0] == 1:
            raise DataError(
                f"{path}: cannot find the delimiter in line 1 (tried comma, semicolon, tab, pipe): {lines[0][:80]!r}"
            )
    first_fields = [f.strip().strip('"').strip("'").strip() for f in _fields(lines[0], sep)]
    numeric = sum(bool(_NUMBER.match(f)) for f in first_fields)
    header = numeric < 4  # a first line with four or more numbers is data, not names
    if header and len(lines) > 1:
        second = _fields(lines[1], sep)
        if any(f.strip() for f in second[len(first_fields) :]):  # pandas would take the first column as the index
            raise DataError(
                f"{path}: the header has {len(first_fields)} fields but the first data row has "
                f"{len(second)} (delimiter {sep!r}); fix the header or the delimiter"
            )
    decimal = _sniff_decimal(lines[1:] if header else lines, sep)
    return _CsvDialect(sep, decimal, encoding, header, first_fields)


def _fields(line: str, sep: str) -> list[str]:
    """The fields of one line as pandas splits them: a delimiter inside double quotes ("1,234.50") is text."""
    return next(csv.reader([line], delimiter=sep, quotechar='"'), [])


def _sniff_decimal(lines: list[str], sep: str) -> str:
    """',' when the number fields of a non-comma-separated file look like "1,0716" and none like "1.0716"."""
    if sep == ",":
        return "."
    fields = [f.strip().strip('"') for line in lines for f in _fields(line, sep)]
    comma = any(_COMMA_NUMBER.match(f) for f in fields)
    dot = any(_DOT_NUMBER.match(f) for f in fields)
    return "," if comma and not dot else "."


def _headerless_names(fields: list[str]) -> list[str]:
    lead = ["date", "time"] if len(fields) > 1 and _TIME_ONLY.match(fields[1]) else ["timestamp"]
    rest = ["open", "high", "low", "close", "volume"]
    names = lead + rest[: max(0, len(fields) - len(lead))]
    return names + [f"extra_{i}" for i in range(len(fields) - len(names))]


def _read_csv(path: Path, warn: list[str]) -> pd.DataFrame:
    dialect = _sniff_csv(path)
    ext = data_extension(path)
    kwargs: dict[str, Any] = dict(
        sep=dialect.sep,
        decimal=dialect.decimal,
        skipinitialspace=True,
        low_memory=False,
        engine="c",
        index_col=False,  # a trailing delimiter must not turn the first column into the index
        compression="gzip" if ext in GZIP_EXTENSIONS else "zip" if ext in ZIP_EXTENSIONS else None,
    )
    if not dialect.header:
        names = _headerless_names(dialect.first_fields)
        kwargs.update(header=None, names=names)
        warn.append(f"no header row; assumed columns {', '.join(names)}")
    for encoding in (dialect.encoding, "latin-1"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)  # a row pandas would silently cut
                return pd.read_csv(path, encoding=encoding, **kwargs)
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise DataError(f"{path}: file is empty") from None
        except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as exc:
            raise DataError(
                f"{path}: cannot parse as CSV (delimiter {dialect.sep!r}): {clipped(_one_line(exc), 300)}"
            ) from None
        except (OSError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:  # EOFError: cut short
            raise DataError(
                f"{path}: cannot read the file: {getattr(exc, 'strerror', None) or _one_line(exc)}"
            ) from None
    raise DataError(f"{path}: cannot decode the file as UTF-8 or Latin-1")  # pragma: no cover


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    except Exception as exc:  # pyarrow raises its own ArrowInvalid/OSError family
        raise DataError(f"{path}: not a readable Parquet file: {_one_line(exc)}") from None
    if not isinstance(df.index, pd.RangeIndex):
        name = df.index.name
        df = df.reset_index(names=name if name is not None else "index")
    df.columns = [str(c) for c in df.columns]
    return df


# --------------------------------------------------------------------------- columns


def _columns_found(df: pd.DataFrame) -> str:
    names = [shown(str(c)) for c in df.columns[:COLUMNS_SHOWN]]
    more = len(df.columns) - COLUMNS_SHOWN
    return ", ".join(names) + (f", ... ({len(df.columns)} in all)" if more > 0 else "")


def _check_one_symbol(raw: pd.DataFrame, source: str) -> None:
    """A long-format file (a symbol column with several values) is refused with the way out, not a misleading
    'timestamps must increase' further on."""
    col = _find(raw, SYMBOL_COLUMNS)
    if col is not None and raw[col].nunique(dropna=True) > 1:
        raise DataError(
            f"{source}: column {shown(col)} holds {raw[col].nunique(dropna=True)} different symbols; "
            "a file is one symbol: split it into one file per symbol and pass the folder (--data DIR)"
        )


def _find(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    by_norm: dict[str, str] = {}
    for col in df.columns:
        by_norm.setdefault(_norm(col), col)
    for name in names:
        if name in by_norm:
            return by_norm[name]
    return None


def _timestamp_columns(df: pd.DataFrame, source: str, timestamp_column: str | None) -> list[str]:
    """One column, or [date, time] to be joined with a space."""
    if timestamp_column is not None:
        col = _find(df, (_norm(timestamp_column),))
        if col is None:
            raise DataError(
                f"{source}: timestamp column {shown(timestamp_column)} (data.timestamp_column) not found "
                f"(columns found: {_columns_found(df)})"
            )
        return [col]
    date, time = _find(df, ("date",)), _find(df, ("time",))
    combined = _find(df, TIMESTAMP_NAMES)
    if combined is not None:
        return [combined]
    if date is not None and time is not None:
        return [date, time]
    single = _find(df, PARTIAL_TIMESTAMP_NAMES)
    if single is not None:
        return [single]
    first = df.columns[0] if len(df.columns) else None
    if first is not None and UNNAMED.match(_norm(first)):
        return [first]
    raise DataError(
        f"{source}: no timestamp column found (columns found: {_columns_found(df)}); name it with data.timestamp_column"
    )


def _volume_column(df: pd.DataFrame, warn: list[str]) -> str | None:
    real = _find(df, REAL_VOLUME)
    if real is None:
        real = next((c for c in df.columns if _norm(c).startswith(("volume", "vol_"))), None)
    tick = _find(df, TICK_VOLUME)
    if real is not None and tick is not None and _all_zero(df[real]):
        warn.append(f"column {shown(real)} is all zero; using tick volume {shown(tick)}")
        return tick
    return real if real is not None else tick


def _all_zero(col: pd.Series) -> bool:
    values = pd.to_numeric(col, errors="coerce")
    return bool((values.fillna(0) == 0).all())


# --------------------------------------------------------------------------- timestamps


class _Rows:
    """Names a data row in messages: 'data row 17 (2020-01-03 04:00:00)'.

    `numbers` are the file's data-row numbers of the rows read (1-based); None: every row, in order.
    """

    def __init__(self, text: Callable[[int], str], numbers: np.ndarray | None = None) -> None:
        self.text = text
        self.numbers = numbers

    def num(self, i: int) -> int:
        return i + 1 if self.numbers is None else int(self.numbers[i])

    def at(self, i: int) -> str:
        return f"data row {self.num(i)} ({self.text(i)})"


def _raw_text(raw: pd.Series) -> Callable[[int], str]:
    def text(i: int) -> str:
        value = raw.iloc[i]
        return "empty" if pd.isna(value) else clipped(str(value).strip())

    return text


def _check_timezone(timezone: str, source: str) -> None:
    try:
        pd.Timestamp("2000-01-01").tz_localize(timezone)
    except Exception:
        raise DataError(
            f"{source}: unknown timezone {shown(timezone)} (data.timezone); use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


def _localize(naive: pd.DatetimeIndex, timezone: str, source: str, rows: _Rows) -> pd.DatetimeIndex:
    if timezone.upper() == "UTC":
        return naive.tz_localize("UTC")
    local = naive.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    bad = np.flatnonzero(local.isna() & ~naive.isna())
    if len(bad):
        i = int(bad[0])
        one = naive[i : i + 1]
        ambiguous = not one.tz_localize(timezone, ambiguous=np.array([True]), nonexistent="NaT").isna()[0]
        why = (
            "is ambiguous (it occurs twice when DST ends)" if ambiguous else "does not exist (skipped when DST starts)"
        )
        raise DataError(
            f"{source}: timestamp at {rows.at(i)} {why} in {timezone}; "
            "store UTC timestamps or timestamps with an offset, or set data.timezone to a zone without DST"
        )
    return local.tz_convert("UTC")


def _first_bad(parsed: pd.DatetimeIndex | pd.Series) -> int | None:
    nat = np.flatnonzero(np.asarray(parsed.isna(), dtype=bool))
    return int(nat[0]) if len(nat) else None


def _unparseable(source: str, col: str, raw: pd.Series, rows: _Rows, i: int) -> DataError:
    if pd.isna(raw.iloc[i]) or not str(raw.iloc[i]).strip():
        return DataError(f"{source}: column {shown(col)} has an empty timestamp at data row {rows.num(i)}")
    return DataError(
        f"{source}: column {shown(col)} has an unparseable timestamp {shown(rows.text(i))} at data row {rows.num(i)}"
    )


def _from_numbers(
    values: pd.Series, source: str, col: str, raw: pd.Series, rows: _Rows, warn: list[str]
) -> pd.DatetimeIndex:
    """Unix epochs in s/ms/us/ns by magnitude, YYYYMMDD integers, or Excel serial dates (with a warning)."""
    v = values.to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(v))
    if len(bad):
        raise _unparseable(source, col, raw, rows, int(bad[0]))
    if ((v >= 19000101) & (v <= 21001231) & (v == np.floor(v))).all():
        as_dates = pd.to_datetime(pd.Series(v.astype(np.int64).astype(str)), format="%Y%m%d", errors="coerce")
        if not as_dates.isna().any():
            return pd.DatetimeIndex(as_dates)  # naive: localised by the caller
    if ((v >= EXCEL_DAYS[0]) & (v <= EXCEL_DAYS[1])).all():
        warn.append(
            f"column {shown(col)} holds numbers from {v.min():.12g} to {v.max():.12g}: read as Excel serial dates "
            "(days since 1899-12-30) in data.timezone, not as unix seconds (which would all fall in January 1970)"
        )
        # to the second: a CSV rounds a day's fraction (1/24 = 0.041667), and bars finer than seconds do not use Excel
        return pd.DatetimeIndex(EXCEL_DAY_ZERO + pd.to_timedelta(np.round(v * 86400.0), unit="s"))  # naive
    magnitude = float(np.median(np.abs(v)))
    # seconds until the year 5138, then ms, us, ns
    unit = "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(v, unit=unit, utc=True))
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        raise DataError(
            f"{source}: column {shown(col)} holds numbers that are not unix epochs ({unit}): {_one_line(exc)}"
        ) from None
    if parsed.max() < pd.Timestamp("1971-01-01", tz="UTC"):
        warn.append(
            f"column {shown(col)} read as unix seconds puts every bar in 1970; if it is a row number or another "
            "count, name the timestamp column with data.timestamp_column"
        )
    return parsed


def _candidate_formats(first: str) -> list[str]:
    found = []
    for d in _DATE_FORMATS:
        for t in _TIME_FORMATS:
            for z in _ZONE_FORMATS:
                fmt = d + t + z
                try:
                    datetime.strptime(first, fmt)
                except ValueError:
                    continue
                found.append(fmt)
    return found


def _from_strings(
    text: pd.Series, source: str, col: str, raw: pd.Series, rows: _Rows, warn: list[str]
) -> pd.DatetimeIndex:
    """Parse strings; the result is tz-aware when they carry an offset, else naive."""
    present = text.dropna()
    if present.empty:
        raise _unparseable(source, col, raw, rows, 0)
    first = str(present.iloc[0])
    if _NUMBER.match(first):
        return _from_numbers(pd.to_numeric(text, errors="coerce"), source, col, raw, rows, warn)
    if _ISO.match(first):
        if re.search(_OFFSET, first):
            parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
            naive = np.flatnonzero(~text.str.contains(_OFFSET, regex=True, na=True).to_numpy(dtype=bool))
            if len(naive):
                i = int(naive[0])
                raise DataError(
                    f"{source}: column {shown(col)} mixes timestamps with and without a UTC offset: "
                    f"{shown(rows.text(i))} at data row {rows.num(i)} has none"
                )
        else:
            try:
                parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
            except ValueError:  # some later value carries an offset
                with_offset = np.flatnonzero(text.str.contains(_OFFSET, regex=True, na=False).to_numpy(dtype=bool))
                i = int(with_offset[0]) if len(with_offset) else 0
                raise DataError(
                    f"{source}: column {shown(col)} mixes timestamps with and without a UTC offset: "
                    f"{shown(rows.text(i))} at data row {rows.num(i)} has one"
                ) from None
        bad = _first_bad(parsed)
        if bad is not None:
            raise _unparseable(source, col, raw, rows, bad)
        return pd.DatetimeIndex(parsed)
    best: pd.DatetimeIndex | None = None
    best_bad = len(text) + 1
    for fmt in _candidate_formats(first):
        utc = "%z" in fmt
        try:
            parsed = pd.DatetimeIndex(pd.to_datetime(text, format=fmt, errors="coerce", utc=utc))
        except ValueError:
            continue
        n_bad = int(parsed.isna().sum())
        if n_bad == 0 and parsed.is_monotonic_increasing:
            return parsed  # e.g. day-first vs month-first: the order that makes time run forward
        if n_bad < best_bad:
            best, best_bad = parsed, n_bad
    if best is None:
        best = _guess_format(text)
    bad = _first_bad(best) if best is not None else 0
    if best is None or bad is not None:
        raise _unparseable(source, col, raw, rows, bad or 0)
    return best


def _guess_format(text: pd.Series) -> pd.DatetimeIndex | None:
    """Last resort for layouts outside the known list: pandas' own format inference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.DatetimeIndex(pd.to_datetime(text, errors="coerce"))
        except (ValueError, TypeError):
            return None


def _clock_text(col: pd.Series) -> pd.Series:
    """A time column as text; one read as whole numbers (0, 93000) as HHMMSS, or as HHMM when none exceeds 2359."""
    if not pd.api.types.is_integer_dtype(col.dtype):
        return col.astype("str").str.strip()
    width = 4 if col.max() <= 2359 else 6  # an HHMMSS column of a file spanning more than 24 minutes exceeds 2359
    return col.map(lambda t: f"{t:0{width}d}")


def _parse_timestamps(
    df: pd.DataFrame,
    cols: list[str],
    timezone: str,
    source: str,
    warn: list[str],
    numbers: np.ndarray | None = None,
) -> tuple[pd.DatetimeIndex, _Rows]:
    if len(cols) == 2:
        date, time = df[cols[0]].astype("str").str.strip(), _clock_text(df[cols[1]])
        raw = (date + " " + time).where(df[cols[0]].notna() & df[cols[1]].notna())
        col = f"{cols[0]}+{cols[1]}"
    else:
        raw = df[cols[0]]
        col = cols[0]
    rows = _Rows(_raw_text(raw), numbers)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = pd.DatetimeIndex(raw)
        bad = _first_bad(parsed)
        if bad is not None:
            raise _unparseable(source, col, raw, rows, bad)
    elif pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        parsed = _from_numbers(raw, source, col, raw, rows, warn)
    else:
        text = raw.astype("str").where(raw.notna())
        first = text.dropna().iloc[0] if text.notna().any() else ""
        if first != first.strip():
            text = text.str.strip()
        parsed = _from_strings(text, source, col, raw, rows, warn)
    if parsed.tz is None:
        parsed = _localize(parsed, timezone, source, rows)
    else:
        parsed = parsed.tz_convert("UTC")
    try:
        return parsed.as_unit("ns").rename("timestamp"), rows
    except (ValueError, pd.errors.OutOfBoundsDatetime) as exc:
        raise DataError(f"{source}: column {shown(col)} has timestamps outside 1677..2262: {_one_line(exc)}") from None


# --------------------------------------------------------------------------- validation


def _as_numbers(text: pd.Series, volume: bool) -> pd.Series:
    """Numbers of a text column: "1,234.50" where every value is grouped by thousands so (or plain),
    "$1,234.50" where every value starts with the same currency sign, and, in a volume column, "1.23M"
    where every value is a number with or without a K/M/B/T suffix.

    Decided per column, never per value: a column mixing "1,0716" with "1.07" stays text and is refused,
    so a European decimal comma is never read as a thousands separator.
    """
    filled = text.dropna().str.strip()
    filled = filled[filled != ""]
    sign = next((c for c in CURRENCY_SIGNS if len(filled) and filled.str.startswith(c).all()), None)
    if sign is not None:
        text, filled = text.str.strip().str.removeprefix(sign), filled.str.removeprefix(sign)
    if len(filled) and filled.str.fullmatch(_GROUPED_OR_PLAIN).all() and filled.str.contains(",").any():
        return pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
    if volume and len(filled) and filled.str.fullmatch(_SUFFIXED, case=False).all():
        parts = text.str.strip().str.extract(_SUFFIXED, flags=re.IGNORECASE)
        scale = parts[1].str.upper().map(VOLUME_SUFFIXES).fillna(1.0)
        return pd.to_numeric(parts[0], errors="coerce") * scale
    return pd.to_numeric(text, errors="coerce")


def _holds_no_number(col: pd.Series) -> bool:
    """A column none of whose values reads as a number: empty, or '-' throughout (investing.com's index volume)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return False
    if pd.api.types.is_numeric_dtype(col.dtype):
        return bool(col.isna().all())
    return bool(_as_numbers(col.astype("str").where(col.notna()), volume=True).isna().all())


def _numeric(df: pd.DataFrame, col: str, source: str, rows: _Rows, volume: bool = False) -> np.ndarray:
    raw = df[col]
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise DataError(f"{source}: column {shown(col)} holds booleans, not numbers")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text = raw.astype("str").where(raw.notna())
        values = _as_numbers(text, volume).to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy() & (text.str.strip() != "").to_numpy(bool))
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"{source}: column {shown(col)} has a non-numeric value {shown(str(raw.iloc[i]))} at {rows.at(i)}"
            )
    empty = np.flatnonzero(np.isnan(values))
    if len(empty):
        raise DataError(f"{source}: column {shown(col)} is empty at {rows.at(int(empty[0]))}")
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        i = int(infinite[0])
        raise DataError(f"{source}: column {shown(col)} has a non-finite value {_num(values[i])} at {rows.at(i)}")
    return values


def _without_priceless_rows(
    raw: pd.DataFrame, names: dict[str, str], ts_cols: list[str], warn: list[str]
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The rows that have any price, and their file row numbers (None: every row has one).

    A row whose open, high, low and close are all empty or null (Yahoo's holiday rows: "null" in
    every column) holds no bar; it is dropped with a warning. A row missing only some prices is kept,
    and refused further on.
    """
    priceless = raw[[names[key] for key in PRICE_COLUMNS]].isna().all(axis=1).to_numpy()
    if not priceless.any():
        return raw, None
    first = int(np.flatnonzero(priceless)[0])
    stamp = " ".join(str(raw[c].iloc[first]).strip() for c in ts_cols)
    n = int(priceless.sum())
    warn.append(
        f"{n} row{'s' if n > 1 else ''} with no price (every open, high, low and close empty or null) "
        f"dropped, the first at data row {first + 1} ({clipped(stamp)})"
    )
    numbers = np.flatnonzero(~priceless) + 1
    return raw.loc[~priceless].reset_index(drop=True), numbers


def _num(x: float) -> str:
    return repr(float(x))


def _newest_first(index: pd.DatetimeIndex) -> bool:
    """Every timestamp earlier than the one above it: a newest-first export, read backwards as a whole.

    Only a file ordered so throughout is reversed; any other disorder is refused by _check_order.
    """
    return len(index) > 1 and bool(np.all(np.diff(index.asi8) < 0))


def _check_order(index: pd.DatetimeIndex, source: str, rows: _Rows) -> None:
    ns = index.asi8
    step = np.diff(ns)
    bad = np.flatnonzero(step <= 0)
    if not len(bad):
        return
    i = int(bad[0]) + 1
    if step[i - 1] == 0:
        raise DataError(
            f"{source}: duplicate timestamp {rows.text(i)} at data rows {rows.num(i - 1)} and {rows.num(i)}"
        )
    raise DataError(
        f"{source}: timestamp {rows.text(i)} at data row {rows.num(i)} is earlier than {rows.text(i - 1)} "
        f"at data row {rows.num(i - 1)}; timestamps must increase (sort the file by time)"
    )


def _check_prices(v: dict[str, np.ndarray], names: dict[str, str], source: str, rows: _Rows) -> None:
    for key in PRICE_COLUMNS:
        bad = np.flatnonzero(v[key] <= 0)
        if len(bad):
            i = int(bad[0])
            raise DataError(
                f"{source}: column {shown(names[key])} has a non-positive price {_num(v[key][i])} at {rows.at(i)}; prices must be > 0"
            )
    top = np.maximum(v["open"], v["close"])
    bad = np.flatnonzero(v["high"] < top * (1.0 - OHLC_RTOL))
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{source}: high {_num(v['high'][i])} is below max(open, close) {_num(top[i])} at {rows.at(i)}; "
            "need high >= max(open, close)"
        )
    bottom = np.minimum(v["open"], v["close"])
    bad = np.flatnonzero(v["low"] > bottom * (1.0 + OHLC_RTOL))
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{source}: low {_num(v['low'][i])} is above min(open, close) {_num(bottom[i])} at {rows.at(i)}; "
            "need low <= min(open, close)"
        )
    bad = np.flatnonzero(v["volume"] < 0)
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{source}: column {shown(names['volume'])} has a negative volume {_num(v['volume'][i])} at {rows.at(i)}"
        )


def spacing_text(seconds: float) -> str:
    """A bar spacing as people write it, the same everywhere: 1d, 1h, 15min, 30s (the largest unit that divides it).

    pandas' freqstr wrote `h` for an hour and `24h` for a day, while predict wrote `1d`.
    """
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size and float(seconds) % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _freq_text(ns: float) -> str:
    return spacing_text(float(ns) / 1e9)


def index_info(index: pd.DatetimeIndex) -> dict[str, Any]:
    """bar_size (median spacing), gaps (spacings above it), first/last timestamp (ISO)."""
    info: dict[str, Any] = {
        "bars": len(index),
        "first_timestamp": index[0].isoformat() if len(index) else None,
        "last_timestamp": index[-1].isoformat() if len(index) else None,
        "bar_size": None,
        "gaps": 0,
    }
    if len(index) > 1:
        step = np.diff(index.as_unit("ns").asi8)  # nanoseconds whatever the index's unit
        median = float(np.median(step))
        info["bar_size"] = _freq_text(median)
        info["gaps"] = int((step > median).sum())
        info["largest_gap"] = _freq_text(float(step.max()))
    return info


# --------------------------------------------------------------------------- public


def load_ohlcv(path: str | Path, timestamp_column: str | None = None, timezone: str = "UTC") -> pd.DataFrame:
    """Read and validate an OHLCV CSV or Parquet file; see the module doc for the result.

    Naive timestamps are read in `timezone` and converted to UTC; timestamps with an offset
    and unix epochs are absolute already. A missing volume column becomes 0.0 with a
    warning in ``df.attrs["warnings"]``; ``df.attrs["info"]`` holds bar_size and gaps.
    """
    path = Path(path)
    source = str(path)
    _check_file(path)
    _check_timezone(timezone, source)
    warn: list[str] = []
    raw = _read_parquet(path) if data_extension(path) in PARQUET_EXTENSIONS else _read_csv(path, warn)
    if len(raw) == 0:
        raise DataError(f"{source}: no data rows (columns found: {_columns_found(raw)})")
    _check_one_symbol(raw, source)

    names: dict[str, str] = {}
    for key in PRICE_COLUMNS:
        col = _find(raw, ALIASES[key])
        if col is None:
            raise DataError(
                f"{source}: missing required column {key!r} (columns found: {_columns_found(raw)}); "
                f"accepted names: {', '.join(ALIASES[key])}"
            )
        names[key] = col
    ts_cols = _timestamp_columns(raw, source, timestamp_column)
    raw, numbers = _without_priceless_rows(raw, names, ts_cols, warn)
    if len(raw) == 0:
        raise DataError(f"{source}: no data row has a price (every open, high, low and close is empty or null)")
    index, rows = _parse_timestamps(raw, ts_cols, timezone, source, warn, numbers)

    values = {key: _numeric(raw, names[key], source, rows) for key in PRICE_COLUMNS}
    volume_col = _volume_column(raw, warn)
    if volume_col is not None and _holds_no_number(raw[volume_col]):
        warn.append(f"column {shown(volume_col)} holds no number (only placeholders such as '-'); volume set to 0.0")
        values["volume"] = np.zeros(len(raw))
        names["volume"] = volume_col
    elif volume_col is None:
        warn.append("no volume column; volume set to 0.0")
        values["volume"] = np.zeros(len(raw))
        names["volume"] = "volume"
    else:
        values["volume"] = _numeric(raw, volume_col, source, rows, volume=True)
        names["volume"] = volume_col
    _check_prices(values, names, source, rows)  # before any reordering: its row numbers are the file's
    if _newest_first(index):
        index, values = index[::-1], {key: v[::-1].copy() for key, v in values.items()}
        warn.append(f"the rows are newest first; read them oldest first ({len(index)} bars)")
    _check_order(index, source, rows)

    df = pd.DataFrame({key: values[key] for key in COLUMNS}, index=index)
    info = index_info(df.index)
    info.update(
        source=source, symbol=symbol_of(path), timestamp_column="+".join(map(str, ts_cols)), volume_column=volume_col
    )
    df.attrs["info"] = info
    df.attrs["warnings"] = [f"{source}: {w}" for w in warn]
    return df


def load_data(cfg: OptimizationConfig) -> pd.DataFrame | list[pd.DataFrame]:
    """The bars of a run: `cfg.data.path`, or the synthetic generator when it is null.

    One file (a plain path, or a list/folder/glob that names one file) gives one frame, as
    always; several give one frame per file in symbol order (data/sources.py), each named by
    ``df.attrs["info"]["symbol"]``.
    """
    d = cfg.data
    if d.path is None:
        s = d.synthetic
        return synthetic_ohlcv(s.n_bars, s.seed if s.seed is not None else cfg.seed, start=s.start, freq=s.freq)
    if isinstance(d.path, str) and not Path(d.path).expanduser().is_dir() and not is_pattern(d.path):
        return load_ohlcv(d.path, d.timestamp_column, d.timezone)  # today's single file, its errors included
    paths = expand_data_paths(d.path)
    frames = []
    for path in paths:
        frame = load_ohlcv(path, d.timestamp_column, d.timezone)
        if len(paths) > 1 and len(frame) < 2:  # refused now, not after loading thousands more files
            raise DataError(
                f"symbol {symbol_of(path)} has fewer than 2 bars: its bar spacing is unknown; drop the file"
            )
        frames.append(frame)
    return frames[0] if len(frames) == 1 else frames
