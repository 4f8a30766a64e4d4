"""What the server refuses before a request reaches an endpoint, and the headers every answer carries.

In the order a request meets them:
- a body over MAX_BODY_BYTES: 413, counted as it streams (a lying Content-Length cannot pass);
- a Host header the server does not answer to (DNS rebinding): 400, Starlette's TrustedHostMiddleware;
- a POST a browser page of another site could send: 403 (see `cross_site_reason`) or 415;
- with a token: a request without it (Authorization: Bearer, or the session cookie the page got): 401.

The page takes `?token=` once, answers with a new session (access.py) in an HttpOnly
SameSite=Strict cookie with a Max-Age, and redirects to the clean URL, so the token stays out
of history, bookmarks and Referer, and out of the cookie jar that every port of the host
shares. The API never reads a token from the URL.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hyperopt_cli.core.quote import QUOTE_CHARS, clipped, shown
from hyperopt_cli.server.access import SESSION_MAX_AGE_S, Sessions, same_secret

MAX_BODY_BYTES = 64 * 1024  # the largest request is a start of a few hundred bytes
SESSION_COOKIE = "hyperopt_session"  # + "_<port>": two servers on one host keep their own sessions
UNAUTHORIZED = (
    "missing or wrong token: send Authorization: Bearer <token>, or open the page at the "
    f"/?token=... URL `hyperopt serve` printed (a page session lasts {SESSION_MAX_AGE_S // 3600} h)"
)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SAME_SITE_FETCH = ("same-origin", "none")  # Sec-Fetch-Site of the page itself, or of a typed URL/CLI
BASE_HEADERS = {
    "X-Frame-Options": "DENY",  # no page of another site can frame the buttons (clickjacking)
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413 without being read whole.

    The body (at most `limit` bytes, so cheap to hold) is read here first and replayed to
    the app: a refusal never has to travel up through the app as an exception, which
    FastAPI would turn into a 400.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app sees the disconnect
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"request body larger than {self.limit} bytes"
        await JSONResponse({"detail": detail}, status_code=413, headers=BASE_HEADERS)(scope, receive, send)


def cross_site_reason(request: Request) -> str | None:
    """Why a POST looks sent by a page of another site (None: it does not); answered 403.

    A browser sends Origin (and Sec-Fetch-Site) with every POST; `null` is what a sandboxed
    frame, a file: page or a redirect sends, so it is foreign too. A request with neither
    header is not from a modern browser page (curl, requests, the original client); the
    content-type rule below still covers old browsers, whose cross-site forms always carry one.
    """
    origin = request.headers.get("origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc != request.headers.get("host")):
        return f"cross-origin request from {shown(origin)} refused"
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in SAME_SITE_FETCH:
        return f"cross-site request ({shown(fetch_site)}) refused"
    return None


def content_type_reason(request: Request) -> str | None:
    """Why a POST's body type is refused (None: fine); answered 415.

    JSON only: a page of another site can send text/plain or a form without asking, but
    not application/json. A POST without a body (the original client's stop and resume)
    needs no content type.
    """
    kind = request.headers.get("content-type")
    if kind is None:
        has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        return "a POST with a body must be Content-Type: application/json" if has_body else None
    if kind.split(";", 1)[0].strip().lower() != "application/json":
        return f"Content-Type must be application/json, got {shown(kind)}"
    return None


def session_cookie(request: Request) -> str:
    """The cookie name of the server the request reached (cookies ignore ports; the name does not)."""
    port = request.url.port
    return f"{SESSION_COOKIE}_{port}" if port else SESSION_COOKIE


def _authenticated(request: Request, token: str, sessions: Sessions) -> bool:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return same_secret(auth[len("bearer ") :].strip(), token)
    return sessions.valid(request.cookies.get(session_cookie(request)))


def _session_redirect(request: Request, sessions: Sessions) -> Response:
    """GET /?token=T: a new session into a cookie, then the same page without the token in the URL."""
    clean = request.url.remove_query_params("token")
    response = RedirectResponse(
        clean.path + (f"?{clean.query}" if clean.query else ""), status_code=303, headers=BASE_HEADERS
    )
    response.set_cookie(
        session_cookie(request),
        sessions.new(),
        max_age=int(sessions.max_age_s),
        httponly=True,
        samesite="strict",
        path="/",
    )
    return response


def page_csp(page: str) -> str:
    """A Content-Security-Policy that runs exactly the page's inline scripts and styles, nothing else."""

    def sources(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        digests = [base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in blocks]
        return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"

    return (
        f"default-src 'none'; script-src {sources('script')}; style-src {sources('style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _shorten_input(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error with the input it quotes cut to QUOTE_CHARS (a 5 MB field is not echoed)."""
    out = dict(error)
    if "input" in out:
        value = out["input"]
        if isinstance(value, str):
            out["input"] = value if len(value) <= QUOTE_CHARS else value[: QUOTE_CHARS - 3] + "..."
        elif not isinstance(value, (int, float, bool, type(None))) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            out["input"] = shown(value)  # NaN, Infinity and 1e400 parse as floats that JSON cannot carry back
    out["msg"] = clipped(str(out.get("msg", "")), 300)
    if len(str(out.get("ctx", ""))) > 300:
        del out["ctx"]
    return out


def install_guards(app: FastAPI, token: str | None, allowed_hosts: list[str] | None) -> None:
    """The checks above, in the order the module doc lists them, and the validation-error answer."""
    sessions = Sessions()
    app.state.sessions = sessions

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if request.method not in SAFE_METHODS:
            reason = cross_site_reason(request)
            if reason is not None:
                return JSONResponse({"detail": reason}, status_code=403, headers=BASE_HEADERS)
            reason = content_type_reason(request)
            if reason is not None:
                return JSONResponse({"detail": reason}, status_code=415, headers=BASE_HEADERS)
        if token is not None:
            if request.url.path == "/" and request.method == "GET" and "token" in request.query_params:
                if same_secret(request.query_params.get("token"), token):
                    return _session_redirect(request, sessions)
            if not _authenticated(request, token, sessions):
                return JSONResponse(
                    {"detail": UNAUTHORIZED}, status_code=401, headers={**BASE_HEADERS, "WWW-Authenticate": "Bearer"}
                )
        response = await call_next(request)
        for name, value in BASE_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # Added after the guard, so it runs before it: a foreign Host is refused before anything else.
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_shorten_input(e) for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422, headers=BASE_HEADERS)
