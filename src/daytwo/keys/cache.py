"""The gateway's view of the keys: every usable key in memory, refreshed in the background.

:meth:`KeyCache.authenticate` never touches the database: it hashes the secret, looks the
digest up in a dict loaded from :meth:`KeyStore.usable_records`, and compares in constant
time. A key absent from the snapshot is refused (that is the negative cache: unknown keys,
however many, cost one dict miss and never reach the database).

Propagation: a created, revoked or rotated key is seen by the gateway at the next refresh,
i.e. within ``ttl`` seconds (default 5) plus the refresh's own duration. Expiry and the end of
a rotation grace are checked against the clock on every request, so they are exact. When the
database cannot be read the last snapshot keeps serving (revocations made meanwhile wait for
it to come back); :attr:`KeyCache.age` says how old the snapshot is, for health checks.
"""

from __future__ import annotations

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
_ZERO_DIGEST = "0" * 64


class KeySource(Protocol):
    def usable_records(self, now: float | None = None) -> list[KeyRecord]: ...


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
    ) -> None:
        self._source = source
        self._pepper = pepper
        self._ttl = ttl
        self._clock = clock
        self._by_digest: dict[str, KeyRecord] = {}
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
