"""The two State backends every spend-control test runs against: memory and real Redis.

Redis is the real server on 127.0.0.1:6379 (never mocked). Each test gets its own key prefix
and its keys are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
import redis

from daytwo.state.base import State
from daytwo.state.memory import MemoryState
from daytwo.state.redis import RedisState

REDIS_URL = os.environ.get("DAYTWO_TEST_REDIS", "redis://127.0.0.1:6379/0")

OpenState = Callable[[], AbstractAsyncContextManager[State]]


def _require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:  # the suite promises real Redis
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
    finally:
        client.close()


def _delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["memory", "redis"])
def open_state(request: pytest.FixtureRequest) -> Iterator[OpenState]:
    """A factory of State clients that share one store (one MemoryState, or one Redis prefix).

    Call it inside the test's event loop; every client it opens sees the same data, like two
    replicas would.
    """
    if request.param == "memory":
        shared = MemoryState()

        @asynccontextmanager
        async def open_memory() -> AsyncIterator[State]:
            yield shared

        yield open_memory
        return
    _require_redis()
    prefix = f"daytwo-test:{uuid.uuid4().hex[:12]}:"

    @asynccontextmanager
    async def open_redis() -> AsyncIterator[State]:
        state = RedisState.from_url(REDIS_URL, prefix=prefix)
        try:
            yield state
        finally:
            await state.aclose()

    try:
        yield open_redis
    finally:
        _delete_prefix(prefix)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the real Redis, its keys deleted afterwards."""
    _require_redis()
    prefix = f"daytwo-test:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        _delete_prefix(prefix)
