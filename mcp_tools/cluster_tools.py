"""The tools of the cluster: the workers that execute runs, and draining one."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Annotated

from pydantic import Field

from core.cluster.registry import WorkerInfo, WorkerList, Workers
from core.errors import InvalidInput
from core.runtime import Runtime
from mcp_tools.registry import ToolKit

NAME = Annotated[str, Field(description="the worker's name, as list_workers shows it")]


def _workers(rt: Runtime) -> Workers:
    if rt.cluster is None:
        raise InvalidInput("there are no workers: runs execute in gluon serve; set "
                           "cluster.redis_url to dispatch runs to `gluon worker` processes")
    return rt.cluster.workers


def answering(rt: Runtime) -> AbstractContextManager[None]:
    """Redis not answering, or refusing the credentials, as one line naming the setting."""
    from core.cluster import link  # redis: the `gluon[cluster]` extra

    return link.answering(rt.config.cluster)


def register(kit: ToolKit, rt: Runtime) -> None:
    @kit.tool(read_only=True)
    async def list_workers() -> WorkerList:
        """The workers that execute runs (`gluon worker` processes on other hosts), by name:
        each one's Gluon version, host, pid, how many runs it takes at once and which it
        executes now, the projects it serves, its load, its last heartbeat, and whether it
        drains or is stale (not heard from for three heartbeats: down or cut off). Use it to
        answer "which workers are up?"."""
        workers = _workers(rt)
        with answering(rt):
            return WorkerList(workers=await workers.list())

    @kit.tool(admin=True, idempotent=True)
    async def drain_worker(name: NAME) -> WorkerInfo:
        """Let a worker finish the runs it executes and take no new ones (to stop or update
        it without interrupting anything). Reversible with undrain_worker."""
        workers = _workers(rt)
        with answering(rt):
            return await workers.drain(name)

    @kit.tool(admin=True, idempotent=True)
    async def undrain_worker(name: NAME) -> WorkerInfo:
        """Let a draining worker take new runs again."""
        workers = _workers(rt)
        with answering(rt):
            return await workers.undrain(name)
