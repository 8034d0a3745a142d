"""The cluster as ``gluon worker`` runs it: claiming runs under its own limit, executing each
over a replica of it in the worker's own data dir, relaying what happens back and applying the
commands sent to it.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.cluster.on_worker.relay import CommandInbox as CommandInbox
    from core.cluster.on_worker.relay import RunRelay as RunRelay
    from core.cluster.on_worker.replica import Replica as Replica
    from core.cluster.on_worker.replica import worker_config as worker_config
    from core.cluster.on_worker.worker import Worker as Worker

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "CommandInbox": "relay",
    "RunRelay": "relay",
    "Replica": "replica",
    "worker_config": "replica",
    "Worker": "worker",
})
