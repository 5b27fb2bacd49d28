"""The Idempotency-Key contract (memory and real Redis), then what only one backend does."""

from __future__ import annotations

import asyncio
import collections

import pytest
from tests.replay.backends import REDIS_URL, Backend, FakeClock, closed_port, raw_redis

from daytwo.config.replay import IdempotencyConfig
from daytwo.core.errors import StateUnavailable
from daytwo.replay import (
    Claim,
    Claimed,
    InProgress,
    MemoryIdempotency,
    Mismatch,
    RedisIdempotency,
    Replay,
    StoredOutcome,
    open_idempotency,
)
from daytwo.replay.keys import fingerprint, idempotency_scope

SCOPE = idempotency_scope("vk_1", "/v1/chat/completions", "order-42")
FP = fingerprint(b'{"model":"m","messages":[]}')
OTHER_FP = fingerprint(b'{"model":"m","messages":[1]}')
OUTCOME = StoredOutcome(
    status=200,
    content_type="text/event-stream",
    body=b'data: {"id":"c1","choices":[]}\n\ndata: [DONE]\n\n\x00\xff',
    headers=(("x-request-id", "req_1"), ("retry-after", "3")),
    call_id="call_1",
    cost_nanousd=5_000,
)


def test_first_claim_runs_then_repeats_replay_the_outcome(backend: Backend) -> None:
    async def main() -> None:
        store = backend.store()
        try:
            assert await store.claim(SCOPE, FP) == Claimed()
            assert await store.claim(SCOPE, FP) == InProgress()
            assert await store.complete(SCOPE, FP, OUTCOME)
            assert await store.claim(SCOPE, FP) == Replay(OUTCOME)
            assert await store.claim(SCOPE, FP) == Replay(OUTCOME)
            # the first outcome stays, and release never drops an outcome
            assert not await store.complete(SCOPE, FP, StoredOutcome(500, "x", b""))
            assert not await store.release(SCOPE)
            assert await store.claim(SCOPE, FP) == Replay(OUTCOME)
        finally:
            await store.aclose()

    asyncio.run(main())


def test_a_key_reused_with_another_body_is_a_mismatch(backend: Backend) -> None:
    async def main() -> None:
        store = backend.store()
        try:
            assert await store.claim(SCOPE, FP) == Claimed()
            assert await store.claim(SCOPE, OTHER_FP) == Mismatch()  # even while in progress
            assert not await store.complete(SCOPE, OTHER_FP, OUTCOME)
            await store.complete(SCOPE, FP, OUTCOME)
            assert await store.claim(SCOPE, OTHER_FP) == Mismatch()
            other = idempotency_scope("vk_2", "/v1/chat/completions", "order-42")
            assert await store.claim(other, OTHER_FP) == Claimed()
        finally:
            await store.aclose()

    asyncio.run(main())


def test_release_lets_a_retry_run_again(backend: Backend) -> None:
    async def main() -> None:
        store = backend.store()
        try:
            assert not await store.release(SCOPE)
            assert await store.claim(SCOPE, FP) == Claimed()
            assert await store.release(SCOPE)
            assert await store.claim(SCOPE, OTHER_FP) == Claimed()  # the key is free again
        finally:
            await store.aclose()

    asyncio.run(main())


def test_an_abandoned_claim_is_taken_over_after_lock_s(backend: Backend) -> None:
    async def main() -> None:
        store = backend.store(lock_s=0.2)
        try:
            assert await store.claim(SCOPE, FP) == Claimed()
            assert await store.claim(SCOPE, FP) == InProgress()
            got = await backend.after(0.25, lambda: store.claim(SCOPE, FP), _is_claimed)
            assert got == Claimed()
            assert await store.claim(SCOPE, FP) == InProgress()  # held by the new owner
        finally:
            await store.aclose()

    asyncio.run(main())


def test_a_late_complete_of_an_expired_claim_still_stores(backend: Backend) -> None:
    async def main() -> None:
        store = backend.store(lock_s=0.2)
        try:
            assert await store.claim(SCOPE, FP) == Claimed()
            await backend.after(0.25, lambda: _exists(backend, store), lambda v: not v)
            assert await store.complete(SCOPE, FP, OUTCOME)
            assert await store.claim(SCOPE, FP) == Replay(OUTCOME)
        finally:
            await store.aclose()

    asyncio.run(main())


def test_outcomes_expire_ttl_s_after_completion(backend: Backend) -> None:
    async def main() -> None:
        store = backend.store(ttl_s=0.3, lock_s=0.3)
        try:
            assert await store.claim(SCOPE, FP) == Claimed()
            assert await store.complete(SCOPE, FP, OUTCOME)
            assert await store.claim(SCOPE, FP) == Replay(OUTCOME)
            got = await backend.after(0.35, lambda: store.claim(SCOPE, OTHER_FP), _is_claimed)
            assert got == Claimed()
        finally:
            await store.aclose()

    asyncio.run(main())


