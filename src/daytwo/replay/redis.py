"""Redis backends for the response cache and the idempotency store, shared by every replica.

Keys: ``{prefix}cache:{key}`` (a string: the serialized :class:`CachedAnswer`, ``PX`` its TTL;
Redis's ``maxmemory`` policy is the size bound) and ``{prefix}idem:{scope}`` (a hash: ``fp``,
``st`` = ``p`` in progress / ``d`` done, ``meta`` and ``body`` of the outcome; its expiry is the
claim's lock, then the outcome's TTL). Every idempotency step is one Lua script on one key.

Failures are treated differently on purpose:

* the cache swallows them: ``get`` is a miss and ``put`` a no-op, a warning is logged at most
  once a minute, and for :data:`OUTAGE_BYPASS_S` after a failure the cache does not even try
  (a Redis that hangs would otherwise add its timeout to every call);
* the idempotency store raises :class:`daytwo.core.errors.StateUnavailable`, because the gateway
  must know it cannot promise at-most-once.

``ping`` reports an unreachable Redis clearly in both. No message repeats the URL's password.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
import redis.asyncio as aioredis
from redis import exceptions as rexc

from daytwo.core.errors import StateUnavailable
from daytwo.replay.cache import CachedAnswer, RateLimitedLog
from daytwo.replay.idempotency import (
    Claim,
    Claimed,
    InProgress,
    Mismatch,
    Replay,
    StoredOutcome,
)

log = logging.getLogger("daytwo.replay")

DEFAULT_PREFIX = "daytwo:"
#: The cache sits on the request path: short timeouts, then it is a miss.
CACHE_TIMEOUT_S = 0.5
#: The idempotency store decides whether a call runs: the same timeouts as spend-control state.
STORE_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 32
#: After a cache failure, calls skip Redis for this long.
OUTAGE_BYPASS_S = 1.0
_ERRORS = (rexc.RedisError, OSError, TimeoutError)
T = TypeVar("T")

# KEYS[1] the scope's hash. ARGV: fingerprint, lock ms.
# Returns {1} claimed, {2, meta, body} replay, {3} in progress, {4} mismatch.
CLAIM = """
local v = redis.call('HMGET', KEYS[1], 'fp', 'st', 'meta', 'body')
if not v[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'st', 'p')
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
if v[1] ~= ARGV[1] then return {4} end
if v[2] == 'p' then return {3} end
return {2, v[3], v[4]}
"""

# KEYS[1] the scope's hash. ARGV: fingerprint, ttl ms, meta, body. Returns 1 stored, 0 kept.
COMPLETE = """
local v = redis.call('HMGET', KEYS[1], 'fp', 'st')
if v[2] == 'd' or (v[1] and v[1] ~= ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'st', 'd', 'meta', ARGV[3], 'body', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1] the scope's hash. Returns 1 when a claim in progress was dropped.
RELEASE = """
if redis.call('HGET', KEYS[1], 'st') == 'p' then return redis.call('DEL', KEYS[1]) end
return 0
"""


