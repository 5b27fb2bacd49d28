"""The gateway's in-memory key view: no database on the request path, changes seen within
the TTL, expiry and grace exact."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from daytwo.keys.cache import KeyCache
from daytwo.keys.errors import KeyStoreError
from daytwo.keys.format import new_secret
from daytwo.keys.model import KeyRecord, KeySpec
from daytwo.keys.store import KeyStore

#: 2024-05-01T00:00:00Z, the controlled clock's start (same as conftest).
T0 = 1_714_521_600.0


SPEC = KeySpec(project="search", models=("fast",))


class CountingSource:
    """Wraps a store, counting loads; can be made to fail like a database that went away."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.loads = 0
        self.down = False

    def usable_records(self, now: float | None = None) -> list[KeyRecord]:
        if self.down:
            raise KeyStoreError("key store read failed: OperationalError: down")
        self.loads += 1
        return self.store.usable_records(now)

    def find(self, digest: str) -> KeyRecord | None:
        if self.down:
            raise KeyStoreError("key store read failed: OperationalError: down")
        return self.store.find(digest)


@pytest.fixture
def source(store: KeyStore) -> CountingSource:
    return CountingSource(store)


def test_answers_from_memory_without_touching_the_database(
    store: KeyStore, source: CountingSource
) -> None:
    issued = store.create(SPEC, actor="x", now=T0)
    cache = KeyCache(source, pepper=b"test-pepper", ttl=5)
    cache.refresh(T0)
    for _ in range(100):
        assert cache.authenticate(issued.secret, now=T0 + 1) is not None
        assert cache.authenticate(new_secret(), now=T0 + 1) is None  # negative: no DB trip
        assert cache.authenticate("garbage", now=T0 + 1) is None
    assert source.loads == 1


def test_revocation_and_creation_propagate_at_the_next_refresh(
    store: KeyStore, source: CountingSource
) -> None:
    a = store.create(SPEC, actor="x", now=T0)
    cache = KeyCache(source, pepper=b"test-pepper", ttl=5)
    cache.refresh(T0)
    store.revoke(a.record.id, actor="x", now=T0 + 1)
    b = store.create(SPEC, actor="x", now=T0 + 1)
    # Within the TTL the snapshot is what it was: that is the documented propagation delay.
    assert not cache.maybe_refresh(T0 + 4.9)
    assert cache.authenticate(a.secret, now=T0 + 4.9) is not None
    assert cache.authenticate(b.secret, now=T0 + 4.9) is None
    assert cache.maybe_refresh(T0 + 5)
    assert cache.authenticate(a.secret, now=T0 + 5) is None
    assert cache.authenticate(b.secret, now=T0 + 5) is not None


def test_expiry_and_grace_are_exact_between_refreshes(
    store: KeyStore, source: CountingSource
) -> None:
    exp = store.create(dataclasses.replace(SPEC, expires_at=T0 + 2), actor="x", now=T0)
    old = store.create(SPEC, actor="x", now=T0)
    store.rotate(old.record.id, grace=3, actor="x", now=T0)
    cache = KeyCache(source, pepper=b"test-pepper", ttl=60)
    cache.refresh(T0)
    assert cache.authenticate(exp.secret, now=T0 + 1.9) is not None
    assert cache.authenticate(exp.secret, now=T0 + 2) is None
    assert cache.authenticate(old.secret, now=T0 + 2.9) is not None
    assert cache.authenticate(old.secret, now=T0 + 3) is None


def test_a_failed_refresh_keeps_the_last_snapshot(store: KeyStore, source: CountingSource) -> None:
    issued = store.create(SPEC, actor="x", now=T0)
    cache = KeyCache(source, pepper=b"test-pepper", ttl=5)
    cache.refresh(T0)
    source.down = True
    with pytest.raises(KeyStoreError):
        cache.refresh(T0 + 10)
    assert cache.authenticate(issued.secret, now=T0 + 10) is not None
    assert cache.age(T0 + 10) == 10


def test_background_refresher_picks_up_new_keys(store: KeyStore) -> None:
    cache = KeyCache(store, pepper=b"test-pepper", ttl=0.05, clock=lambda: T0)
    cache.refresh()
    issued = store.create(SPEC, actor="x", now=T0)
    cache.start()
    try:
        seen = threading.Event()
        for _ in range(200):  # wait on the condition, with a deadline (~10 s)
            if cache.authenticate(issued.secret) is not None:
                seen.set()
                break
            seen.wait(0.05)
        assert seen.is_set()
    finally:
        cache.close()


class FindCounter(CountingSource):
    def __init__(self, store: KeyStore) -> None:
        super().__init__(store)
        self.finds = 0

    def find(self, digest: str) -> KeyRecord | None:
        self.finds += 1
        return super().find(digest)


def test_lookup_finds_a_key_created_after_the_snapshot_and_caches_the_answers(
    store: KeyStore,
) -> None:
    import asyncio

    source = FindCounter(store)
    clock = [T0]
    cache = KeyCache(source, pepper=b"test-pepper", ttl=5, clock=lambda: clock[0])
    cache.refresh(T0)
    issued = store.create(SPEC, actor="x", now=T0 + 1)
    revoked = store.create(SPEC, actor="x", now=T0 + 1)
    store.revoke(revoked.record.id, actor="x", now=T0 + 1)
    clock[0] = T0 + 2

    async def main() -> None:
        assert cache.authenticate(issued.secret) is None  # the snapshot predates it
        found = await asyncio.gather(*(cache.lookup(issued.secret) for _ in range(10)))
        assert {p.key_id for p in found if p is not None} == {issued.record.id}
        assert source.finds == 1  # ten concurrent callers, one query
        assert cache.authenticate(issued.secret) is not None  # in memory from now on
        typo = issued.secret[:-1] + ("a" if issued.secret[-1] != "a" else "b")
        assert await cache.lookup(typo) is None
        assert await cache.lookup("dt2_sk_short") is None
        assert source.finds == 1  # malformed keys never reach the store
        for _ in range(5):
            assert await cache.lookup(revoked.secret) is None
        assert source.finds == 2  # the store said no once: remembered
        source.down = True  # a store that fails refuses the key, and says so in the log
        assert await cache.lookup(new_secret()) is None
        assert cache.lookups == 3

    asyncio.run(main())


def test_lookups_of_unknown_keys_are_capped_per_second(store: KeyStore) -> None:
    import asyncio

    source = FindCounter(store)
    cache = KeyCache(source, pepper=b"test-pepper", ttl=5, miss_rate=5)
    cache.refresh(T0)

    async def main() -> None:
        results = await asyncio.gather(*(cache.lookup(new_secret()) for _ in range(50)))
        assert set(results) == {None}

    asyncio.run(main())
    assert source.finds <= 6  # a burst of 5 (plus what refilled meanwhile), not 50
