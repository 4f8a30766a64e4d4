"""How error messages quote a value they got: repr, on one line, at most QUOTE_CHARS long.

A message names the value it refuses, but a value can be a 5 MB string, a 200k-column
header or a YAML alias bomb: quoting it whole makes a multi-megabyte `Error:` line (or
exhausts memory). Every message that shows input quotes it through `shown`.
"""

from __future__ import annotations

import reprlib
from typing import Any

QUOTE_CHARS = 80  # longest quoted value in a message; longer ones end in "..."

_repr = reprlib.Repr()
_repr.maxstring = QUOTE_CHARS
_repr.maxother = QUOTE_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxlevel = 3


def shown(value: Any) -> str:
    """`repr(value)`, cut to about QUOTE_CHARS characters, without ever building the full repr."""
    text = _repr.repr(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 3] + "..."


def clipped(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` (already formatted) cut to `limit` characters, on one line."""
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text: str, keep: str = "") -> str:
    """`text` with every control character but those in `keep` written as its escape (ESC as \\x1b).

    A file or run name can hold ESC sequences or newlines; printed raw they recolour, move or
    clear the user's terminal, or forge a line of output.
    """
    return "".join(ch if ch in keep or not _is_control(ch) else ascii(ch)[1:-1] for ch in text)


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0
