"""Reversible redaction: the originals a :class:`~daytwo.core.redact.Redactor` took out, sealed.

In reversible mode a capture stores the redacted content (markers ``[REDACTED:<name>:<n>]``)
and, beside it, the originals sealed with AES-256-GCM under the deployment's vault key: a random
12-byte nonce, then the ciphertext and its 16-byte tag. The call id is the associated data, so
originals sealed for one call cannot be opened as another's. Whoever holds the key can
:meth:`Vault.open` them and :func:`restore` the content exactly as it was received.

The key never leaves this object: errors and ``repr`` show only :attr:`Vault.key_id`, a public
fingerprint (the first 16 hex characters of ``sha256(b"daytwo-vault" + key)``) that a capture
records to say which key sealed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from daytwo.core.redact import REVERSIBLE_MARKER, map_strings

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_HEX = re.compile(r"[0-9a-fA-F]{64}")


class VaultError(Exception):
    """Sealed originals cannot be opened (wrong key, another call's, damaged) or do not fit the
    content they are restored into. The message never holds a key or an original."""


class Vault:
    """Seals and opens the originals of reversible redaction with one 32-byte key."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a vault key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        #: Public fingerprint of the key (never the key).
        self.key_id = hashlib.sha256(b"daytwo-vault" + key).hexdigest()[:16]

    @classmethod
    def from_secret(cls, text: str) -> Vault:
        """The vault for a key written as 64 hex characters or as base64 (standard or URL-safe,
        padded or not) of 32 bytes."""
        text = text.strip()
        if _HEX.fullmatch(text):
            return cls(bytes.fromhex(text))
        try:
            padded = text + "=" * (-len(text) % 4)
            key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise ValueError(
                f"a vault key must be {KEY_BYTES} random bytes written as 64 hex characters or "
                f"as base64 (44 characters); the value given ({len(text)} characters) is neither"
            )
        return cls(key)

    def __repr__(self) -> str:
        return f"Vault(key_id={self.key_id!r})"

    def seal(self, originals: list[str], aad: bytes) -> bytes:
        """``originals`` encrypted for the call ``aad``: nonce + ciphertext + tag."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, orjson.dumps(originals), aad)

    def open(self, blob: bytes, aad: bytes) -> list[str]:
        """The originals sealed for the call ``aad``, or VaultError."""
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise VaultError(
                f"sealed originals are {len(blob)} bytes, shorter than a nonce and a tag "
                f"({NONCE_BYTES + TAG_BYTES}): damaged or not sealed by a vault"
            )
        try:
            plain = self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise VaultError(
                f"cannot open the sealed originals with vault key {self.key_id}: another key "
                "sealed them, they belong to another call, or they were altered"
            ) from None
        originals = orjson.loads(plain)
        if not isinstance(originals, list) or not all(isinstance(o, str) for o in originals):
            raise VaultError("the sealed originals are not a list of strings")
        return originals


def restore(value: Any, originals: list[str]) -> Any:
    """``value`` (a text or a JSON-like tree produced in reversible mode) with every marker
    ``[REDACTED:<name>:<n>]`` replaced by ``originals[n]``; a new tree, ``value`` unchanged. A
    marker whose index has no original raises VaultError; a non-JSON-like value TypeError."""
    return map_strings(value, lambda s: _restore_text(s, originals))


def _restore_text(text: str, originals: list[str]) -> str:
    if "[REDACTED:" not in text:
        return text

    def original(m: re.Match[str]) -> str:
        n = int(m.group(2))
        if n >= len(originals):
            raise VaultError(
                f"marker {m.group()} has no original ({len(originals)} sealed): the originals "
                "belong to other content"
            )
        return originals[n]

    return REVERSIBLE_MARKER.sub(original, text)
