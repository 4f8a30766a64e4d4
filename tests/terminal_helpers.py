"""Run `hyperopt` in a real pseudo-terminal of a given width, as a person at an 80- or 120-column terminal would."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from cli_helpers import env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def in_terminal(*args: str | Path, columns: int, cwd: Path, timeout: float = 300) -> tuple[int, str]:
    """(exit code, what the terminal showed, escape codes removed) of `hyperopt ARGS` on a pty `columns` wide."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperopt_cli", *map(str, args)],
        cwd=cwd,
        env={**env(), "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm-256color"},
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=30)
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n")


def screen_lines(text: str) -> list[str]:
    """Every line the terminal drew (a carriage return starts a line over)."""
    return [segment for line in text.split("\n") for segment in line.split("\r")]


NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])")
# Pieces of a number split over two lines: `.03]` starting one, `+0` / `1.` ending one (a line or a cell).
FRAGMENT = re.compile(r"(?<![\w.])\.\d+|\d\.(?=\s*(?:│|$))|(?<![\w.])[-+]\d+(?=\s*(?:│|$))")


def assert_fits(text: str, columns: int) -> None:
    """No line wider than the terminal, and no number cut in two (`+0` / `.03]`, `1.09…`)."""
    lines = screen_lines(text)
    too_wide = [line for line in lines if len(line.rstrip()) > columns]
    assert not too_wide, f"{len(too_wide)} lines wider than {columns}: {too_wide[:3]}"
    for line in lines:
        assert not FRAGMENT.search(line), f"a number cut in two: {line!r}"
        assert not re.search(r"\d…|…\d", line), f"a number cut short: {line!r}"
