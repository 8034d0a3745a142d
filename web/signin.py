"""Signing in with a one-time link, and signing out.

``GET /signin/<token>`` only shows a "Sign in" button (a chat app's link preview fetches the
link and must not spend it) or says plainly why the link no longer works; the button's POST
spends the link, sets the session cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure``
behind https, lasting ``web.session_hours``) and goes to the board.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from core.access.web import WebAccess
from core.errors import InvalidInput
from web.guard import COOKIE, signed_in
from web.render import page

ASK_AGAIN = "Ask for a new one with /web in chat, or `gluon web-link` in a terminal."
WHY = {"used": ("This sign-in link was already used.", 410),
       "expired": ("This sign-in link has expired.", 410),
       "unknown": ("This is not a sign-in link.", 404)}


def routes(web: WebAccess) -> list[Route]:
    """The public routes of signing in."""

    async def show(request: Request) -> Response:
        token = request.path_params["token"]
        state = await web.link_state(token)
        if state != "valid":
            return _spent(state)
        return page("signin.html", mode="link", said="", me=None)

    async def spend(request: Request) -> Response:
        token = request.path_params["token"]
        state = await web.link_state(token)
        try:
            cookie, signed = await web.sign_in(token)
        except InvalidInput as exc:
            if state in WHY:
                return _spent(state)
            return page("signin.html", 403, mode="failed", said=str(exc), me=None)
        response = RedirectResponse("/", 303)
        response.set_cookie(COOKIE, cookie, max_age=int(web.config.session_hours * 3600),
                            path="/", secure=web.secure, httponly=True, samesite="strict")
        return response

    return [Route("/signin/{token}", show, methods=["GET"]),
            Route("/signin/{token}", spend, methods=["POST"])]


def _spent(state: str) -> Response:
    said, status = WHY.get(state, WHY["unknown"])
    return page("signin.html", status, mode="spent", said=f"{said} {ASK_AGAIN}", me=None)


async def sign_out(request: Request, web: WebAccess) -> Response:
    """``POST /signout`` (behind the guard, so with the CSRF token): this browser only."""
    signed_in(request)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await web.sign_out(cookie)
    response = page("signin.html", mode="signed_out", said="", me=None)
    response.delete_cookie(COOKIE, path="/", secure=web.secure, httponly=True,
                           samesite="strict")
    return response
