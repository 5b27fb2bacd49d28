"""The two State backends every spend-control test runs against: memory and real Redis.

Redis is the real server on 127.0.0.1:6379 (never mocked). Each test gets its own key prefix
and its keys are deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from tests.redis_support import REDIS_URL, delete_prefix, require_redis

from daytwo.state.base import State
from daytwo.state.memory import MemoryState
from daytwo.state.redis import RedisState

OpenState = Callable[[], AbstractAsyncContextManager[State]]


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
    require_redis()
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
        delete_prefix(prefix)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the real Redis, its keys deleted afterwards."""
    require_redis()
    prefix = f"daytwo-test:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        delete_prefix(prefix)
