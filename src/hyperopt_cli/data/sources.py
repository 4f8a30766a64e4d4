"""Which files a `data.path` names: one file, a list, a folder or a glob; one file is one symbol.

`expand_data_paths` turns the spec into absolute file paths in symbol order; `symbol_of`
names the symbol a file holds (its stem). Reading the files is data/load.py's job.
"""

from __future__ import annotations

import glob
from pathlib import Path

from hyperopt_cli.core.errors import DataError

# Files a glob contributes: every extension data/load.py reads (the pattern already says which).
# Spelled out here because load.py imports this module; a test keeps the two in step.
GLOB_EXTENSIONS: tuple[str, ...] = (
    ".csv", ".txt", ".tsv", ".csv.gz", ".txt.gz", ".tsv.gz", ".zip", ".parquet", ".pq",
)  # fmt: skip
# Files a folder contributes: .txt is left out because folders of data often hold notes too.
FOLDER_EXTENSIONS: tuple[str, ...] = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".zip", ".parquet", ".pq")
_GLOB_CHARS = ("*", "?", "[")


def data_extension(path: str | Path) -> str:
    """A data file's extension, lower case, with its compression: `.csv`, `.csv.gz`, `.zip` ('' for none)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def symbol_of(path: str | Path) -> str:
    """The symbol a data file holds: its file name without the extension (`data/EURUSD.csv.gz` -> EURUSD)."""
    name, ext = Path(path).name, data_extension(path)
    return name[: len(name) - len(ext)] if ext and len(name) > len(ext) else Path(path).stem


def is_pattern(entry: str) -> bool:
    """True when `entry` is a glob pattern rather than a file or folder name."""
    return any(char in entry for char in _GLOB_CHARS)


def _absolute(entry: str, base: Path | None) -> Path:
    path = Path(entry).expanduser()
    if path.is_absolute():
        return path
    return ((base if base is not None else Path.cwd()) / path).resolve()


def _data_files(paths: list[Path], extensions: tuple[str, ...]) -> list[Path]:
    return [p for p in paths if p.is_file() and data_extension(p) in extensions and not p.name.startswith(".")]


def _expand_entry(entry: str, base: Path | None) -> list[Path]:
    path = _absolute(entry, base)
    if path.is_dir():
        found = _data_files(sorted(path.iterdir()), FOLDER_EXTENSIONS)
        if not found:
            raise DataError(f"{path}: folder holds no data file (looked for {', '.join(FOLDER_EXTENSIONS)})")
        return found
    if path.exists() or not is_pattern(entry):
        if not path.exists():
            raise DataError(f"{path}: file not found")
        return [path]  # a file with another extension is the loader's to refuse, with its own message
    found = _data_files([Path(p) for p in sorted(glob.glob(str(path), recursive=True))], GLOB_EXTENSIONS)
    if not found:
        raise DataError(f"{path}: pattern matches no data file (looked for {', '.join(GLOB_EXTENSIONS)})")
    return found


def expand_data_paths(spec: str | list[str], base: Path | None = None) -> list[Path]:
    """The data files `spec` names, absolute, deduplicated, sorted by symbol.

    Each entry is a file, a folder (its data files, not recursive) or a glob; a relative
    entry is read from `base` (default: the current directory). Raises DataError when an
    entry names nothing, a folder holds no data file, or two files give the same symbol.
    """
    entries = [spec] if isinstance(spec, str) else list(spec)
    if not entries:
        raise DataError("data.path is an empty list; name at least one file, folder or pattern")
    files: dict[Path, Path] = {}  # resolved path -> the path as found, first seen
    for entry in entries:
        for path in _expand_entry(entry, base):
            files.setdefault(path.resolve(), path)
    by_symbol: dict[str, Path] = {}
    for path in sorted(files.values(), key=lambda p: (symbol_of(p), str(p))):
        symbol = symbol_of(path)
        if symbol in by_symbol:
            raise DataError(
                f"two files give symbol {symbol}: {by_symbol[symbol]} and {path}; "
                "rename one (each file's name is its symbol)"
            )
        by_symbol[symbol] = path
    return list(by_symbol.values())


def frozen_data_path(spec: str | list[str], base: Path | None = None) -> str | list[str]:
    """`spec` as a run's frozen config.yaml stores it: absolute, and never a folder or a glob.

    A plain file name stays one absolute string, checked later by the loader as always. A
    folder, a glob or a list becomes the absolute files it names now (one file: a string), so
    a resumed run or a worker reads these files and not whatever the folder holds by then.
    """
    if isinstance(spec, str) and not is_pattern(spec) and not _absolute(spec, base).is_dir():
        return str(_absolute(spec, base))
    files = [str(path) for path in expand_data_paths(spec, base)]
    return files[0] if len(files) == 1 else files
