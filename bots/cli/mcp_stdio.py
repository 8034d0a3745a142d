"""``gluon mcp``: Gluon's tools over stdio, for Claude Code, Claude Desktop or any MCP client.

When the daemon runs, it relays every request to it over HTTP. Otherwise it serves the tools
of a runtime it starts for as long as the client keeps it open (and which other ``gluon``
commands can then reach too).
"""

from __future__ import annotations

from typing import Any

from mcp import types
from mcp.server import Server

from bots.cli.client import connect
from core.config import Config
from mcp_tools.stdio import stdio_streams


async def serve_stdio(config: Config) -> int:
    async with connect(config, actor="mcp") as tc:
        if tc.server is not None:
            # This process owns the runtime: serve its tools themselves, no relay hop (the
            # same server answers the other commands over HTTP meanwhile).
            await tc.serve()
            await tc.server.run_stdio_async()
            return 0
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
        async with stdio_streams() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    return 0
