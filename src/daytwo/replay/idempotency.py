"""``Idempotency-Key``: a request repeated with the same key replays the first one's outcome.

The flow, per request that carries the header (scope and fingerprint from
:mod:`daytwo.replay.keys`)::

    claim(scope, fingerprint)
      Claimed     first with this key: run the call, then
                    complete(scope, fingerprint, outcome)   the outcome is replayed for ttl_s
                    release(scope)                          failed in a way worth retrying
                                                            (5xx, 429, client gone): forget it
      Replay      completed before with the same body: send the stored outcome
      InProgress  another request with this key is running (the gateway answers 409)
      Mismatch    the key was used with a different body (the gateway answers 422)

Rules, the same in every backend:

* A body mismatch is reported before anything else: reusing a key for another request is the
  caller's mistake whatever state the first one is in.
* A claim not completed or released within ``lock_s`` is abandoned (its replica crashed); the
  next request with the key takes it over (``Claimed``).
* The first outcome stored wins: ``complete`` does not replace a completed outcome, nor a claim
  another body took over. ``release`` drops only a claim in progress, never an outcome.
* A completed outcome lives ``ttl_s`` from completion; then the key is free again.

The Redis backend does each step in one Lua script, so replicas racing on one key see exactly
one ``Claimed``. Its failures raise :class:`daytwo.core.errors.StateUnavailable`; whether to
serve the call without idempotency or refuse it is the gateway's decision.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """What the client received, byte for byte, to send again."""

    status: int
    content_type: str
    #: The whole body; for a stream, every SSE event as sent.
    body: bytes
    #: The few headers worth replaying (``retry-after``, ``x-request-id`` ...).
    headers: tuple[tuple[str, str], ...] = ()
    #: The call that produced it.
    call_id: str = ""
    #: What the original call cost: what a replay saves. None when it was not priced.
    cost_nanousd: int | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """First with this key: go ahead, then ``complete`` or ``release``."""


@dataclass(frozen=True, slots=True)
class Replay:
    """Completed before with the same body: send ``outcome`` again."""

    outcome: StoredOutcome


@dataclass(frozen=True, slots=True)
class InProgress:
    """Another request with this key is still running."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used before with a different request body."""


Claim = Claimed | Replay | InProgress | Mismatch


class IdempotencyStore(Protocol):
    async def claim(self, scope: str, fingerprint: str) -> Claim: ...

    async def complete(self, scope: str, fingerprint: str, outcome: StoredOutcome) -> bool:
        """Store the outcome for ``ttl_s``; False when the rules above kept an earlier one."""

    async def release(self, scope: str) -> bool:
        """Drop a claim in progress; False when there was none (gone, or completed)."""

    async def ping(self) -> None:
        """Raise :class:`daytwo.core.errors.StateUnavailable` if the store cannot be reached."""

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    outcome: StoredOutcome | None  # None: in progress
    expires_at: float


class MemoryIdempotency:
    """One process's keys, bounded by ``max_entries``: above it the least recently touched key
    is forgotten (a repeat of it runs again). O(1) per step."""

    def __init__(
        self,
        max_entries: int = 100_000,
        *,
        ttl_s: float = 86_400.0,
        lock_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.lock_s = lock_s
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, scope: str, now: float) -> _Entry | None:
        entry = self._entries.get(scope)
        if entry is not None and now >= entry.expires_at:
            del self._entries[scope]
            return None
        return entry

    def _put(self, scope: str, entry: _Entry) -> None:
        self._entries[scope] = entry
        self._entries.move_to_end(scope)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def claim(self, scope: str, fingerprint: str) -> Claim:
        now = self._clock()
        entry = self._live(scope, now)
        if entry is None:
            self._put(scope, _Entry(fingerprint, None, now + self.lock_s))
            return Claimed()
        self._entries.move_to_end(scope)
        if entry.fingerprint != fingerprint:
            return Mismatch()
        if entry.outcome is None:
            return InProgress()
        return Replay(entry.outcome)

    async def complete(self, scope: str, fingerprint: str, outcome: StoredOutcome) -> bool:
        now = self._clock()
        entry = self._live(scope, now)
        if entry is not None and (entry.outcome is not None or entry.fingerprint != fingerprint):
            return False
        self._put(scope, _Entry(fingerprint, outcome, now + self.ttl_s))
        return True

    async def release(self, scope: str) -> bool:
        entry = self._live(scope, self._clock())
        if entry is None or entry.outcome is not None:
            return False
        del self._entries[scope]
        return True

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._entries.clear()
