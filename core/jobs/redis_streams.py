"""The cluster job queue: Redis Streams with a consumer group (``[cluster] redis_url``).

Design (the keys are listed in :mod:`core.jobs.redis_scripts`):

- **Priorities: one stream per priority.** Ready jobs are stream entries, so the consumer
  group gives first-in-first-out order and the pending-entries list (PEL) tracks who holds
  what; a claim scans the priorities in use from the highest. A sorted set would have to
  re-implement both.
- **Not yet due (``not_before``, retries): a sorted set by due time.** Each claim first moves
  the jobs that came due to the back of their stream, so a delayed job lines up when it
  becomes ready.
- **Leases: the PEL's idle time plus a lease key.** A claim sets ``P:lease:<id>`` to the
  fencing token with the lease as its expiry (``PX``); a renew extends it and resets the
  entry's idle time (``XCLAIM ... JUSTID`` to itself). A claim takes over entries idle for
  at least its own lease length with ``XAUTOCLAIM`` and hands back any whose lease key still
  lives (its holder took a longer lease). Use one lease length per queue: an entry whose
  holder took a shorter lease than the claimer's is taken over only after the longer one.
- **Fencing: the job's ``token``, incremented (``HINCRBY``) by every claim.** Renew, ack and
  fail compare it in the same script as their change; a stale token changes nothing.
- **Idempotency keys: ``SET P:key:<key> <id> NX``** in the enqueue script.
- **Dead letters:** the job keeps state ``dead`` and its error, and the ``P:dead`` stream
  records each death in order.

Every operation is one Lua script, so it is atomic however many workers share the Redis.
Durability is Redis': run it with ``appendonly yes`` and ``maxmemory-policy noeviction``.
A Redis that does not answer makes every call raise :class:`QueueUnavailable`, naming
``cluster.redis_url`` (with any password masked).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import NotFound
from core.jobs import redis_scripts
from core.jobs.backoff import RetryPolicy
from core.jobs.payload import (
    check_key,
    check_kind,
    check_lease_seconds,
    check_priority,
    check_time,
    check_worker,
    clip_error,
    decode_payload,
    encode_payload,
)
from core.jobs.redis_connection import connection_class
from core.jobs.types import (
    Clock,
    Job,
    JobId,
    JobState,
    Json,
    Lease,
    QueueUnavailable,
    SystemClock,
    lease_lost,
    new_job_id,
    not_waiting,
)

GROUP = "workers"


def redact(url: str) -> str:
    """The URL with any user, password or password parameter masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = urlencode([(k, "***" if k in ("password", "username") else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def connect(url: str, *, username: str | None = None, password: str | None = None,
            socket_timeout: float = 10, decode: bool = True) -> aioredis.Redis:
    """A client of the Redis at ``url`` (``rediss://`` talks TLS), answering str (bytes
    without ``decode``); it fails within seconds when Redis is away, rather than retrying for
    long."""
    auth: dict[str, Any] = {}
    if username:
        auth["username"] = username
    if password:
        auth["password"] = password
    client: aioredis.Redis = aioredis.Redis.from_url(
        url, decode_responses=decode, socket_connect_timeout=5, socket_timeout=socket_timeout,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2), **connection_class(url),
        **auth)
    return client


class RedisJobQueue:
    """:class:`core.jobs.queue.JobQueue` over Redis Streams (see the module's docstring)."""

    def __init__(self, url: str, *, prefix: str = "gluon:jobs", clock: Clock | None = None,
                 policy: RetryPolicy | None = None, username: str | None = None,
                 password: str | None = None) -> None:
        """``username``/``password``: Redis' ACL user and password, when not in the URL."""
        self.url = url
        self.prefix = prefix
        self.clock: Clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self.redis: aioredis.Redis = connect(url, username=username, password=password)
        self._scripts = {name: self.redis.register_script(getattr(redis_scripts, name))
                         for name in ("ENQUEUE", "CLAIM", "RENEW", "ACK", "FAIL", "RELEASE",
                                      "EXPIRE", "REPRIORITIZE")}

    async def open(self) -> RedisJobQueue:
        """Check that Redis answers (QueueUnavailable if not)."""
        await self.ping()
        return self

    async def ping(self) -> None:
        with self._answering():
            await self.redis.ping()

    @contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise QueueUnavailable(
                f"the job queue's Redis at cluster.redis_url {redact(self.url)!r} does not "
                f"answer ({reason}); start it or correct cluster.redis_url") from None

    async def _run(self, script: str, *args: str | int) -> Any:
        with self._answering():
            return await self._scripts[script](args=[self.prefix, GROUP, *args])

    async def enqueue(self, kind: str, payload: Mapping[str, Json], *, key: str | None = None,
                      not_before: float | None = None, priority: int = 0) -> JobId:
        text = encode_payload(payload)
        check_kind(kind)
        check_priority(priority)
        now = self.clock.now()
        ready_at = check_time("not_before", not_before)
        job_id = await self._run("ENQUEUE", new_job_id(), kind, text, check_key(key) or "",
                                 priority, repr(now), repr(now if ready_at is None else ready_at))
        return JobId(str(job_id))

    async def claim(self, worker: str, *, lease_seconds: float) -> Lease | None:
        seconds = check_lease_seconds(lease_seconds)
        now = self.clock.now()
        got = await self._run("CLAIM", check_worker(worker), repr(now), _ms(seconds),
                              repr(now + seconds), self.policy.max_tries)
        if not got:
            return None
        job_id, token, tries, kind, payload, priority = got
        return Lease(job_id=JobId(job_id), kind=kind, payload=decode_payload(payload),
                     token=int(token), tries=int(tries), leased_until=now + seconds,
                     lease_seconds=seconds, worker=worker, priority=int(priority))

    async def renew(self, lease: Lease, *, lease_seconds: float | None = None) -> Lease:
        seconds = check_lease_seconds(lease.lease_seconds if lease_seconds is None
                                      else lease_seconds)
        now = self.clock.now()
        if not await self._run("RENEW", lease.job_id, lease.token, repr(now), _ms(seconds),
                               repr(now + seconds)):
            raise lease_lost(lease, "renew", await self._job(lease.job_id))
        return Lease(job_id=lease.job_id, kind=lease.kind, payload=lease.payload,
                     token=lease.token, tries=lease.tries, leased_until=now + seconds,
                     lease_seconds=seconds, worker=lease.worker, priority=lease.priority)

    async def reprioritize(self, job_id: JobId, priority: int) -> Job:
        check_priority(priority)
        outcome = await self._run("REPRIORITIZE", job_id, priority, repr(self.clock.now()))
        job = await self.get(job_id)  # NotFound when there is none
        if outcome not in ("moved", "same"):
            raise not_waiting(job)
        return job

    async def ack(self, lease: Lease) -> None:
        if not await self._run("ACK", lease.job_id, lease.token, repr(self.clock.now())):
            raise lease_lost(lease, "ack", await self._job(lease.job_id))

    async def fail(self, lease: Lease, error: str, retry_at: float | None = None) -> JobState:
        now = self.clock.now()
        dead = self.policy.gives_up(lease.tries)
        at = check_time("retry_at", retry_at)
        ready_at = now + self.policy.delay(lease.tries) if at is None else at
        if not await self._run("FAIL", lease.job_id, lease.token, repr(now), clip_error(error),
                               "1" if dead else "0", repr(ready_at)):
            raise lease_lost(lease, "fail", await self._job(lease.job_id))
        return JobState.DEAD if dead else JobState.QUEUED

    async def release(self, lease: Lease) -> None:
        if not await self._run("RELEASE", lease.job_id, lease.token, repr(self.clock.now())):
            raise lease_lost(lease, "release", await self._job(lease.job_id))

    async def expire(self, worker_prefix: str) -> int:
        return int(await self._run("EXPIRE", check_worker(worker_prefix),
                                   repr(self.clock.now())))

    async def get(self, job_id: JobId) -> Job:
        job = await self._job(job_id)
        if job is None:
            raise NotFound(f"no job with id {job_id!r}")
        return job

    async def list(self, *, state: JobState | None = None, kind: str | None = None,
                   limit: int = 100) -> builtins.list[Job]:
        index = f"{self.prefix}:state:{state}" if state is not None else f"{self.prefix}:all"
        found: builtins.list[Job] = []
        start, page = 0, max(limit, 100)
        while len(found) < limit:
            with self._answering():
                ids = cast(builtins.list[str],
                           await self.redis.zrevrange(index, start, start + page - 1))
            if not ids:
                break
            found += [job for job in await self._jobs(ids) if kind is None or job.kind == kind]
            start += page
        return found[:max(0, limit)]

    async def dead_letters(self, limit: int = 100) -> builtins.list[Job]:
        if limit <= 0:
            return []
        with self._answering():
            entries = await self.redis.xrevrange(f"{self.prefix}:dead", count=limit)
        return await self._jobs([str(fields["job"]) for _, fields in entries or [] if fields])

    async def close(self) -> None:
        await self.redis.aclose()

    async def _job(self, job_id: str) -> Job | None:
        found = await self._jobs([job_id])
        return found[0] if found else None

    async def _jobs(self, ids: builtins.list[str]) -> builtins.list[Job]:
        with self._answering():
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hgetall(f"{self.prefix}:job:{job_id}")
                rows = await pipe.execute()
        return [_job(JobId(job_id), row) for job_id, row in zip(ids, rows, strict=True) if row]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _job(job_id: JobId, h: dict[str, str]) -> Job:
    return Job(id=job_id, kind=h["kind"], payload=decode_payload(h["payload"]),
               key=h["key"] or None, priority=int(h["priority"]), state=JobState(h["state"]),
               tries=int(h["tries"]), not_before=float(h["ready_at"]),
               leased_until=float(h["leased_until"]) if h.get("leased_until") else None,
               worker=h.get("worker") or None, error=h.get("error") or None,
               enqueued_at=float(h["enqueued_at"]), updated_at=float(h["updated_at"]))
