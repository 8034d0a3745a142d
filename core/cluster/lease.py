"""A worker's hold on a run: a lease key with a token, and a fence (DESIGN §8).

Taking a run sets ``gluon:lease:run:<id>`` to a token of the worker's (``SET NX PX``) and takes
the next number of ``gluon:fence:run:<id>``: the run's *fence*. The holder renews the lease
every third of its length; renewing and releasing compare the token in the same script, so a
worker whose lease lapsed and was taken by another can neither renew it nor free it. What a
worker writes elsewhere (the relay to the coordinator, the run's progress) carries its fence,
and the coordinator drops what comes with a fence lower than the newest it has seen: never two
agents on one run, and never the words of a stale one. The fence outlives the lease by far
(see :mod:`core.cluster.keys`), and never goes back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

from core.cluster import keys

_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")
_RELEASE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('del', KEYS[1]) else return 0 end")


@dataclass(frozen=True)
class RunLease:
    run_id: str
    token: str  # "<worker>/<random>": the holder, as `holder` tells it
    fence: int


class RunLeases:
    """Acquire, renew and release run leases of ``seconds`` for ``worker``."""

    def __init__(self, redis: aioredis.Redis, worker: str, seconds: float) -> None:
        self.redis = redis
        self.worker = worker
        self.ms = max(1, round(seconds * 1000))
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self, run_id: str) -> RunLease | None:
        """The run's lease with a new fence, or None while another worker holds it."""
        token = f"{self.worker}/{secrets.token_hex(8)}"
        if not await self.redis.set(keys.lease(run_id), token, nx=True, px=self.ms):
            return None
        fence = int(await self.redis.incr(keys.fence(run_id)))
        return RunLease(run_id, token, fence)

    async def renew(self, lease: RunLease) -> bool:
        """Extend the lease from now; False when it lapsed or another worker holds it."""
        return bool(await self._renew(keys=[keys.lease(lease.run_id)],
                                      args=[lease.token, self.ms]))

    async def release(self, lease: RunLease) -> bool:
        """Free the run for another worker at once; False when the lease was not ours any
        more."""
        return bool(await self._release(keys=[keys.lease(lease.run_id)], args=[lease.token]))

    async def holder(self, run_id: str) -> str | None:
        """The worker holding the run's lease now, if any."""
        token = await self.redis.get(keys.lease(run_id))
        return str(token).rsplit("/", 1)[0] if token else None
