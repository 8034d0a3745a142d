"""The MCP server: every Gluon tool over one runtime."""

from __future__ import annotations

from mcp.server import MCPServer

from core.runtime import Runtime
from mcp_tools import project_tools, review_tools, run_tools
from mcp_tools.registry import ToolKit

INSTRUCTIONS = (
    "Gluon runs Claude Code agents on registered git projects, each in its own worktree. "
    "Start work with run_start, watch it with run_show/run_logs/run_wait, steer or stop it, "
    "answer its questions with answer, and merge finished work with run_merge.")


def build_server(rt: Runtime) -> tuple[MCPServer, ToolKit]:
    server = MCPServer("gluon", instructions=INSTRUCTIONS, log_level="WARNING")
    kit = ToolKit(server, rt.activity)
    project_tools.register(kit, rt)
    run_tools.register(kit, rt)
    review_tools.register(kit, rt)
    return server, kit
