"""Who may see the page, checked once for every private route.

Everything behind :class:`Guard` needs a signed-in session (the ``gluon_session`` cookie); a
stranger gets the sign-in page with 401 and nothing else. A request that may change something
(any method but GET and HEAD) must also carry the session's CSRF token, as the form field
``csrf`` or the header ``X-CSRF-Token``; without it, or with a wrong one, it is refused with
403 before any handler runs, so nothing changes. The form is read here (url-encoded, at most
``MAX_BODY`` bytes) and handed on with the request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from core.access.web import SignedIn, WebAccess
from web.render import page

COOKIE = "gluon_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_BODY = 1_000_000
_SIGNED = "gluon.signed"
_FORM = "gluon.form"
SAFE_METHODS = ("GET", "HEAD")
RECHECK_SECONDS = 30.0

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Form:
    """The fields of a url-encoded form (a name may repeat)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.pairs if k == name), default)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def flag(self, name: str) -> bool:
        return self.get(name) in ("1", "true", "on", "yes")


def signed_in(request: Request) -> SignedIn:
    """The session of a request that passed the guard."""
    signed: SignedIn = request.scope[_SIGNED]
    return signed


def form_of(request: Request) -> Form:
    """The form posted with a request that passed the guard (empty for GET)."""
    form: Form = request.scope.get(_FORM) or Form([])
    return form


def stranger(request: Request, said: str = "") -> Response:
    """The answer to anyone without a session: the sign-in page, 401, nothing else."""
    if "text/event-stream" in request.headers.get("accept", ""):
        return PlainTextResponse("sign in first", 401)
    return page("signin.html", 401, mode="stranger", said=said, me=None)


class SessionCheck:
    """Whether the session of a long request (a live stream) still holds: signed out,
    revoked or no longer allowed in ends the stream. Asked at most every ``every`` seconds."""

    def __init__(self, web: WebAccess, request: Request,
                 every: float = RECHECK_SECONDS) -> None:
        self.web = web
        self.cookie = request.cookies.get(COOKIE)
        self.every = every
        self.checked = time.monotonic()

    async def holds(self) -> bool:
        if time.monotonic() - self.checked < self.every:
            return True
        self.checked = time.monotonic()
        return await self.web.session(self.cookie) is not None


class Guard:
    """ASGI middleware in front of the private routes (see the module's docstring)."""

    def __init__(self, app: ASGIApp, web: WebAccess) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        signed = await self.web.session(request.cookies.get(COOKIE))
        if signed is None:
            await stranger(request)(scope, receive, send)
            return
        scope[_SIGNED] = signed
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except _Gone:
            return
        if body is None:
            await PlainTextResponse(f"the request is over {MAX_BODY} bytes", 413)(
                scope, receive, send)
            return
        form = Form([])
        if request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            form = Form(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        token = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD) or None
        if not signed.csrf_ok(token):
            await page("error.html", 403, me=signed.session, csrf=signed.csrf,
                       title="Refused", said="This form is out of date or did not come from "
                       "this page (its CSRF token is missing or wrong); nothing was changed. "
                       "Reload the page and try again.")(scope, receive, send)
            return
        scope[_FORM] = form
        replayed = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class _Gone(Exception):
    """The client left before its request's body arrived."""


async def _read_body(receive: Receive) -> bytes | None:
    """The request's body; None when it is over ``MAX_BODY``."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            return None
        if not message.get("more_body", False):
            return bytes(body)


# Sent with every response of the page: nothing but Gluon's own origin may be reached or
# embed it, and no address (a sign-in link's token) leaks through a Referer header.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
     b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in SECURITY_HEADERS if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
