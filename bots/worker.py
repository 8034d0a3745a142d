"""``gluon worker``: executes runs that a ``gluon serve`` elsewhere dispatches through the
cluster's Redis (see :mod:`core.cluster.on_worker.worker`).

It has its own data dir (``GLUON_HOME``) and configuration: ``[cluster] redis_url`` (and
``username``/``password``), ``[worker] name``, ``max_runs`` and ``projects``, and the agents'
credentials from its own environment. SIGINT or SIGTERM stops it within seconds: its agents
stop, their work is pushed and their runs are handed over to other workers.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket

from core.cluster.on_worker.replica import Replica, worker_config
from core.cluster.on_worker.worker import Worker
from core.config import WORKER_NAME, Config
from core.errors import ConfigError


def worker_name(config: Config, given: str | None) -> str:
    """The worker's name: ``--name``, else ``worker.name``, else the host's name."""
    name = given or config.worker.name
    if name is None:
        name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64].lstrip("._-")
    if not re.fullmatch(WORKER_NAME, name or ""):
        raise ConfigError(f"worker name {name!r} is not valid: use 1 to 64 letters, digits, "
                          "'.', '_' or '-', starting with a letter or digit (--name, or "
                          "worker.name)")
    return name


async def work(config: Config, name: str | None = None) -> int:
    """Run the worker until SIGINT or SIGTERM; 0 after a clean stop."""
    if not config.cluster.redis_url:
        raise ConfigError("gluon worker needs cluster.redis_url (GLUON_CLUSTER_REDIS_URL): "
                          "the Redis through which gluon serve dispatches runs")
    chosen = worker_name(config, name)
    config = worker_config(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    replica = await Replica(config).open()
    worker = Worker(config, replica, name=chosen)
    try:
        await worker.run(stop)
    finally:
        await worker.close()
        await replica.close()
    return 0
