"""A config checkpoint: the hash that names one effective config (what the ledger's
``calls.config_hash`` and the audit trail's config entries cite) and the canonical text it
hashes. A config holds secrets only as references, so the text is safe to store."""

from __future__ import annotations

import hashlib

import orjson

from daytwo.config.schema import Config

#: Hex digits of the sha256 kept: 48 bits tell apart every config one deployment ever runs.
HASH_CHARS = 12


def checkpoint(config: Config) -> tuple[str, str]:
    """``(hash, canonical JSON)`` of the effective config (defaults included)."""
    text = orjson.dumps(config.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()[:HASH_CHARS], text.decode()
