"""The configs an HTTP request may name: the YAML files in the server's configs directory, by bare name.

A request never names a path. Letting it name one made the server read (and, through its
error messages, echo) any file it could read, and probe whether any path exists. The
shelf lists the directory on each request, so configs added while the server runs count.
A file on the shelf that is a symlink resolving outside it is not on the shelf.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hyperopt_cli.server.paths import resolves_inside

CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ConfigShelf:
    """The directory of configs a request may pick from (absolute, fixed when the server starts)."""

    folder: Path

    def names(self) -> list[str]:
        """The file names a request may give (with or without the suffix), sorted."""
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        return sorted(
            e.name
            for e in entries
            if e.name.endswith(CONFIG_SUFFIXES)
            and not e.name.startswith(".")
            and e.is_file()
            and (not e.is_symlink() or resolves_inside(Path(e.path), self.folder))
        )

    def find(self, name: str) -> Path | None:
        """The config `name` stands for ("quick" or "quick.yaml"), or None when it is not on the shelf."""
        available = self.names()
        for candidate in (name, *(name + suffix for suffix in CONFIG_SUFFIXES)):
            if candidate in available:
                return self.folder / candidate
        return None
