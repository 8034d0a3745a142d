"""Runs on other hosts (``gluon worker``), shown by the coordinator as if they ran in ``gluon
serve`` (DESIGN §3, §8): dispatching, the relay of what happens on a worker, the commands to
it, leases and fencing, the workers' registry. A run's code moves through git (its source, the
worker's cache and worktree, the coordinator's repository) and its agent's session transcript
through Redis.

The leaf vocabulary (:mod:`~core.cluster.keys`, :mod:`~core.cluster.wire`) and what both sides
use (the link to Redis, leases, the workers' registry, doctor's checks) live here; the rest is
in three sub-packages: :mod:`core.cluster.transfer` (a run's code and its agent's session
between hosts), :mod:`core.cluster.on_coordinator` (``gluon serve``'s side: dispatching,
reading the relay, deciding what follows a turn) and :mod:`core.cluster.on_worker` (``gluon
worker``'s side: taking runs and relaying them).

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
    "BranchMoved": "transfer.code",
    "Checkout": "transfer.code",
    "SourceUnreachable": "transfer.code",
    "WorkerCode": "transfer.code",
    "receive": "transfer.code",
    "ServedRepos": "transfer.served",
    "Restored": "transfer.session_ship",
    "Source": "transfer.source",
    "coordinator_source": "transfer.source",
    "source_for": "transfer.source",
})
