"""The composition root of Gluon's HTTP side: one Starlette app, served on one port.

Routes:

- ``/mcp``: every tool over streamable HTTP, behind the bearer token (``mcp_tools.http``);
- ``/health``: ``{"ok": true}`` to anyone (a liveness probe); with the bearer token also the
  pid, the version and the MCP sessions in use;
- ``/hooks/github`` and ``/hooks/<name>``: webhook deliveries (``bots.hooks``), when the app is
  given the process's :class:`~core.hooks.service.Webhooks`.
- ``/git/<project>.git/...``: the projects' repositories over git's smart HTTP for cluster
  workers (``bots.git_http``), when the app is given
  :class:`~core.cluster.transfer.served.ServedRepos`; it refuses everything unless
  ``[cluster] token`` is set.
- ``/``: the status page (``web.app``), when the process serves one (``gluon serve`` does),
  mounted last: every other path is the page's, which answers a visitor without a session
  with its sign-in page (401). Without a page, anything else is 404.

The app's lifespan runs what its routes need while it serves (the MCP session manager, the
page's reader of the event log); the daemon's other tasks are owned by its supervisor
(``bots.supervisor``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from importlib.metadata import version

from mcp.server import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bots.git_http import git_routes
from bots.hooks import hook_routes
from core.cluster.transfer.served import ServedRepos
from core.config import Config
from core.hooks.service import Webhooks
from mcp_tools.http import McpEndpoint, server_token
from web.app import StatusPage


def build_app(config: Config, server: MCPServer, page: StatusPage | None = None, *,
              hooks: Webhooks | None = None, repos: ServedRepos | None = None) -> Starlette:
    """The app of a Gluon process that serves the data dir (``gluon serve``, or a command's
    own Gluon that lets other commands reach it); ``page``: the status page at ``/`` (see
    :func:`bots.web.status_page`)."""
    mcp = McpEndpoint(server, server_token(config), config.server.host,
                      config.server.hostnames, max_sessions=config.server.max_sessions,
                      session_idle_timeout=config.server.session_idle_timeout_seconds)

    async def health(request: Request) -> Response:
        if not mcp.authorized(request.headers.get("authorization")):
            return JSONResponse({"ok": True})
        return JSONResponse({"ok": True, "pid": os.getpid(), "version": version("gluon"),
                             **mcp.status()})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.running(), page.running() if page else contextlib.nullcontext():
            yield

    routes: list[BaseRoute] = [Route("/health", health), *mcp.routes]
    if hooks is not None:
        routes += hook_routes(hooks)
    if repos is not None:
        routes += git_routes(repos)
    if page is not None:
        routes.append(Mount("", app=page.app))
    return Starlette(routes=routes, lifespan=lifespan)
