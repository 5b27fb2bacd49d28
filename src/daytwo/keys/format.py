"""The shape of a virtual key: recognisable, checkable and unguessable without the database.

A secret key is ``dt2_sk_`` + 32 random base62 characters (190 bits from :mod:`secrets`) +
a 6-character base62 CRC32 of everything before it. The checksum lets secret scanners, the
redactor (``daytwo.core.secrets`` scrubs every ``dt2_<kind>_<random>`` string) and
``daytwo keys check`` tell a well-formed leaked key from noise, and catches any one-character
typo before a database is asked. It adds no secrecy: it is computed from the public prefix
and the random part.

A key id (``key_`` + 10 base62 characters) names a key in the CLI, the admin log and the
ledger's ``key_id`` column. It is public; the secret is shown once, at creation, and never
again.

The helpers take the kind's ``prefix`` (default: virtual keys), so other daytwo credentials
share the shape: admin tokens are ``dt2_adm_…`` with ids ``adm_…``
(:mod:`daytwo.keys.admin_tokens`).
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_PREFIX = "dt2_sk_"  # noqa: S105  # the public prefix, not a secret
RANDOM_LEN = 32
CHECKSUM_LEN = 6
KEY_LEN = len(SECRET_PREFIX) + RANDOM_LEN + CHECKSUM_LEN
KEY_ID_PREFIX = "key_"
KEY_ID_RANDOM_LEN = 10
#: Random characters kept in the display prefix (``dt2_sk_ab12…``): ~24 public bits.
DISPLAY_RANDOM_LEN = 4

_BASE62 = frozenset(ALPHABET)


class KeyFormatError(ValueError):
    """A string is not a well-formed daytwo key. The message never contains the string."""


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    return "".join(reversed(out))


def checksum(body: str) -> str:
    """The 6-character base62 CRC32 of ``body`` (the prefix and the random part)."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LEN)


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def new_secret(prefix: str = SECRET_PREFIX) -> str:
    """A fresh secret, e.g. ``dt2_sk_`` + 32 random + 6 checksum characters."""
    body = prefix + _random(RANDOM_LEN)
    return body + checksum(body)


def new_key_id(prefix: str = KEY_ID_PREFIX) -> str:
    return prefix + _random(KEY_ID_RANDOM_LEN)


@dataclass(frozen=True, slots=True)
class ParsedKey:
    random: str
    checksum: str
    prefix: str = SECRET_PREFIX

    @property
    def display_prefix(self) -> str:
        return self.prefix + self.random[:DISPLAY_RANDOM_LEN]


def parse_secret(text: str, prefix: str = SECRET_PREFIX) -> ParsedKey:
    """Split a secret into its parts, or raise :class:`KeyFormatError` saying what is wrong."""
    if not text.startswith(prefix):
        raise KeyFormatError(f"a daytwo key starts with {prefix}")
    length = len(prefix) + RANDOM_LEN + CHECKSUM_LEN
    if len(text) != length:
        raise KeyFormatError(f"a daytwo key is {length} characters long, this is {len(text)}")
    rest = text[len(prefix) :]
    if not set(rest) <= _BASE62:
        raise KeyFormatError("a daytwo key holds only letters and digits after its prefix")
    body, check = text[:-CHECKSUM_LEN], text[-CHECKSUM_LEN:]
    if not secrets.compare_digest(checksum(body), check):
        raise KeyFormatError("the checksum does not match: the key is mistyped or truncated")
    return ParsedKey(random=rest[:RANDOM_LEN], checksum=check, prefix=prefix)


def is_well_formed(text: str, prefix: str = SECRET_PREFIX) -> bool:
    try:
        parse_secret(text, prefix)
    except KeyFormatError:
        return False
    return True


def display_prefix(secret: str, prefix: str = SECRET_PREFIX) -> str:
    """``dt2_sk_ab12`` for a well-formed key (shown as ``dt2_sk_ab12…``)."""
    return parse_secret(secret, prefix).display_prefix


def is_key_id(text: str, prefix: str = KEY_ID_PREFIX) -> bool:
    return (
        len(text) == len(prefix) + KEY_ID_RANDOM_LEN
        and text.startswith(prefix)
        and set(text[len(prefix) :]) <= _BASE62
    )
