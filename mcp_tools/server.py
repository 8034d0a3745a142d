"""The MCP server: every Gluon tool over one runtime, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version

from core.runtime import Runtime
from mcp_tools import (
    access_tools,
    attention_tools,
    cluster_tools,
    event_tools,
    file_tools,
    formula_tools,
    gate_tools,
    git_tools,
    hook_tools,
    loop_tools,
    merge_tools,
    project_tools,
    queue_tools,
    review_tools,
    run_tools,
    schedule_tools,
    system_tools,
    web_tools,
    witness_tools,
)
from mcp_tools.callers import Callers
from mcp_tools.registry import CallerResolver, GluonServer, ToolKit, resolve_default

INSTRUCTIONS = (
    "Gluon runs Claude Code agents on registered git projects, each in its own worktree. "
    "Start work with start_run, watch it with get_run/get_run_logs/wait_for_run, steer or "
    "stop it, get a file of its work with get_run_file, answer its questions with "
    "answer_question or decide_permission, and merge "
    "finished work through the merge queue with enqueue_merge (list_merge_queue shows it), "
    "or at once with merge_run.")


@dataclass(frozen=True)
class Tools:
    """The process's one MCP server, its tool kit, and the callers that in-process surfaces
    register for their calls (see :mod:`mcp_tools.callers`)."""

    server: GluonServer
    kit: ToolKit
    callers: Callers


def build_server(rt: Runtime, resolve: CallerResolver = resolve_default
                 ) -> tuple[GluonServer, ToolKit]:
    """A server with every tool; ``resolve`` says who each call comes from (default: the
    process's own caller, an admin)."""
    server = GluonServer("gluon", instructions=INSTRUCTIONS, log_level="WARNING",
                         version=version("gluon"))
    kit = ToolKit(server, rt.activity, resolve)
    project_tools.register(kit, rt)
    run_tools.register(kit, rt)
    queue_tools.register(kit, rt)
    schedule_tools.register(kit, rt)
    formula_tools.register(kit, rt)
    event_tools.register(kit, rt)
    review_tools.register(kit, rt)
    merge_tools.register(kit, rt)
    git_tools.register(kit, rt)
    file_tools.register(kit, rt)
    system_tools.register(kit, rt)
    access_tools.register(kit, rt)
    attention_tools.register(kit, rt)
    web_tools.register(kit, rt)
    hook_tools.register(kit, rt)
    loop_tools.register(kit, rt)
    gate_tools.register(kit, rt)
    cluster_tools.register(kit, rt)
    witness_tools.register(kit, rt)
    return server, kit


def build_tools(rt: Runtime) -> Tools:
    """The server a process builds once and shares between ``/mcp`` and its chat
    orchestrators: a call says who makes it through :class:`Callers`."""
    callers = Callers()
    server, kit = build_server(rt, resolve=callers.resolve)
    return Tools(server, kit, callers)
