"""The one rule for every file the server lists or serves: it must resolve inside its own folder.

A symlink in the runs folder, a run folder or the configs folder can point anywhere the
server's user can read (another user's runs, /etc/shadow). Following it would list, serve
or echo that file to whoever holds the token, so the server treats such an entry as absent.
A symlink that stays inside its folder is fine.
"""

from __future__ import annotations

from pathlib import Path


def resolves_inside(path: Path, folder: Path) -> bool:
    """Whether `path`, with every symlink followed, lies under `folder` (also resolved)."""
    try:
        target = path.resolve(strict=False)
        root = folder.resolve(strict=False)
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return root in target.parents
