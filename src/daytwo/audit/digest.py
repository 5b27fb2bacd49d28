"""Signed digests over the chains, as AWS CloudTrail's digest files: at a fixed interval (and at
shutdown) each stream gets a digest naming the entries it covers (``first_seq..last_seq``, none
for an empty interval: a digest is written anyway), the hash of the last one, and the previous
digest's signature, signed with Ed25519.

The signed bytes are the canonical JSON (:func:`daytwo.audit.chain.canonical`) of::

    {"stream", "n", "at", "period_start", "first_seq", "last_seq", "count", "last_hash",
     "prev_signature", "key_id"}

``key_id`` is the first 16 hex digits of the sha256 of the raw public key. Signing needs the
private key (by reference: ``audit.signing_key``); verifying needs only the public key
(:func:`public_pem`), which operators keep apart from the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from daytwo.audit.chain import GENESIS, canonical, read_head
from daytwo.audit.schema import audit_digests, audit_entries, audit_keys
from daytwo.core.errors import ConfigError
from daytwo.ledger.store import LedgerStore

log = logging.getLogger("daytwo.audit")


class SigningKeyError(ConfigError):
    """The signing key cannot be read or is not an Ed25519 private key."""

    def __init__(self, message: str) -> None:
        super().__init__([message])  # one problem (ConfigError takes a list of them)


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public(text: str | bytes) -> Ed25519PublicKey:
    """A public key from PEM (SubjectPublicKeyInfo) or base64 of the 32 raw bytes."""
    data = text.encode() if isinstance(text, str) else text
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip(), validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise SigningKeyError(f"not an Ed25519 public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError("not an Ed25519 public key")
    return key


@dataclass(frozen=True, slots=True)
class Signer:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private.sign(data)).decode()

    @classmethod
    def from_text(cls, text: str | bytes) -> Signer:
        """A private key from PEM (PKCS8, unencrypted) or base64 of the 32-byte seed."""
        data = text.encode() if isinstance(text, str) else text
        try:
            if b"-----BEGIN" in data:
                key = serialization.load_pem_private_key(data, password=None)
            else:
                key = Ed25519PrivateKey.from_private_bytes(
                    base64.b64decode(data.strip(), validate=True)
                )
        except (ValueError, TypeError, binascii.Error) as exc:
            raise SigningKeyError(f"the audit signing key is not usable: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the audit signing key is not an Ed25519 private key")
        return cls(key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


LOCAL_KEY = "audit-signing.pem"
#: Where a generated signing key is kept when the ledger is not a SQLite file.
STATE_DIR_ENV = "DAYTWO_STATE_DIR"


def local_key_path(store: LedgerStore) -> Path:
    """Where the gateway keeps the signing key it generates when none is configured: beside a
    SQLite ledger; else in ``$DAYTWO_STATE_DIR``, else ``~/.local/state/daytwo``."""
    where = store.sqlite_path
    if where is not None:
        return where.with_name(where.name + ".audit-key.pem")
    state = os.environ.get(STATE_DIR_ENV)
    base = Path(state) if state else Path.home() / ".local" / "state" / "daytwo"
    return base / LOCAL_KEY


def local_signer(path: Path) -> Signer:
    """The signer kept at ``path`` (created, mode 0600, when missing): for a gateway with no
    ``audit.signing_key``. Its public key is written beside it (``.pub``)."""
    if path.exists():
        return Signer.from_text(path.read_bytes())
    signer = Signer.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(signer.private_pem())
    path.with_name(path.name + ".pub").write_text(public_pem(signer.public))
    log.warning(
        "audit: no audit.signing_key configured; digests are signed with a key generated at %s "
        "(keep %s.pub somewhere the database's administrators cannot write)",
        path,
        path,
    )
    return signer


def verify_signature(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature), data)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Digest:
    stream: str
    n: int
    at: float
    first_seq: int
    last_seq: int
    key_id: str
    data: str
    signature: str

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = orjson.loads(self.data)
        return out


def write_digest(
    conn: sa.Connection, signer: Signer, stream: str, now: float | None = None
) -> Digest | None:
    """Sign the next digest of ``stream`` (inside the caller's write transaction): it covers
    the entries after the last digest's up to the head. None when another process wrote
    digest ``n`` meanwhile (the control stream is signed by any replica)."""
    now = time.time() if now is None else now
    seq, last_hash, _owner = read_head(conn, stream, lock=False)
    c = audit_digests.c
    prev = conn.execute(
        sa.select(c.n, c.last_seq, c.data, c.signature)
        .where(c.stream == stream)
        .order_by(c.n.desc())
        .limit(1)
    ).first()
    if prev is None:
        n, first, prev_sig = 1, 1, ""
        start_row = conn.execute(
            sa.select(sa.func.min(audit_entries.c.at)).where(audit_entries.c.stream == stream)
        ).scalar()
        period_start = float(start_row) if start_row is not None else now
    else:
        n, first, prev_sig = int(prev.n) + 1, int(prev.last_seq) + 1, str(prev.signature)
        period_start = float(orjson.loads(prev.data)["at"])
    if seq == 0:
        last_hash = GENESIS
    fields = {
        "stream": stream,
        "n": n,
        "at": now,
        "period_start": period_start,
        "first_seq": first,
        "last_seq": seq,
        "count": max(0, seq - first + 1),
        "last_hash": last_hash,
        "prev_signature": prev_sig,
        "key_id": signer.key_id,
    }
    data = canonical(fields)
    digest = Digest(
        stream=stream,
        n=n,
        at=now,
        first_seq=first,
        last_seq=seq,
        key_id=signer.key_id,
        data=data.decode(),
        signature=signer.sign(data),
    )
    remember_key(conn, signer, now)
    inserted = insert_ignore(
        conn,
        audit_digests,
        stream=digest.stream,
        n=digest.n,
        at=digest.at,
        first_seq=digest.first_seq,
        last_seq=digest.last_seq,
        key_id=digest.key_id,
        data=digest.data,
        signature=digest.signature,
    )
    return digest if inserted else None


def insert_ignore(conn: sa.Connection, table: sa.Table, **values: Any) -> bool:
    """Insert a row unless its key is taken; whether it was inserted."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: drivers may not report an INSERT's rowcount (psycopg: -1)
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


def remember_key(conn: sa.Connection, signer: Signer, now: float) -> None:
    kid = signer.key_id
    c = audit_keys.c
    if conn.execute(sa.select(c.key_id).where(c.key_id == kid)).first() is None:
        insert_ignore(
            conn, audit_keys, key_id=kid, public_key=public_pem(signer.public), first_at=now
        )


def last_digest_at(conn: sa.Connection, stream: str) -> float | None:
    c = audit_digests.c
    value = conn.execute(sa.select(sa.func.max(c.at)).where(c.stream == stream)).scalar()
    return None if value is None else float(value)