def describe(url: str) -> str:
    """``host:port/db`` (or the socket path): where, without credentials."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path
        return f"{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"
    except ValueError:
        return "<invalid url>"


def connect(
    url: str, *, timeout_s: float, max_connections: int = MAX_CONNECTIONS
) -> aioredis.Redis:
    """A bytes-in, bytes-out client with a bounded pool; a bad URL is a ValueError."""
    try:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
        )
    except ValueError as exc:
        raise ValueError(f"invalid Redis url for {describe(url)}: {exc}") from None
    return aioredis.Redis.from_pool(pool)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


async def _ping(client: aioredis.Redis, what: str, url: str) -> None:
    try:
        await client.ping()
    except _ERRORS as exc:
        raise StateUnavailable(f"{what} (Redis at {describe(url)}) unreachable: {exc}") from exc


class RedisCache:
    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        max_entry_bytes: int = 1_048_576,
        *,
        timeout_s: float = CACHE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._r = connect(url, timeout_s=timeout_s)
        self.prefix = prefix
        self.max_entry_bytes = max_entry_bytes
        self._clock = clock
        self._bypass_until = float("-inf")
        self._warn = RateLimitedLog(log, clock=clock)

    def _k(self, key: str) -> str:
        return f"{self.prefix}cache:{key}"

    def _failed(self, what: str, exc: BaseException) -> None:
        self._bypass_until = self._clock() + OUTAGE_BYPASS_S
        self._warn.warning(
            "response cache (Redis at %s) failed during %s, serving without it: %s",
            describe(self._url),
            what,
            exc,
        )

    async def get(self, key: str) -> CachedAnswer | None:
        if self._clock() < self._bypass_until:
            return None
        try:
            raw = await self._r.get(self._k(key))
        except _ERRORS as exc:
            self._failed("get", exc)
            return None
        if raw is None:
            return None
        answer = CachedAnswer.from_bytes(raw)
        if answer is None:
            self._warn.warning("response cache entry %s is unreadable; treated as a miss", key)
        return answer

    async def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        if ttl_s <= 0 or self._clock() < self._bypass_until:
            return
        raw = answer.to_bytes()
        if len(raw) > self.max_entry_bytes:
            return
        try:
            await self._r.set(self._k(key), raw, px=_ms(ttl_s))
        except _ERRORS as exc:
            self._failed("put", exc)

    async def ping(self) -> None:
        await _ping(self._r, "response cache", self._url)

    async def aclose(self) -> None:
        await self._r.aclose()


def _outcome_meta(outcome: StoredOutcome) -> bytes:
    return orjson.dumps(
        {
            "status": outcome.status,
            "content_type": outcome.content_type,
            "headers": outcome.headers,
            "call_id": outcome.call_id,
            "cost_nanousd": outcome.cost_nanousd,
        }
    )


def _outcome_from(meta: bytes, body: bytes) -> StoredOutcome:
    d = orjson.loads(meta)
    return StoredOutcome(
        status=int(d["status"]),
        content_type=str(d["content_type"]),
        body=body,
        headers=tuple((str(k), str(v)) for k, v in d["headers"]),
        call_id=str(d["call_id"]),
        cost_nanousd=d["cost_nanousd"],
    )


class RedisIdempotency:
    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        ttl_s: float = 86_400.0,
        lock_s: float = 600.0,
        timeout_s: float = STORE_TIMEOUT_S,
    ) -> None:
        self._url = url
        self._r = connect(url, timeout_s=timeout_s)
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.lock_s = lock_s
        self._claim = self._r.register_script(CLAIM)
        self._complete = self._r.register_script(COMPLETE)
        self._release = self._r.register_script(RELEASE)

    def _k(self, scope: str) -> str:
        return f"{self.prefix}idem:{scope}"

    async def _call(self, what: str, op: Awaitable[T]) -> T:
        try:
            return await op
        except _ERRORS as exc:
            raise StateUnavailable(
                f"idempotency store (Redis at {describe(self._url)}) unavailable during {what}"
            ) from exc

    async def claim(self, scope: str, fingerprint: str) -> Claim:
        out: list[Any] = await self._call(
            "claim", self._claim([self._k(scope)], [fingerprint, _ms(self.lock_s)])
        )
        match int(out[0]):
            case 1:
                return Claimed()
            case 2:
                return Replay(_outcome_from(out[1], out[2]))
            case 3:
                return InProgress()
            case _:
                return Mismatch()

    async def complete(self, scope: str, fingerprint: str, outcome: StoredOutcome) -> bool:
        args: list[str | int | bytes] = [
            fingerprint,
            _ms(self.ttl_s),
            _outcome_meta(outcome),
            outcome.body,
        ]
        out = await self._call("complete", self._complete([self._k(scope)], args))
        return int(out) == 1

    async def release(self, scope: str) -> bool:
        out = await self._call("release", self._release([self._k(scope)]))
        return int(out) == 1

    async def ping(self) -> None:
        await _ping(self._r, "idempotency store", self._url)

    async def aclose(self) -> None:
        await self._r.aclose()