def test_concurrent_claims_across_clients_admit_exactly_one(backend: Backend) -> None:
    async def main() -> None:
        first, second = backend.store(), backend.store()
        try:
            claims = [(first if i % 2 else second).claim(SCOPE, FP) for i in range(50)]
            results = await asyncio.gather(*claims)
            counts = collections.Counter(type(r).__name__ for r in results)
            assert counts == {"Claimed": 1, "InProgress": 49}
        finally:
            await first.aclose()
            await second.aclose()

    asyncio.run(main())


def _is_claimed(claim: Claim) -> bool:
    return isinstance(claim, Claimed)


async def _exists(backend: Backend, store: object) -> bool:
    """Whether the claim is still held (read without taking it)."""
    if isinstance(store, MemoryIdempotency):
        return store._live(SCOPE, backend.clock()) is not None
    r = raw_redis()
    try:
        return bool(r.exists(f"{backend.prefix}idem:{SCOPE}"))
    finally:
        r.close()


# -- memory ------------------------------------------------------------------------------------


def test_memory_store_forgets_the_least_recently_touched_key_above_its_bound() -> None:
    async def main() -> None:
        store = MemoryIdempotency(max_entries=2, clock=FakeClock())
        assert await store.claim("a", FP) == Claimed()
        assert await store.claim("b", FP) == Claimed()
        assert await store.claim("a", FP) == InProgress()  # a is now the most recent
        assert await store.claim("c", FP) == Claimed()
        assert len(store) == 2
        assert await store.claim("a", FP) == InProgress()
        assert await store.claim("b", OTHER_FP) == Claimed()  # b was forgotten

    asyncio.run(main())


def test_memory_store_timing_is_exact_with_its_clock() -> None:
    async def main() -> None:
        clock = FakeClock()
        store = MemoryIdempotency(ttl_s=100, lock_s=10, clock=clock)
        assert await store.claim(SCOPE, FP) == Claimed()
        clock.advance(9.99)
        assert await store.claim(SCOPE, FP) == InProgress()
        assert await store.complete(SCOPE, FP, OUTCOME)
        clock.advance(99.99)  # the TTL runs from completion, not from the claim
        assert await store.claim(SCOPE, FP) == Replay(OUTCOME)
        clock.advance(0.01)
        assert await store.claim(SCOPE, OTHER_FP) == Claimed()

    asyncio.run(main())


# -- redis -------------------------------------------------------------------------------------


def test_redis_store_keeps_each_key_for_its_lock_then_its_ttl(redis_backend: Backend) -> None:
    async def main() -> None:
        store = redis_backend.store(ttl_s=3600, lock_s=30)
        try:
            await store.claim(SCOPE, FP)
            r = raw_redis()
            try:
                held = r.pttl(f"{redis_backend.prefix}idem:{SCOPE}")
                await store.complete(SCOPE, FP, OUTCOME)
                kept = r.pttl(f"{redis_backend.prefix}idem:{SCOPE}")
            finally:
                r.close()
            assert 0 < held <= 30_000
            assert 30_000 < kept <= 3_600_000
        finally:
            await store.aclose()

    asyncio.run(main())


def test_unreachable_redis_raises_state_unavailable_without_the_password() -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"

    async def main() -> None:
        store = RedisIdempotency(url, "p:")
        try:
            for step in (
                store.claim(SCOPE, FP),
                store.complete(SCOPE, FP, OUTCOME),
                store.release(SCOPE),
                store.ping(),
            ):
                with pytest.raises(StateUnavailable) as info:
                    await step
                assert "idempotency store (Redis at 127.0.0.1:" in info.value.message
                assert "hunter2" not in info.value.message
                assert info.value.status == 503
        finally:
            await store.aclose()

    asyncio.run(main())


def test_open_idempotency_follows_the_config() -> None:
    async def main() -> None:
        memory = open_idempotency(IdempotencyConfig(max_entries=7, ttl_s=60, lock_s=5))
        assert isinstance(memory, MemoryIdempotency)
        assert (memory.max_entries, memory.ttl_s, memory.lock_s) == (7, 60, 5)
        shared = open_idempotency(IdempotencyConfig(backend="redis", url=REDIS_URL, lock_s=5))
        try:
            assert isinstance(shared, RedisIdempotency) and shared.lock_s == 5
            await shared.ping()
        finally:
            await shared.aclose()

    asyncio.run(main())
