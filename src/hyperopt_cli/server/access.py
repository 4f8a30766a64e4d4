"""Who may use the server: the token `serve` requires, and the sessions the page's cookie names.

By default `serve` makes a random token and prints the page's `/?token=...` URL once, as
Jupyter does: on a shared machine every local user can reach a loopback port, and the
API can stop, resume and start runs as the user who runs the server. `--no-token` turns
that off, on loopback only. A token given by the user (`--token`, HYPEROPT_TOKEN,
`--token-file`) must be at least MIN_TOKEN_CHARS long, and a token file must be private.

The page trades the token for a session: a random value of its own in the cookie, valid for
SESSION_MAX_AGE_S, that the server maps back to "authenticated". The token itself never
goes into a cookie: cookies ignore ports, so every other service on 127.0.0.1 would get it.
docs/server.md says who can reach what.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hyperopt_cli.core.errors import EXIT_USAGE, ConfigError, HyperoptError

TOKEN_ENV = "HYPEROPT_TOKEN"
MIN_TOKEN_CHARS = 16  # a user's token; shorter ones are guessable over a loopback socket in minutes
GENERATED_TOKEN_BYTES = 24  # 32 URL-safe characters, as `secrets` recommends for tokens
MAX_TOKEN_FILE_BYTES = 4096
LOOPBACK_NAMES = ("localhost",)
SESSION_MAX_AGE_S = 24 * 3600  # a page left open for a day asks for the token URL again
MAX_SESSIONS = 1000  # only token holders make sessions; the oldest go first past this


class ServeRefused(HyperoptError):
    """`serve` options that contradict each other or would expose the API (exit 2, a usage error)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Access:
    """The token the server requires (None: none, `--no-token`), and whether `serve` made it up."""

    token: str | None
    generated: bool = False


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_error(host: str, token: str | None) -> str | None:
    """Why serving on `host` is refused, or None: any address but loopback needs a token."""
    if is_loopback(host) or token:
        return None
    return f"--host {host} is not a loopback address; set --token or {TOKEN_ENV} to serve on it"


def check_token(token: str, source: str) -> str:
    """`token` if it is long enough to resist guessing; ConfigError naming `source` otherwise."""
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the token from {source} has {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    return token


def read_token_file(path: Path) -> str:
    """The token in the first line of `path` (so it never appears on a command line).

    The file must be readable by its owner only: a token others can read protects nothing.
    """
    try:
        info = path.stat()
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise ConfigError(
                f"the token file {path} is open to other users (mode {stat.S_IMODE(info.st_mode):03o}); "
                f"make it private: chmod 600 {path}"
            )
        token = path.read_text(encoding="utf-8").splitlines()[0].strip() if info.st_size < MAX_TOKEN_FILE_BYTES else ""
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise ConfigError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or 'empty'}") from None
    if not token:
        raise ConfigError(f"the token file {path} holds no token on its first line (or is over 4 KiB)")
    return check_token(token, f"the token file {path}")


def resolve_access(host: str, token: str | None, token_file: Path | None, no_token: bool) -> Access:
    """The token `serve` will require: the user's, a new random one, or none (`--no-token`, loopback only)."""
    if no_token and (token is not None or token_file is not None):
        raise ServeRefused(f"--no-token contradicts --token-file/--token/{TOKEN_ENV}; give one of them")
    if token_file is not None:
        return Access(read_token_file(token_file))
    if token is not None:
        return Access(check_token(token, f"--token or {TOKEN_ENV}"))
    refused = bind_error(host, None)
    if refused is not None:
        raise ServeRefused(refused)
    return Access(None) if no_token else Access(secrets.token_urlsafe(GENERATED_TOKEN_BYTES), generated=True)


def same_secret(given: str | None, secret: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


class Sessions:
    """The page sessions of this server process: random ids, each valid for `max_age_s` (in memory only)."""

    def __init__(self, max_age_s: float = SESSION_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def new(self) -> str:
        session = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._expiry = {s: t for s, t in self._expiry.items() if t > now}
            while len(self._expiry) >= MAX_SESSIONS:
                del self._expiry[next(iter(self._expiry))]  # dicts keep insertion order: the oldest
            self._expiry[session] = now + self.max_age_s
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        with self._lock:
            expiry = self._expiry.get(session)
        return expiry is not None and expiry > time.monotonic()
