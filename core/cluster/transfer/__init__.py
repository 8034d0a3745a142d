"""A run's code and its agent's session between hosts: the project's source, a worker's cache
and worktree, its pushes (checked before anything is stored when they come over smart HTTP),
the coordinator's repositories served to workers, and the session transcript and the steers it
may not hold yet, through Redis.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.cluster.transfer.code import BranchMoved as BranchMoved
    from core.cluster.transfer.code import Checkout as Checkout
    from core.cluster.transfer.code import SourceUnreachable as SourceUnreachable
    from core.cluster.transfer.code import WorkerCode as WorkerCode
    from core.cluster.transfer.code import receive as receive
    from core.cluster.transfer.served import ServedRepos as ServedRepos
    from core.cluster.transfer.session_ship import Restored as Restored
    from core.cluster.transfer.source import Source as Source
    from core.cluster.transfer.source import coordinator_source as coordinator_source
    from core.cluster.transfer.source import source_for as source_for

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
