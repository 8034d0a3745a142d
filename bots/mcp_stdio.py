"""``gluon mcp``: Gluon's tools over stdio, for Claude Code, Claude Desktop or any MCP client.

It relays every request to whoever owns the data dir: the daemon (over HTTP) when one runs,
otherwise a runtime this process starts for as long as the client keeps it open (and which
other ``gluon`` commands can then reach too).
"""

from __future__ import annotations

from typing import Any

from mcp import types
from mcp.server import Server
from mcp.server.stdio import stdio_server

from bots.client import connect
from core.config import Config


async def serve_stdio(config: Config) -> int:
    async with connect(config, actor="mcp") as tc:
        if not tc.remote:
            await tc.serve()
        client = tc.client

        async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None
                             ) -> types.ListToolsResult:
            return await client.list_tools(cursor=params.cursor if params else None)

        async def call_tool(ctx: Any, params: types.CallToolRequestParams
                            ) -> types.CallToolResult:
            return await client.call_tool(params.name, params.arguments or {})

        server: Server[Any] = Server(
            "gluon", instructions=client.instructions, on_list_tools=list_tools,
            on_call_tool=call_tool)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    return 0
