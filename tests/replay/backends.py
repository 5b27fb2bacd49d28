"""The backends every replay test runs against: memory (with a clock the test moves) and the real
Redis on 127.0.0.1:6379 (never mocked; time passes for real, keys under a fresh prefix that is
deleted afterwards).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import redis
from tests.fakeclock import FakeClock
from tests.redis_support import REDIS_URL, delete_prefix, require_redis

from daytwo.replay.cache import MemoryCache, ResponseCache
from daytwo.replay.idempotency import IdempotencyStore, MemoryIdempotency
from daytwo.replay.redis import RedisCache, RedisIdempotency

#: How long a Redis expiry may lag behind its nominal time before a test gives up.
EXPIRY_SLACK_S = 5.0
T = TypeVar("T")


@dataclass
class Backend:
    """One store shared by every client ``cache()`` / ``store()`` opens (like replicas)."""

    kind: str
    prefix: str = ""
    clock: FakeClock = field(default_factory=FakeClock)
    _memory_cache: MemoryCache | None = None
    _memory_store: MemoryIdempotency | None = None

    def cache(self, *, max_entry_bytes: int = 1_048_576) -> ResponseCache:
        if self.kind == "redis":
            return RedisCache(REDIS_URL, self.prefix, max_entry_bytes)
        if self._memory_cache is None:
            self._memory_cache = MemoryCache(max_entry_bytes=max_entry_bytes, clock=self.clock)
        return self._memory_cache

    def store(self, *, ttl_s: float = 86_400.0, lock_s: float = 600.0) -> IdempotencyStore:
        if self.kind == "redis":
            return RedisIdempotency(REDIS_URL, self.prefix, ttl_s=ttl_s, lock_s=lock_s)
        if self._memory_store is None:
            self._memory_store = MemoryIdempotency(ttl_s=ttl_s, lock_s=lock_s, clock=self.clock)
        return self._memory_store

    async def after(
        self, seconds: float, probe: Callable[[], Awaitable[T]], done: Callable[[T], bool]
    ) -> T:
        """``probe()`` once ``seconds`` have passed: the memory clock jumps; on Redis, real time
        passes and the probe is repeated until ``done`` or a generous deadline."""
        if self.kind == "memory":
            self.clock.advance(seconds)
            return await probe()
        deadline = time.monotonic() + seconds + EXPIRY_SLACK_S
        await asyncio.sleep(seconds)
        while True:
            value = await probe()
            if done(value) or time.monotonic() > deadline:
                return value
            await asyncio.sleep(0.02)


def backend_fixture(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        yield Backend("memory")
        return
    require_redis()
    prefix = f"daytwo-test:{uuid.uuid4().hex[:12]}:"
    try:
        yield Backend("redis", prefix)
    finally:
        delete_prefix(prefix)


def raw_redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def aclose_all(*things: Any) -> None:
    for thing in things:
        await thing.aclose()
