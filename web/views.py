"""Rendering a page for the signed-in person: who they are, their CSRF token for the page's
forms, and the notice an action left for this page."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from web import notices
from web.guard import signed_in
from web.render import render


def private_page(request: Request, name: str, status: int = 200,
                 **context: Any) -> HTMLResponse:
    signed = signed_in(request)
    response = HTMLResponse(render(name, me=signed.session, csrf=signed.csrf,
                                   notice=notices.take(request), now=time.time(),
                                   **context), status)
    response.headers["cache-control"] = "no-store"
    notices.cleared(response, request)
    return response


def fragment(request: Request, name: str, **context: Any) -> str:
    """A part of one person's page for its live update (a run's head, its open requests)."""
    signed = signed_in(request)
    return render(name, me=signed.session, csrf=signed.csrf, now=time.time(), **context)


def shared_fragment(name: str, **context: Any) -> str:
    """A part of a page made once for everyone who sees it: its forms' CSRF token is left
    empty for the page's script to fill in from the page."""
    return render(name, me=None, csrf="", now=time.time(), **context)
