"""The durable job queue (DESIGN §8): a protocol, its SQLite and Redis Streams backends.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from core.jobs.backoff import RetryPolicy as RetryPolicy
    from core.jobs.connect import open_job_queue as open_job_queue
    from core.jobs.queue import JobQueue as JobQueue
    from core.jobs.sqlite import SqliteJobQueue as SqliteJobQueue
    from core.jobs.types import Clock as Clock
    from core.jobs.types import Job as Job
    from core.jobs.types import JobId as JobId
    from core.jobs.types import JobState as JobState
    from core.jobs.types import Json as Json
    from core.jobs.types import Lease as Lease
    from core.jobs.types import LeaseLost as LeaseLost
    from core.jobs.types import QueueUnavailable as QueueUnavailable
    from core.jobs.types import SystemClock as SystemClock

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "RetryPolicy": "backoff",
    "open_job_queue": "connect",
    "JobQueue": "queue",
    "SqliteJobQueue": "sqlite",
    "Clock": "types",
    "Job": "types",
    "JobId": "types",
    "JobState": "types",
    "Json": "types",
    "Lease": "types",
    "LeaseLost": "types",
    "QueueUnavailable": "types",
    "SystemClock": "types",
})
