"""What ``gluon doctor`` says about the cluster: whether its Redis answers and accepts Gluon's
credentials, and each worker's version and heartbeat, one line each (stale ones flagged)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from redis.exceptions import RedisError, ResponseError

from core.cluster import keys
from core.cluster.link import where
from core.config import Config
from core.doctor import Check


def cluster_checks(config: Config, now: float | None = None) -> list[Check]:
    """The cluster's checks (blocking: a few Redis round trips)."""
    cluster = config.cluster
    if not cluster.redis_url:
        return []
    auth: dict[str, Any] = {}
    if cluster.username:
        auth["username"] = cluster.username
    if cluster.password:
        auth["password"] = cluster.password.get_secret_value()
    client = redis.Redis.from_url(cluster.redis_url, decode_responses=True,
                                  socket_connect_timeout=5, socket_timeout=5, **auth)
    try:
        try:
            client.ping()
            info: dict[str, str] = client.hgetall(keys.WORKERS)  # type: ignore[assignment]
            draining = set(client.smembers(keys.DRAINING))
        except ResponseError as exc:
            return [Check("cluster", "fail", f"the Redis at cluster.redis_url {where(cluster)!r} "
                          f"refused Gluon ({_line(exc)}); check cluster.password and "
                          "cluster.username")]
        except (RedisError, OSError) as exc:
            return [Check("cluster", "fail", f"the Redis at cluster.redis_url {where(cluster)!r} "
                          f"does not answer ({_line(exc)}); start it or correct "
                          "cluster.redis_url")]
    finally:
        client.close()
    where_ = "runs execute on workers" if cluster.remote else "runs execute here (run_on)"
    checks = [Check("cluster", "ok", f"Redis at {where(cluster)} answers; {where_}")]
    if not info and cluster.remote:
        checks.append(Check("workers", "warn", "no worker is up; start one with `gluon "
                            "worker` on a host that has the agents' credentials"))
    now = time.time() if now is None else now
    stale_after = cluster.lease_seconds
    for name, text in sorted(info.items()):
        try:
            beat = json.loads(text)
            seen = float(beat["last_seen"])
            line = (f"{name}: gluon {beat['version']} on {beat['host']} (pid {beat['pid']}), "
                    f"{len(beat.get('runs') or [])}/{beat['max_runs']} runs")
        except (ValueError, KeyError, TypeError):
            checks.append(Check("worker", "warn", f"{name}: heartbeat unreadable"))
            continue
        if name in draining:
            line += ", draining"
        if now - seen > stale_after:
            checks.append(Check("worker", "warn", f"{line}; STALE: last seen "
                                f"{now - seen:.0f} s ago (down, or cut off from Redis)"))
        else:
            checks.append(Check("worker", "ok", line))
    return checks


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
