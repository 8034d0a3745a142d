"""The durable job queue (DESIGN §8): a protocol, its SQLite and Redis Streams backends."""

from core.jobs.backoff import RetryPolicy
from core.jobs.connect import open_job_queue
from core.jobs.queue import JobQueue
from core.jobs.sqlite import SqliteJobQueue
from core.jobs.types import (
    Clock,
    Job,
    JobId,
    JobState,
    Json,
    Lease,
    LeaseLost,
    QueueUnavailable,
    SystemClock,
)

__all__ = ["Clock", "Job", "JobId", "JobQueue", "JobState", "Json", "Lease", "LeaseLost",
           "QueueUnavailable", "RetryPolicy", "SqliteJobQueue", "SystemClock", "open_job_queue"]
