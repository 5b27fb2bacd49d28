"""Answering a call again without calling upstream: the response cache and ``Idempotency-Key``.

* :mod:`daytwo.replay.keys` -- what makes two requests the same (cache keys, idempotency
  scopes and fingerprints);
* :mod:`daytwo.replay.cache` -- :class:`ResponseCache` and its memory backend;
* :mod:`daytwo.replay.idempotency` -- the claim / complete / release protocol and its memory
  backend;
* :mod:`daytwo.replay.redis` -- both on Redis, for many replicas.

This room is storage only: the gateway decides when to look up, what to store and what a hit
or a replay is recorded as. It imports ``core``, ``config`` and redis-py, nothing else.
"""

from __future__ import annotations

from daytwo.config.replay import CacheConfig, IdempotencyConfig
from daytwo.replay.cache import CachedAnswer, MemoryCache, ResponseCache
from daytwo.replay.idempotency import (
    Claim,
    Claimed,
    IdempotencyStore,
    InProgress,
    MemoryIdempotency,
    Mismatch,
    Replay,
    StoredOutcome,
)
from daytwo.replay.keys import cache_key, check_idempotency_key, fingerprint, idempotency_scope
from daytwo.replay.redis import RedisCache, RedisIdempotency


def open_cache(cfg: CacheConfig) -> ResponseCache:
    """The configured cache (not yet contacted: ``await cache.ping()`` to check Redis)."""
    if cfg.backend == "redis":
        return RedisCache(cfg.url, cfg.prefix, cfg.max_entry_bytes)
    return MemoryCache(cfg.max_entries, cfg.max_entry_bytes)


def open_idempotency(cfg: IdempotencyConfig) -> IdempotencyStore:
    """The configured store (not yet contacted: ``await store.ping()`` to check Redis)."""
    if cfg.backend == "redis":
        return RedisIdempotency(cfg.url, cfg.prefix, ttl_s=cfg.ttl_s, lock_s=cfg.lock_s)
    return MemoryIdempotency(cfg.max_entries, ttl_s=cfg.ttl_s, lock_s=cfg.lock_s)


__all__ = [
    "CachedAnswer",
    "Claim",
    "Claimed",
    "IdempotencyStore",
    "InProgress",
    "MemoryCache",
    "MemoryIdempotency",
    "Mismatch",
    "RedisCache",
    "RedisIdempotency",
    "Replay",
    "ResponseCache",
    "StoredOutcome",
    "cache_key",
    "check_idempotency_key",
    "fingerprint",
    "idempotency_scope",
    "open_cache",
    "open_idempotency",
]
