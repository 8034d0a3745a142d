"""A worker process that claims the job waiting in the queue, prints it, then holds the lease
without renewing it until it is killed:

    python -m tests.core.jobs.worker_proc sqlite|redis TARGET LEASE_SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from core.jobs import JobQueue, SqliteJobQueue
from core.jobs.redis_streams import RedisJobQueue


async def main(backend: str, target: str, lease_seconds: float) -> None:
    queue: JobQueue
    if backend == "sqlite":
        queue = await SqliteJobQueue.open_file(Path(target))
    else:
        queue = await RedisJobQueue(target).open()
    lease = await queue.claim("doomed", lease_seconds=lease_seconds)
    if lease is None:
        sys.exit("no job to claim")
    print(json.dumps({"job": lease.job_id, "token": lease.token}), flush=True)
    await asyncio.Event().wait()  # working, until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
