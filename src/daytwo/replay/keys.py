"""What makes two requests "the same": response-cache keys and idempotency scopes.

Cache key
    ``sha256`` (hex) of the canonical JSON -- keys sorted, no whitespace, UTF-8 -- of::

        {"v": 1, "project": ..., "op": ..., "alias": ..., "body": <normalized body>}

    * The project is always part of the key, so an answer is never shared across projects,
      even for byte-identical requests.
    * ``op`` (``chat``, ``embeddings``, ``responses``, ``messages`` ...) and the alias keep
      different doors and models apart even when their bodies look alike.
    * Normalizing drops the top-level fields that change how or to whom an answer is delivered
      but not what it says (:data:`IGNORED_FIELDS`): ``stream`` and ``stream_options`` (a
      streamed and an unstreamed call share an entry; the cache stores the assembled answer),
      ``user``, ``safety_identifier`` and ``metadata`` (attribution and abuse tracking),
      ``store`` (whether the provider keeps a copy), ``service_tier`` (priority and price, not
      content) and ``prompt_cache_key`` / ``prompt_cache_retention`` (the provider's own
      prefix-cache routing). Everything else -- messages, model, temperature, seed, tools,
      ``n`` ... -- is kept, and nested objects are never pruned (a tool schema may well have a
      property called ``metadata``).
    * Numbers compare by value: ``1`` and ``1.0`` (and ``-0.0``) give the same key. Booleans
      stay booleans (``true`` is not ``1``). Non-finite floats, which JSON cannot carry, are
      hashed by name.

    Caching is opt-in because a sampled answer (temperature above 0) replayed is still one
    sample: the owner of an alias or project decides that repeating it is acceptable.

Idempotency scope
    ``sha256(principal_scope + "\\0" + route + "\\0" + idempotency_key)``: one client's key on one
    route. ``principal_scope`` is the virtual key id, or the project when virtual keys are off,
    so two tenants choosing the same key never meet. The request's fingerprint is the sha256 of
    its raw body: a key reused with a different body is refused rather than replayed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import orjson

from daytwo.core.errors import InvalidRequest

KEY_VERSION = 1
IGNORED_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "safety_identifier",
        "metadata",
        "store",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
    }
)
#: Stripe's limit; long enough for a UUID with a prefix, short enough to bound key storage.
MAX_IDEMPOTENCY_KEY_CHARS = 255
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_FLOAT_INT_LIMIT = float(2**63)


def _number(value: float) -> Any:
    if not math.isfinite(value):
        return repr(value)  # "nan", "inf", "-inf"
    if value.is_integer() and abs(value) < _FLOAT_INT_LIMIT:
        return int(value)
    return value


def _normalize(value: Any) -> Any:
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        if _INT_MIN <= value <= _INT_MAX:
            return value
        # What the same digits decode to from JSON (orjson reads them as a float).
        try:
            return _number(float(value))
        except OverflowError:
            return str(value)
    if isinstance(value, Mapping):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    raise TypeError(f"cannot key a request body holding {type(value).__name__}")


def normalize_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as the cache sees it: ignored fields dropped, numbers by value."""
    return {str(k): _normalize(v) for k, v in body.items() if k not in IGNORED_FIELDS}


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def cache_key(project: str, operation: str, alias: str, body: Mapping[str, Any]) -> str:
    """The response-cache key of one request (see the module docstring for the rule)."""
    doc = {
        "v": KEY_VERSION,
        "project": project,
        "op": operation,
        "alias": alias,
        "body": normalize_body(body),
    }
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def check_idempotency_key(value: str) -> str:
    """The header's value, or :class:`InvalidRequest` naming what is wrong with it."""
    if not value:
        raise InvalidRequest("The Idempotency-Key header is empty.", param="Idempotency-Key")
    if len(value) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise InvalidRequest(
            f"The Idempotency-Key header is longer than {MAX_IDEMPOTENCY_KEY_CHARS} characters.",
            param="Idempotency-Key",
        )
    if not value.isprintable():
        raise InvalidRequest(
            "The Idempotency-Key header holds control characters.", param="Idempotency-Key"
        )
    return value


def idempotency_scope(principal_scope: str, route: str, key: str) -> str:
    """Where one client's ``Idempotency-Key`` on one route is stored."""
    raw = f"{principal_scope}\0{route}\0{key}".encode()
    return hashlib.sha256(raw).hexdigest()


def fingerprint(raw_body: bytes) -> str:
    """The request body's identity: a reused key must come with the same bytes."""
    return hashlib.sha256(raw_body).hexdigest()
