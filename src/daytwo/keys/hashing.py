"""How a secret key is stored: HMAC-SHA256 with a server-side pepper, hex-encoded.

Why not bcrypt/scrypt/argon2: those slow hashes protect low-entropy passwords from guessing.
A daytwo key carries 190 random bits, so no amount of guessing against a stolen hash gets
anywhere, and the gateway must check a key on every request in microseconds. A fast keyed
hash is therefore enough, and it lets the database find the key by an index on the hash
instead of scanning. The pepper (``$DAYTWO_KEY_PEPPER``, optional) lives outside the database,
so a copy of the database alone cannot even confirm a guessed key. Every process that creates
or checks keys must use the same pepper: changing it invalidates every key.
"""

from __future__ import annotations

import hashlib
import hmac
import os

PEPPER_ENV = "DAYTWO_KEY_PEPPER"
#: Longer inputs are malformed anyway; cap the work an attacker's giant header can cause.
_MAX_HASHED_CHARS = 256


def key_digest(pepper: bytes, secret: str) -> str:
    data = secret[:_MAX_HASHED_CHARS].encode("utf-8", "replace")
    return hmac.new(pepper, data, hashlib.sha256).hexdigest()


def pepper_from_env(environ: dict[str, str] | None = None) -> bytes:
    """The pepper from ``$DAYTWO_KEY_PEPPER`` (empty when unset)."""
    env = os.environ if environ is None else environ
    return env.get(PEPPER_ENV, "").encode("utf-8")


def digest_matches(stored: str | None, digest: str) -> bool:
    """Does a looked-up key's stored digest match? Compared in constant time, and compared
    even when nothing was found, so an unknown key costs what a known one does."""
    return hmac.compare_digest(stored if stored is not None else "0" * len(digest), digest)
