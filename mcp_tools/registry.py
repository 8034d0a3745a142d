"""How a Gluon operation becomes an MCP tool: annotations, error mapping and the audit trail,
written once for every tool."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from core.activity import ActivityLog
from core.errors import UserError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Who is calling: "cli", "mcp", or a chat user ("telegram:1234"). Set by each surface.
current_actor: ContextVar[str] = ContextVar("current_actor", default="mcp")

ERROR_PREFIX = "Error executing tool "


def error_text(text: str) -> str:
    """The user-facing part of an MCP tool error ("Error executing tool x: <this>")."""
    if text.startswith(ERROR_PREFIX) and ": " in text:
        return text.split(": ", 1)[1]
    return text


class ToolKit:
    """Registers tools on one MCPServer; each tool is a small typed async function."""

    def __init__(self, server: MCPServer, activity: ActivityLog) -> None:
        self.server = server
        self.activity = activity
        self.names: list[str] = []
        self.destructive: set[str] = set()
        self.read_only: set[str] = set()

    def tool(self, *, read_only: bool = False, destructive: bool = False,
             idempotent: bool = False
             ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        def register(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            name = fn.__name__

            @functools.wraps(fn)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                try:
                    result = await fn(*args, **kwargs)
                except UserError as exc:
                    if not read_only:
                        await self._audit(name, kwargs, f"refused: {exc}")
                    raise ToolError(str(exc)) from exc
                if not read_only:
                    await self._audit(name, kwargs, "ok")
                return result

            annotations = ToolAnnotations(read_only_hint=read_only,
                                          destructive_hint=destructive,
                                          idempotent_hint=idempotent or read_only,
                                          open_world_hint=False)
            self.server.tool(name=name, description=inspect.cleandoc(fn.__doc__ or ""),
                             annotations=annotations, structured_output=True)(wrapper)
            self.names.append(name)
            if destructive:
                self.destructive.add(name)
            if read_only:
                self.read_only.add(name)
            return wrapper

        return register

    async def _audit(self, name: str, arguments: dict[str, Any], outcome: str) -> None:
        shown = {k: (v if len(str(v)) < 200 else str(v)[:200] + "...")
                 for k, v in arguments.items()}
        try:
            await self.activity.record(current_actor.get(), f"tool.{name}", str(shown),
                                       outcome[:500])
        except Exception:
            log.exception("could not write the audit entry for %s", name)
