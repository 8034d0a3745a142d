"""The cluster as ``gluon serve`` (the coordinator) runs it: dispatching each admitted run to
the workers and watching it there, forwarding its commands, reading the relay into the
database, deciding what follows a turn a worker handed back, and each run's place in the
cluster (its table in ``gluon.db``).

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.cluster.on_coordinator.coordinator import Cluster as Cluster
    from core.cluster.on_coordinator.dispatch import Dispatcher as Dispatcher
    from core.cluster.on_coordinator.follow import FollowThrough as FollowThrough
    from core.cluster.on_coordinator.ingest import RelayIngest as RelayIngest
    from core.cluster.on_coordinator.store import ClusterStore as ClusterStore

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "Cluster": "coordinator",
    "Dispatcher": "dispatch",
    "FollowThrough": "follow",
    "RelayIngest": "ingest",
    "ClusterStore": "store",
})
