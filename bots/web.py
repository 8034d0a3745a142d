"""The status page's actions, made through the process's MCP server as chat makes them.

A press on the page becomes one tool call by the signed-in person: a :class:`Caller` with
their actor and role now, bound through ``tools.callers`` and named in the call's ``_meta``,
exactly as the chat orchestrator calls tools, so the roles, the confirmation of destructive
tools and the audit log apply (the audit says it came from ``web``). A destructive tool
called without the person's confirmation is held by the tool layer: nothing happens and the
page is given its preview to confirm.
"""

from __future__ import annotations

from typing import Any

from mcp import Client
from mcp.types import RequestParamsMeta

from core.access.web import WebSession
from core.runtime import Runtime
from mcp_tools.callers import CALLER_META
from mcp_tools.registry import Caller, PendingAction, tool_error
from mcp_tools.server import Tools
from web.actions import ActionResult
from web.app import StatusPage

WHERE = "web"


class ToolActions:
    """:class:`web.actions.Actions` over the process's tools."""

    def __init__(self, tools: Tools) -> None:
        self.tools = tools

    async def call(self, tool: str, arguments: dict[str, Any], who: WebSession, *,
                   confirmed: bool = False) -> ActionResult:
        held: list[str] = []

        async def confirm(action: PendingAction) -> str:
            held.append(action.preview)
            return f"Not done yet: waits for {who.name} to confirm; it would {action.preview}."

        caller = Caller(who.actor, who.role, confirm=confirm, confirmed=confirmed,
                        where=WHERE)
        with self.tools.callers.bound(caller) as key:
            # In-process, the client dispatches straight to the server: entering it is cheap.
            async with Client(self.tools.server) as client:
                result = await client.call_tool(tool, arguments, meta=RequestParamsMeta(
                    **{CALLER_META: key}))  # type: ignore[misc]
        if held:
            return ActionResult(False, held[0], held_preview=held[0])
        if result.is_error:
            return ActionResult(False, tool_error(result))
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        return ActionResult(True, text, dict(result.structured_content or {}))


def status_page(runtime: Runtime, tools: Tools) -> StatusPage:
    """The status page of this process, acting through ``tools``."""
    return StatusPage(runtime, ToolActions(tools))
