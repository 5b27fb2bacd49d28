"""The gateway's view of the keys: every usable key in memory, refreshed in the background.

:meth:`KeyCache.authenticate` never touches the database: it hashes the secret, looks the
digest up in a dict loaded from :meth:`KeyStore.usable_records`, and compares in constant
time. That is the whole request path of a key the snapshot holds.

A key the snapshot does not hold may have just been created (``daytwo keys create``, or the
admin API of another gateway). :meth:`KeyCache.lookup` asks the store at once, off the event
loop, so a new key works on its first call -- but only for a well-formed key (its checksum
must match: typos and noise never reach the database), once per key at a time (concurrent
calls with the same key share one query), and not again for ``negative_ttl`` seconds after the
store said no. Misses that do reach the store are capped at ``miss_rate`` per second across
all keys, so a flood of random well-formed keys costs the database at most that; past it an
unknown key is refused without a query (a new key then works from the next refresh).

Propagation: a revoked or rotated key is seen by the gateway at the next refresh, i.e. within
``ttl`` seconds (default 5) plus the refresh's own duration; a created key at once. Expiry and
the end of a rotation grace are checked against the clock on every request, so they are exact.
When the database cannot be read the last snapshot keeps serving (revocations made meanwhile
wait for it to come back); :attr:`KeyCache.age` says how old the snapshot is, for health
checks.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from daytwo.core.errors import DaytwoError
from daytwo.keys.format import is_well_formed
from daytwo.keys.hashing import key_digest
from daytwo.keys.model import KeyPrincipal, KeyRecord

log = logging.getLogger("daytwo.keys")

DEFAULT_TTL_S = 5.0
#: How long a key the store did not know (or would not pass) is refused without asking again.
DEFAULT_NEGATIVE_TTL_S = 5.0
#: Store lookups for keys missing from the snapshot, per second across all keys (and burst).
DEFAULT_MISS_RATE = 20.0
#: Keys remembered as unknown (the memory a flood of random keys can take is bounded).
_NEGATIVE_MAX = 100_000
_ZERO_DIGEST = "0" * 64


class KeySource(Protocol):
    def usable_records(self, now: float | None = None) -> list[KeyRecord]: ...

    def find(self, digest: str) -> KeyRecord | None:
        """The key stored with this digest, whatever its state (None: no such key)."""
        ...


class KeyCache:
    """Answers ``authenticate`` from memory. Call :meth:`refresh` once before serving, then
    :meth:`start` a background refresher (or call :meth:`refresh` from your own loop)."""

    def __init__(
        self,
        source: KeySource,
        *,
        pepper: bytes = b"",
        ttl: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.time,
        negative_ttl: float = DEFAULT_NEGATIVE_TTL_S,
        miss_rate: float = DEFAULT_MISS_RATE,
    ) -> None:
        self._source = source
        self._pepper = pepper
        self._ttl = ttl
        self._clock = clock
        self._negative_ttl = negative_ttl
        self._by_digest: dict[str, KeyRecord] = {}
        # Used from the event loop only (lookup): digest -> monotonic time the "no" expires.
        self._negative: dict[str, float] = {}
        self._pending: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self._miss_rate = miss_rate
        self._tokens = miss_rate
        self._tokens_at = time.monotonic()
        #: Store lookups made for keys missing from the snapshot (for tests and metrics).
        self.lookups = 0
        self._loaded_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ttl(self) -> float:
        return self._ttl

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the last successful refresh (None: never loaded)."""
        if self._loaded_at is None:
            return None
        return (self._clock() if now is None else now) - self._loaded_at

    def refresh(self, now: float | None = None) -> None:
        """Reload the snapshot. Raises the store's error; the old snapshot stays in place."""
        now = self._clock() if now is None else now
        records = self._source.usable_records(now)
        # One attribute swap: readers see the old dict or the new one, never a mix.
        self._by_digest = {r.digest: r for r in records}
        self._loaded_at = now

    def maybe_refresh(self, now: float | None = None) -> bool:
        """Refresh when the snapshot is older than the TTL. True when it refreshed."""
        now = self._clock() if now is None else now
        if self._loaded_at is not None and now - self._loaded_at < self._ttl:
            return False
        self.refresh(now)
        return True

    def authenticate(self, secret: str, now: float | None = None) -> KeyPrincipal | None:
        """Same contract as :meth:`KeyStore.authenticate`, from memory."""
        now = self._clock() if now is None else now
        digest = key_digest(self._pepper, secret)
        well_formed = is_well_formed(secret)
        record = self._by_digest.get(digest)
        stored = record.digest if record is not None else _ZERO_DIGEST
        matches = hmac.compare_digest(stored, digest)
        if record is not None and matches and well_formed and record.usable(now):
            return record.principal()
        return None

    async def lookup(self, secret: str, now: float | None = None) -> KeyPrincipal | None:
        """For a key :meth:`authenticate` refused: is it a key the snapshot does not hold yet?
        Asks the store (in a thread) at most once per key at a time and per ``negative_ttl``;
        None for every key that must not pass, as :meth:`authenticate`."""
        if not is_well_formed(secret):
            return None  # a typo or noise: never worth a query
        digest = key_digest(self._pepper, secret)
        if digest in self._by_digest:
            return None  # known, and refused by authenticate (expired, grace over)
        mono = time.monotonic()
        until = self._negative.get(digest)
        if until is not None:
            if until > mono:
                return None
            del self._negative[digest]
        job = self._pending.get(digest)
        if job is None:
            if not self._take(mono):
                return None  # a flood of unknown keys: the snapshot refresh catches up
            job = asyncio.ensure_future(self._fetch(digest))
            self._pending[digest] = job
            job.add_done_callback(lambda _: self._pending.pop(digest, None))
        record = await asyncio.shield(job)
        now = self._clock() if now is None else now
        stored = record.digest if record is not None else _ZERO_DIGEST
        if record is not None and hmac.compare_digest(stored, digest) and record.usable(now):
            return record.principal()
        return None

    def _take(self, mono: float) -> bool:
        """A token of the miss budget (``miss_rate`` per second, as much burst)."""
        rate = self._miss_rate
        self._tokens = min(rate, self._tokens + (mono - self._tokens_at) * rate)
        self._tokens_at = mono
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _fetch(self, digest: str) -> KeyRecord | None:
        self.lookups += 1
        try:
            record = await asyncio.to_thread(self._source.find, digest)
        except DaytwoError as exc:
            log.warning("key lookup failed, the key is refused: %s", exc)
            record = None
        if record is not None and record.usable(self._clock()):
            # Held until the next refresh replaces the dict (which holds it too by then).
            self._by_digest[digest] = record
        else:
            if len(self._negative) >= _NEGATIVE_MAX:
                self._negative.clear()
            self._negative[digest] = time.monotonic() + self._negative_ttl
        return record

    # ------------------------------------------------------------------ background refresh

    def start(self) -> None:
        """Refresh every ``ttl`` seconds on a daemon thread until :meth:`close`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="daytwo-key-cache", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._ttl):
            try:
                self.refresh()
            except DaytwoError as exc:  # keep serving the last snapshot; say so once per try
                log.warning("key cache refresh failed, serving the last snapshot: %s", exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._ttl + 5)
            self._thread = None
