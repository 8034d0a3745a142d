"""The one line a page shows after an action: what was done, or why not.

An action answers with a redirect (so reloading the page does not post it again) and leaves
its line in a short-lived cookie, which the next page shows once and clears.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

NOTICE = "gluon_notice"
MAX_CHARS = 600


@dataclass(frozen=True)
class Notice:
    text: str
    ok: bool


def redirect(to: str, text: str, ok: bool, secure: bool) -> RedirectResponse:
    """See other page ``to``, which will say ``text``."""
    response = RedirectResponse(safe_path(to), 303)
    flag = "ok" if ok else "no"
    response.set_cookie(NOTICE, quote(f"{flag}:{text[:MAX_CHARS]}"), max_age=120, path="/",
                        secure=secure, httponly=True, samesite="strict")
    return response


def take(request: Request) -> Notice | None:
    """The notice left for this page, if any (clear it with :func:`cleared`)."""
    raw = request.cookies.get(NOTICE)
    if not raw:
        return None
    flag, _, text = unquote(raw).partition(":")
    return Notice(text[:MAX_CHARS], flag == "ok")


def cleared(response: Response, request: Request) -> Response:
    if NOTICE in request.cookies:
        response.delete_cookie(NOTICE, path="/")
    return response


def safe_path(to: str) -> str:
    """A path on this site to go back to; anything else (another host) becomes "/"."""
    # Browsers drop tabs and line breaks from an address and read "\\" as "/": "/\t/x" and
    # "/\\x" would leave the site.
    if (not to.startswith("/") or to.startswith("//") or "\\" in to
            or any(c <= " " for c in to)):
        return "/"
    return to
