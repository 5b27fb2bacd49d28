"""The response cache: answers stored under :func:`daytwo.replay.keys.cache_key`, for a TTL.

A cache is an optimisation, never a dependency: no backend raises from ``get`` or ``put`` once
built. A backend that cannot reach its store logs (at most once a minute) and behaves as a miss
and a no-op; ``ping`` is where an unreachable store is reported, at start-up.

Entries are serialized (orjson) on ``put`` and decoded on ``get`` in every backend, so the
memory backend hands out fresh objects (a caller editing a returned body cannot corrupt the
cache) and ``max_entry_bytes`` means the same thing everywhere. Answers larger than that are
not stored.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import orjson

from daytwo.core.types import Usage

log = logging.getLogger("daytwo.replay")

_FORMAT = 1


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """An upstream answer worth serving again, and what it cost the first time."""

    #: The OpenAI-shaped answer: a ``chat.completion`` or an embeddings ``list`` body.
    body: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: What the original call cost: what each hit saves. None when it was not priced.
    cost_nanousd: int | None = None
    served_model: str = ""
    provider: str = ""
    deployment: str = ""
    #: Unix seconds when the original answer was produced.
    created_at: float = field(default_factory=time.time)

    @property
    def usage(self) -> Usage:
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_input_tokens=self.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
        )

    @classmethod
    def from_usage(cls, body: dict[str, Any], usage: Usage, **rest: Any) -> CachedAnswer:
        return cls(
            body=body,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            **rest,
        )

    def to_bytes(self) -> bytes:
        return orjson.dumps({"f": _FORMAT, **asdict(self)})

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> CachedAnswer | None:
        """The stored answer, or None for bytes this version does not understand."""
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict) or data.pop("f", None) != _FORMAT:
                return None
            return cls(**data)
        except (orjson.JSONDecodeError, TypeError):
            return None


class ResponseCache(Protocol):
    async def get(self, key: str) -> CachedAnswer | None: ...

    async def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        """Store ``answer`` for ``ttl_s`` seconds (replacing any entry); too large: skipped."""

    async def ping(self) -> None:
        """Raise :class:`daytwo.core.errors.StateUnavailable` if the store cannot be reached."""

    async def aclose(self) -> None: ...


class RateLimitedLog:
    """Log a recurring failure at most once per ``every_s`` (a cache outage is one event, not
    one line per call); the suppressed count is reported with the next line."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._every_s = every_s
        self._clock = clock
        self._next = float("-inf")
        self._suppressed = 0

    def warning(self, msg: str, *args: object) -> None:
        now = self._clock()
        if now < self._next:
            self._suppressed += 1
            return
        if self._suppressed:
            msg += " (%d more since the last report)"
            args = (*args, self._suppressed)
        self._log.warning(msg, *args)
        self._next = now + self._every_s
        self._suppressed = 0


class MemoryCache:
    """One process's cache: LRU bounded by ``max_entries``, each entry with its own expiry.

    Every operation is O(1). Expired entries are dropped when looked up or when they reach the
    LRU end, whichever comes first.
    """

    def __init__(
        self,
        max_entries: int = 10_000,
        max_entry_bytes: int = 1_048_576,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.max_entry_bytes = max_entry_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, raw = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return CachedAnswer.from_bytes(raw)

    async def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        raw = answer.to_bytes()
        if len(raw) > self.max_entry_bytes:
            return
        self._entries[key] = (self._clock() + ttl_s, raw)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._entries.clear()
