"""The real Redis the suite runs against (127.0.0.1:6379, or ``$DAYTWO_TEST_REDIS``): a check
that fails (never skips) when it is down, and key prefixes of a test's own, deleted after it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

REDIS_URL = os.environ.get("DAYTWO_TEST_REDIS", "redis://127.0.0.1:6379/0")


def require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:  # the suite promises real Redis
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
    finally:
        client.close()


def delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextmanager
def own_prefix(tag: str = "daytwo-test") -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"{tag}-{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        delete_prefix(prefix)
