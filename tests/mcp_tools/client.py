"""Calling the tools in tests: a real MCP client over JSON-RPC, in the test's own task."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcp import Client

from core.runtime import Runtime
from mcp_tools.server import build_server


@contextlib.asynccontextmanager
async def connected(runtime: Runtime) -> AsyncIterator[Client]:
    """An MCP client on the JSON-RPC path. (Not a fixture: the client's task group must be
    entered and left in the test's own task.)"""
    server, _ = build_server(runtime)
    async with Client(server, mode="legacy") as c:
        yield c


async def call(client: Client, tool: str, /, **arguments: Any) -> dict[str, Any]:
    """The structured result of a call that must succeed."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


async def error(client: Client, tool: str, /, **arguments: Any) -> str:
    """The one-line message of a call that must fail."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    assert "\n" not in text
    return text
