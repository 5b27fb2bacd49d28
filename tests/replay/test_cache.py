"""The response cache contract (memory and real Redis), then what only one backend does."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest
from tests.replay.backends import REDIS_URL, Backend, FakeClock, closed_port, raw_redis

from daytwo.config.replay import CacheConfig
from daytwo.core.errors import StateUnavailable
from daytwo.core.types import Usage
from daytwo.replay import MemoryCache, RedisCache, open_cache
from daytwo.replay.cache import CachedAnswer, RateLimitedLog
from daytwo.replay.keys import cache_key
from daytwo.replay.redis import OUTAGE_BYPASS_S

REQUEST: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


def answer(text: str = "Hello!", cost: int | None = 1234) -> CachedAnswer:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
    return CachedAnswer(
        body=body,
        input_tokens=9,
        output_tokens=3,
        cached_input_tokens=2,
        reasoning_tokens=1,
        cost_nanousd=cost,
        served_model="gpt-4o-mini-2024-07-18",
        provider="openai",
        deployment="openai/gpt-4o-mini",
        created_at=1_700_000_000.5,
    )


# -- contract ----------------------------------------------------------------------------------


def test_miss_then_hit_returns_the_stored_answer(backend: Backend) -> None:
    async def main() -> None:
        cache = backend.cache()
        try:
            k = cache_key("p", "chat", "a", REQUEST)
            assert await cache.get(k) is None
            await cache.put(k, answer(), 60)
            got = await cache.get(k)
            assert got == answer()
            assert got is not None and got.usage == Usage(9, 3, 2, 0, 1)
            await cache.put(k, answer("Replaced"), 60)
            got = await cache.get(k)
            assert got is not None and got.body["choices"][0]["message"]["content"] == "Replaced"
        finally:
            await cache.aclose()

    asyncio.run(main())


def test_entries_expire_after_their_ttl(backend: Backend) -> None:
    async def main() -> None:
        cache = backend.cache()
        try:
            short, long = cache_key("p", "chat", "a", REQUEST), cache_key("p", "chat", "b", REQUEST)
            await cache.put(short, answer(), 0.2)
            await cache.put(long, answer(), 60)
            assert await cache.get(short) is not None
            gone = await backend.after(0.25, lambda: cache.get(short), lambda v: v is None)
            assert gone is None
            assert await cache.get(long) == answer()
            await cache.put(short, answer(), 0)  # a zero TTL stores nothing
            assert await cache.get(short) is None
        finally:
            await cache.aclose()

    asyncio.run(main())


def test_never_shared_across_projects(backend: Backend) -> None:
    async def main() -> None:
        cache = backend.cache()
        try:
            await cache.put(cache_key("acme", "chat", "a", REQUEST), answer(), 60)
            assert await cache.get(cache_key("globex", "chat", "a", REQUEST)) is None
            streamed = {**REQUEST, "stream": True, "user": "someone-else"}
            assert await cache.get(cache_key("acme", "chat", "a", streamed)) == answer()
        finally:
            await cache.aclose()

    asyncio.run(main())


def test_oversize_answers_are_not_stored(backend: Backend) -> None:
    async def main() -> None:
        small = answer()
        limit = len(small.to_bytes()) + 10
        cache = backend.cache(max_entry_bytes=limit)
        try:
            await cache.put("small", small, 60)
            await cache.put("big", answer("x" * 100), 60)
            assert await cache.get("small") == small
            assert await cache.get("big") is None
        finally:
            await cache.aclose()

    asyncio.run(main())


def test_returned_answers_cannot_corrupt_the_cache(backend: Backend) -> None:
    async def main() -> None:
        cache = backend.cache()
        try:
            await cache.put("k", answer(), 60)
            got = await cache.get("k")
            assert got is not None
            got.body["choices"].clear()
            assert await cache.get("k") == answer()
        finally:
            await cache.aclose()

    asyncio.run(main())


def test_ping_succeeds_on_a_working_store(backend: Backend) -> None:
    async def main() -> None:
        cache = backend.cache()
        try:
            await cache.ping()
        finally:
            await cache.aclose()

    asyncio.run(main())


# -- memory ------------------------------------------------------------------------------------


def test_memory_cache_drops_the_least_recently_used() -> None:
    async def main() -> None:
        cache = MemoryCache(max_entries=3, clock=FakeClock())
        for k in "abc":
            await cache.put(k, answer(k), 60)
        assert await cache.get("a") is not None  # a is now the most recent
        await cache.put("d", answer("d"), 60)
        assert len(cache) == 3
        assert await cache.get("b") is None
        for k in "acd":
            got = await cache.get(k)
            assert got is not None and got.body["choices"][0]["message"]["content"] == k

    asyncio.run(main())


def test_memory_cache_expiry_is_exact_with_its_clock() -> None:
    async def main() -> None:
        clock = FakeClock()
        cache = MemoryCache(clock=clock)
        await cache.put("k", answer(), 10)
        clock.advance(9.999)
        assert await cache.get("k") is not None
        clock.advance(0.001)
        assert await cache.get("k") is None
        assert len(cache) == 0

    asyncio.run(main())


def test_cached_answer_bytes_round_trip_and_refuse_strangers() -> None:
    a = answer(cost=None)
    assert CachedAnswer.from_bytes(a.to_bytes()) == a
    assert CachedAnswer.from_usage(a.body, a.usage, provider="openai").input_tokens == 9
    for junk in (b"not json", b"[]", b'{"f": 99, "body": {}}', b'{"f": 1, "nope": 1}'):
        assert CachedAnswer.from_bytes(junk) is None


def test_open_cache_follows_the_config() -> None:
    async def main() -> None:
        memory = open_cache(CacheConfig(max_entries=5))
        assert isinstance(memory, MemoryCache) and memory.max_entries == 5
        shared = open_cache(CacheConfig(backend="redis", url=REDIS_URL, prefix="x:"))
        try:
            assert isinstance(shared, RedisCache) and shared.prefix == "x:"
            await shared.ping()
        finally:
            await shared.aclose()

    asyncio.run(main())


# -- redis -------------------------------------------------------------------------------------


def test_redis_cache_stores_under_its_prefix_with_a_ttl(redis_backend: Backend) -> None:
    backend = redis_backend

    async def main() -> None:
        cache = backend.cache()
        try:
            await cache.put("k1", answer(), 30)
        finally:
            await cache.aclose()

    asyncio.run(main())
    r = raw_redis()
    try:
        ttl_ms = r.pttl(f"{backend.prefix}cache:k1")
        assert 0 < ttl_ms <= 30_000
        r.set(f"{backend.prefix}cache:k2", b"\x00garbage")
    finally:
        r.close()

    async def corrupt() -> None:
        cache = backend.cache()
        try:
            assert await cache.get("k2") is None
        finally:
            await cache.aclose()

    asyncio.run(corrupt())


def test_unreachable_redis_is_a_miss_and_a_noop_but_ping_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="daytwo.replay")
    clock = FakeClock()
    url = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"

    async def main() -> None:
        cache = RedisCache(url, "p:", clock=clock)
        try:
            for _ in range(3):
                assert await cache.get("k") is None
                await cache.put("k", answer(), 60)
                clock.advance(OUTAGE_BYPASS_S)  # past the bypass: each round tries Redis
            with pytest.raises(StateUnavailable, match=r"response cache \(Redis at 127\.0\.0\.1"):
                await cache.ping()
        finally:
            await cache.aclose()

    asyncio.run(main())
    warnings = [r.getMessage() for r in caplog.records if r.name == "daytwo.replay"]
    assert len(warnings) == 1, warnings  # at most once a minute
    assert "serving without it" in warnings[0]
    assert not any("hunter2" in r.getMessage() for r in caplog.records)


def test_after_a_failure_the_cache_skips_redis_for_a_moment() -> None:
    """A Redis that fails is not asked again on every call (a hung one would cost its timeout
    each time): counted on a real loopback server that accepts and hangs up."""
    clock = FakeClock()

    async def main() -> None:
        connections = 0

        async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            writer.close()

        server = await asyncio.start_server(hang_up, "127.0.0.1", 0, family=socket.AF_INET)
        port = server.sockets[0].getsockname()[1]
        cache = RedisCache(f"redis://127.0.0.1:{port}/0", "p:", clock=clock)
        try:
            assert await cache.get("k") is None
            tried = connections
            assert tried >= 1
            for _ in range(5):
                assert await cache.get("k") is None
                await cache.put("k", answer(), 60)
            assert connections == tried
            clock.advance(OUTAGE_BYPASS_S)
            assert await cache.get("k") is None
            assert connections > tried
        finally:
            await cache.aclose()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_rate_limited_log_reports_what_it_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="daytwo.test")
    clock = FakeClock()
    warn = RateLimitedLog(logging.getLogger("daytwo.test"), every_s=60, clock=clock)
    for _ in range(4):
        warn.warning("down: %s", "x")
        clock.advance(10)
    clock.advance(30)
    warn.warning("down: %s", "y")
    assert [r.getMessage() for r in caplog.records] == [
        "down: x",
        "down: y (3 more since the last report)",
    ]
