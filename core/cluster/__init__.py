"""Runs on other hosts (``gluon worker``), shown by the coordinator as if they ran in ``gluon
serve`` (DESIGN §3, §8): dispatching, the relay of what happens on a worker, the commands to
it, leases and fencing, the workers' registry. A run's code moves through git (its source, the
worker's cache and worktree, the coordinator's repository) and its agent's session transcript
through Redis.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.cluster.code import BranchMoved as BranchMoved
    from core.cluster.code import Checkout as Checkout
    from core.cluster.code import SourceUnreachable as SourceUnreachable
    from core.cluster.code import WorkerCode as WorkerCode
    from core.cluster.code import receive as receive
    from core.cluster.served import ServedRepos as ServedRepos
    from core.cluster.session_ship import Restored as Restored
    from core.cluster.source import Source as Source
    from core.cluster.source import coordinator_source as coordinator_source
    from core.cluster.source import source_for as source_for

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "BranchMoved": "code",
    "Checkout": "code",
    "SourceUnreachable": "code",
    "WorkerCode": "code",
    "receive": "code",
    "ServedRepos": "served",
    "Restored": "session_ship",
    "Source": "source",
    "coordinator_source": "source",
    "source_for": "source",
})
