"""Tables and lines that fit a terminal's width without cutting a cell or splitting a number.

Rich, given a table wider than the screen, shrinks columns: a number becomes `1.09…`, a
word `comp…`, a folded cell `lear/ning/_rat/e=0.` one fragment a line. Here a table is
laid out before rich sees it instead. Each column has a drop rank; while the table does not
fit, the column ranked to go first goes (the caller shows what it held elsewhere, e.g. as a
line under the table). Columns of numbers and names are never narrower than their widest
cell; a prose column (params, a verdict) wraps at spaces and is never narrower than its
longest word. So every line fits, and no number is ever split.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from hyperopt_cli.core.quote import printable


@dataclass(frozen=True)
class Col:
    """A column of `fit_table`: `drop` 0 is never dropped, higher ranks go first; `prose` wraps at spaces."""

    name: str
    justify: str = "left"
    prose: bool = False
    drop: int = 0
    least: int = 0  # a prose column narrower than this is no use (a verdict one word a line): drop it instead


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for line in text.splitlines() for word in line.split()), default=0)


def _widths(cols: Sequence[Col], rows: Sequence[Sequence[Any]], keep: Sequence[int], width: int) -> list[int] | None:
    """Each kept column's width, or None when they cannot fit `width` without splitting a word."""
    overhead = 3 * len(keep) + 1  # the default box: a border and one space of padding either side
    natural, least = [], []
    for i in keep:
        cells = [cols[i].name] + [_plain(row[i]) for row in rows]
        longest = max(cell_len(line) for cell in cells for line in (cell.splitlines() or [""]))
        natural.append(longest)
        least.append(
            min(longest, max(cols[i].least, max(_longest_word(c) for c in cells))) if cols[i].prose else longest
        )
    spare = width - overhead - sum(least)
    if spare < 0:
        return None
    out = list(least)
    for k, i in enumerate(keep):  # prose columns grow back towards their natural width, in order
        if cols[i].prose:
            grow = min(spare, natural[k] - least[k])
            out[k] += grow
            spare -= grow
    return out


def fit_table(
    cols: Sequence[Col], rows: Sequence[Sequence[Any]], width: int, title: str | None = None
) -> tuple[Table, list[str]]:
    """A rich Table of `rows` that fits `width`, and the names of the columns dropped to make it fit."""
    keep = list(range(len(cols)))
    order = sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: -cols[i].drop)
    widths = _widths(cols, rows, keep, width)
    dropped: list[str] = []
    while widths is None and order:
        gone = order.pop(0)
        keep.remove(gone)
        dropped.append(cols[gone].name)
        widths = _widths(cols, rows, keep, width)
    table = Table(title=title)
    for k, i in enumerate(keep):
        col = cols[i]
        fixed = None if widths is None else widths[k]
        table.add_column(
            col.name,
            justify=col.justify,  # type: ignore[arg-type]
            no_wrap=not col.prose,
            overflow="fold",
            width=fixed,
            min_width=fixed,
        )
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table, dropped


def flow(pieces: Sequence[str], width: int, sep: str = "  ") -> list[str]:
    """Pieces joined by `sep` into lines of at most `width`, a line breaking only between pieces."""
    lines: list[str] = []
    line = ""
    for piece in (p for p in pieces if p):
        candidate = f"{line}{sep}{piece}" if line else piece
        if line and cell_len(candidate) > width:
            lines.append(line)
            line = piece
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def fit_path(path: str, width: int) -> str:
    """A path that fits `width`: whole, else `…` and its last characters (the job id stays whole)."""
    if cell_len(path) <= width or width < 8:
        return path
    return "…" + path[-(width - 1) :]


class EscapingConsole(Console):
    """A console that never writes a control character it did not put there itself.

    Text reaches the terminal with its control characters escaped (core/quote.py `printable`):
    rich's own cursor moves and colours are control segments or styles and pass untouched; a
    newline inside a value has already become a line break by then, so names print through
    `printable` where they are composed.
    """

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text, keep="\n\t"), segment.style)
            for segment in buffer
        )
