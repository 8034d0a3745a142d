"""``gluon serve``: the daemon that owns the runs, the HTTP MCP endpoint (and later the chats)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from core.config import Config
from core.runtime import Runtime
from mcp_tools.http import HttpEndpoint
from mcp_tools.server import build_server

log = logging.getLogger(__name__)


HOUSEKEEPING_EVERY = 6 * 3600.0


async def _housekeeping(runtime: Runtime) -> None:
    """Remove worktrees of runs that ended longer ago than the retention period, now and then."""
    while True:
        try:
            removed = await runtime.review.cleanup()
            if removed:
                log.info("removed %d old worktrees (their branches stay)", len(removed))
        except Exception:
            log.exception("worktree cleanup failed")
        await asyncio.sleep(HOUSEKEEPING_EVERY)


async def serve(config: Config) -> int:
    runtime = Runtime(config)
    await runtime.open(resume_interrupted=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    endpoint: HttpEndpoint | None = None
    housekeeping = asyncio.create_task(_housekeeping(runtime), name="gluon-housekeeping")
    try:
        server, kit = build_server(runtime)
        endpoint = HttpEndpoint(config, server)
        url = await endpoint.start()
        log.info("Gluon is serving %d tools at %s (data dir %s)", len(kit.names), url,
                 config.home)
        await stop.wait()
        log.info("shutting down; live runs will be resumed at the next start")
    finally:
        housekeeping.cancel()
        with contextlib.suppress(BaseException):
            await housekeeping
        if endpoint is not None:
            await endpoint.stop()
        await runtime.close()
    return 0
