"""The status page: one ASGI app for ``/`` of ``gluon serve``'s HTTP app.

Public (no session): the sign-in pages (``/signin/<token>``), the page's CSS and script
(``/static/...``) and the app's manifest, service worker and offline page (``web.pwa``).
Everything else is behind :class:`web.guard.Guard`:

- ``GET /``: the board; ``GET /events``: its live updates (Server-Sent Events);
- ``GET /runs/<id>``: a run; ``GET /runs/<id>/events``: its live log; ``GET
  /runs/<id>/files/<path>``: a file of its work (``web.files``);
- ``POST /runs/<id>/<action>``: steer, interrupt, resume, cancel, merge, pr;
- ``POST /answer/<request id>``: answer a question or permission request;
- ``POST /signout``.

The page reads core's services directly and acts only through :class:`web.actions.Actions`
(the tools). :meth:`StatusPage.running` is for the serving app's lifespan: the one reader of
the event log that every open board waits on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from core.access.answers import why_not_answer
from core.access.web import WebSession
from core.errors import Conflict, NotFound, UserError
from core.models import Run
from core.runtime import Runtime
from web import acting, board, files, pwa, runs, signin
from web.actions import Actions
from web.feed import Feed
from web.guard import ASGIApp, Guard, SecurityHeaders
from web.views import private_page

STATIC = Path(__file__).parent / "static"


class StatusPage:
    def __init__(self, runtime: Runtime, actions: Actions) -> None:
        self.runtime = runtime
        self.actions = actions
        self.feed = Feed(runtime.events)

        async def find(request: Request, wanted: str) -> Run | Response:
            return await runs.find_run(request, runtime, wanted)

        async def may_answer(who: WebSession, request_id: str) -> str | None:
            interaction = await runtime.runs.interactions.get(request_id)
            run = await runtime.runs.get(interaction.run_id)
            return why_not_answer(runtime.config, who.actor, who.role, run)

        async def sign_out(request: Request) -> Response:
            return await signin.sign_out(request, runtime.web)

        private: list[BaseRoute] = [
            *board.routes(runtime, self.feed), *runs.routes(runtime), *files.routes(runtime),
            *acting.routes(runtime.web, actions, find, may_answer),
            Route("/signout", sign_out, methods=["POST"])]
        inner = Starlette(routes=private, middleware=[Middleware(Guard, web=runtime.web)],
                          exception_handlers={HTTPException: _http_error,
                                              UserError: _user_error})
        public: list[BaseRoute] = [
            *pwa.routes, Mount("/static", StaticFiles(directory=STATIC), name="static"),
            *signin.routes(runtime.web), Mount("", app=inner)]
        self.app: ASGIApp = SecurityHeaders(Starlette(routes=public))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.feed.run(), name="status-page-feed")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    said = "There is no such page." if exc.status_code == 404 else str(exc.detail)
    return private_page(request, "error.html", exc.status_code, title="Not here", said=said)


async def _user_error(request: Request, exc: Exception) -> Response:
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
    return private_page(request, "error.html", status, title="Not possible", said=str(exc))
