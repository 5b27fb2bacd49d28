import uuid
from collections.abc import Iterator

import pytest
from tests.redis_support import delete_prefix, require_redis
from tests.replay.backends import Backend, backend_fixture


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The memory store (test-driven clock) and a fresh prefix on the real Redis."""
    yield from backend_fixture(request)


@pytest.fixture
def redis_backend() -> Iterator[Backend]:
    """A fresh prefix on the real Redis, its keys deleted afterwards."""
    require_redis()
    prefix = f"daytwo-test:{uuid.uuid4().hex[:12]}:"
    try:
        yield Backend("redis", prefix)
    finally:
        delete_prefix(prefix)
