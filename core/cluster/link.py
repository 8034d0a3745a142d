"""The link to the cluster's Redis: a client made from ``[cluster]``, and one actionable line
when Redis does not answer or refuses the credentials."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, AuthorizationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.config import ClusterConfig
from core.errors import UserError
from core.jobs.redis_streams import connect, redact


class ClusterUnavailable(UserError):
    """The cluster's Redis does not answer, or refuses Gluon's credentials."""


def client(cluster: ClusterConfig, *, socket_timeout: float = 10,
           decode: bool = True) -> aioredis.Redis:
    """A client of ``cluster.redis_url``, with ``cluster.username``/``password`` when set;
    answering str, or bytes without ``decode`` (for session transcripts)."""
    assert cluster.redis_url, "no cluster.redis_url"
    password = cluster.password.get_secret_value() if cluster.password else None
    return connect(cluster.redis_url, username=cluster.username, password=password,
                   socket_timeout=socket_timeout, decode=decode)


def where(cluster: ClusterConfig) -> str:
    """The Redis as messages name it: the URL with any password masked."""
    return redact(cluster.redis_url or "")


@contextmanager
def answering(cluster: ClusterConfig) -> Iterator[None]:
    """Turn Redis' connection and authentication errors into one ClusterUnavailable line
    naming ``cluster.redis_url``."""
    try:
        yield
    except (AuthenticationError, AuthorizationError) as exc:
        raise ClusterUnavailable(
            f"the Redis at cluster.redis_url {where(cluster)!r} refused Gluon's credentials "
            f"({_first_line(exc)}); set the password in the URL or cluster.password "
            "(GLUON_CLUSTER_PASSWORD), and cluster.username for an ACL user") from None
    except ResponseError as exc:
        if "NOAUTH" not in str(exc) and "WRONGPASS" not in str(exc):
            raise
        raise ClusterUnavailable(
            f"the Redis at cluster.redis_url {where(cluster)!r} needs a password "
            f"({_first_line(exc)}); set it in the URL or cluster.password "
            "(GLUON_CLUSTER_PASSWORD)") from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise ClusterUnavailable(
            f"the Redis at cluster.redis_url {where(cluster)!r} does not answer "
            f"({_first_line(exc)}); start it or correct cluster.redis_url") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# Typed forms of the few Redis calls the cluster makes (the client answers str: see `connect`).
Fields = dict[str, str]
Entries = list[tuple[str, Fields]]


async def xadd(redis: aioredis.Redis, stream: str, fields: Fields) -> str:
    return str(await redis.xadd(stream, cast(Any, fields)))


async def xrange(redis: aioredis.Redis, stream: str, start: str = "-",
                 count: int | None = None) -> Entries:
    return _rows(await redis.xrange(stream, min=start, count=count))


async def xread(redis: aioredis.Redis, stream: str, after: str, *, block_ms: int,
                count: int = 100) -> Entries:
    """The entries of ``stream`` after id ``after``, waiting up to ``block_ms`` for one."""
    got = await redis.xread({stream: after}, count=count, block=block_ms)
    return _entries(got)


async def xreadgroup(redis: aioredis.Redis, group: str, consumer: str, stream: str,
                     after: str, *, block_ms: int | None, count: int = 100) -> Entries:
    """Entries for ``consumer``: new ones (``after`` = ">"), or its pending ones ("0")."""
    got = await redis.xreadgroup(group, consumer, {stream: after}, count=count, block=block_ms)
    return _entries(got)


def _entries(got: Any) -> Entries:
    # RESP2: [[stream, [(id, fields), ...]]]; RESP3: {stream: [[(id, fields), ...]]}.
    if isinstance(got, dict):
        rows = [row for value in got.values() for part in value for row in part]
    else:
        rows = [row for _, part in got or [] for row in part]
    return _rows(rows)


def _rows(rows: Any) -> Entries:
    return [(str(entry), {str(k): str(v) for k, v in (fields or {}).items()})
            for entry, fields in rows or []]


async def hgetall(redis: aioredis.Redis, key: str) -> Fields:
    return {str(k): str(v) for k, v in (await redis.hgetall(key)).items()}
