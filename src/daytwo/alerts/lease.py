"""Which replica evaluates the windowed rules.

Every replica reads the same ledger, so if each evaluated the windowed rules, each would send
the same notification. With ``spend_control.state.backend: redis`` the replicas take a lease in
Redis: ``SET <prefix>alerts:leader <replica> NX PX <ttl>``; the holder renews it every
evaluation (a compare-and-extend script, so a replica never extends a lease it lost) and
releases it when it stops. A holder that dies without releasing is replaced once the lease
expires (three evaluation intervals). With the in-memory state there is one process, so it
always evaluates (:class:`LocalLease`).

When Redis cannot be reached, :meth:`RedisLease.hold` answers True: alerting prefers a
duplicate notification to a missed one. The caller logs the change.
"""

from __future__ import annotations

from typing import Protocol

import redis.asyncio as aioredis
from redis import exceptions as rexc

#: Seconds; Redis calls of the lease give up after this.
REDIS_TIMEOUT_S = 1.0
#: The lease lasts this many evaluation intervals (at least ``MIN_LEASE_S``).
LEASE_INTERVALS = 3
MIN_LEASE_S = 2.0

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease(Protocol):
    #: True when the last :meth:`hold` could not reach the lease store.
    unreachable: bool

    async def hold(self) -> bool:
        """Take or renew the lease; whether this replica evaluates now."""
        ...

    async def aclose(self) -> None: ...


class LocalLease:
    unreachable = False

    async def hold(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class RedisLease:
    def __init__(self, url: str, *, prefix: str, replica: str, interval_s: float) -> None:
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            decode_responses=True,
        )
        self.key = f"{prefix}alerts:leader"
        self.replica = replica
        self.ttl_ms = int(max(MIN_LEASE_S, interval_s * LEASE_INTERVALS) * 1000)
        self.unreachable = False
        self._held = False

    async def hold(self) -> bool:
        try:
            if self._held:
                renewed = await self._redis.eval(_RENEW, 1, self.key, self.replica, self.ttl_ms)
                self._held = bool(renewed)
            if not self._held:
                took = await self._redis.set(self.key, self.replica, nx=True, px=self.ttl_ms)
                self._held = bool(took)
        except (rexc.ConnectionError, rexc.TimeoutError, OSError):
            self.unreachable = True
            self._held = False
            return True
        self.unreachable = False
        return self._held

    async def holder(self) -> str | None:
        value = await self._redis.get(self.key)
        return None if value is None else str(value)

    async def aclose(self) -> None:
        try:
            if self._held:
                await self._redis.eval(_RELEASE, 1, self.key, self.replica)
        except (rexc.ConnectionError, rexc.TimeoutError, OSError):
            pass  # it expires on its own
        finally:
            self._held = False
            await self._redis.aclose()
