"""Tools for the autonomous loop (a loop is started with start_run(loop=true))."""

from __future__ import annotations

from core.loops.types import LoopStatus
from core.runtime import Runtime
from mcp_tools.params import RunRef
from mcp_tools.registry import ToolKit


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def get_loop_status(run: RunRef) -> LoopStatus:
        """Where a looping run is (one started with start_run(loop=true)): its iteration and
        limit, its circuit breaker (closed; half_open = one more iteration without a file
        change, commit or new error stops it; open = it stopped the loop), what the loop has
        cost against its cap, and why it ended, if it did."""
        return await rt.loops.status(run)
