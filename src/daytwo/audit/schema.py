"""The audit tables. They live in the ledger's database (SQLite or PostgreSQL), created by the
ledger's migration ``v0009_audit``, and are described here on their own :data:`metadata`.

* ``audit_entries`` -- one row per audit entry, keyed by (``stream``, ``seq``). A stream is one
  writer's chain: ``replica:<id>`` for a gateway replica's calls, ``control`` for admin and
  config changes (written by whichever process makes the change, in the change's own
  transaction). ``data`` is the entry's canonical JSON (see :mod:`daytwo.audit.chain`), the
  exact bytes its ``hash`` covers; ``at``, ``kind``, ``subject``, ``actor`` and ``project`` are
  copies of fields of ``data`` for searching (verification checks they agree).
* ``audit_heads`` -- each stream's last ``seq`` and ``hash`` (and, for a replica stream, the
  process that owns it): appending reads and moves the head in one transaction.
* ``audit_digests`` -- signed digests, keyed by (``stream``, ``n``): each covers its stream's
  entries ``first_seq..last_seq`` (none when ``first_seq > last_seq``) and names the previous
  digest's signature. ``data`` is the signed canonical JSON; ``signature`` its Ed25519 signature.
* ``audit_keys`` -- the public keys digests were signed with, by key id (verification takes the
  public key from the operator; these say which key a digest claims).
* ``call_content`` -- what a call sent and received, as its capture policy allows (``redacted``
  or ``full``): compressed canonical JSON, its digest (named by the call's audit entry), what
  was redacted, and when it expires.
* ``config_checkpoints`` -- every effective config a gateway ran, by its hash (the
  ``calls.config_hash`` of the calls it governed). Secrets appear as references only.
"""

from __future__ import annotations

import sqlalchemy as sa

from daytwo.ledger.schema import NAMING_CONVENTION
from daytwo.ledger.schema import text_column as _text

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

audit_heads = sa.Table(
    "audit_heads",
    metadata,
    _text("stream", nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    _text("hash", nullable=False),
    _text("owner"),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint("stream", name="pk_audit_heads"),
)

audit_entries = sa.Table(
    "audit_entries",
    metadata,
    _text("stream", nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("at", sa.Double(), nullable=False),
    _text("kind", nullable=False),
    _text("subject", nullable=False),
    _text("actor", nullable=False),
    _text("project"),
    _text("data", nullable=False),
    _text("prev_hash", nullable=False),
    _text("hash", nullable=False),
    sa.PrimaryKeyConstraint("stream", "seq", name="pk_audit_entries"),
    sa.Index("ix_audit_entries_at", "at"),
    sa.Index("ix_audit_entries_subject", "subject"),
)

audit_digests = sa.Table(
    "audit_digests",
    metadata,
    _text("stream", nullable=False),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sa.Column("at", sa.Double(), nullable=False),
    sa.Column("first_seq", sa.BigInteger(), nullable=False),
    sa.Column("last_seq", sa.BigInteger(), nullable=False),
    _text("key_id", nullable=False),
    _text("data", nullable=False),
    _text("signature", nullable=False),
    sa.PrimaryKeyConstraint("stream", "n", name="pk_audit_digests"),
    sa.Index("ix_audit_digests_at", "at"),
)

audit_keys = sa.Table(
    "audit_keys",
    metadata,
    _text("key_id", nullable=False),
    _text("public_key", nullable=False),
    sa.Column("first_at", sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint("key_id", name="pk_audit_keys"),
)

call_content = sa.Table(
    "call_content",
    metadata,
    _text("call_id", nullable=False),
    sa.Column("at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=True),
    _text("project", nullable=False),
    _text("workflow"),
    _text("mode", nullable=False),  # "redacted" | "full"
    _text("codec", nullable=False),  # "zlib"
    sa.Column("content", sa.LargeBinary(), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),  # bytes before compression
    _text("digest", nullable=False),  # sha256 hex of the uncompressed canonical JSON
    _text("redactions"),  # JSON object: "<detector>@<version>" -> count
    sa.Column("vault", sa.LargeBinary(), nullable=True),  # reversible mode: sealed originals
    _text("vault_key"),  # the vault key's id
    sa.PrimaryKeyConstraint("call_id", name="pk_call_content"),
    sa.Index("ix_call_content_expires_at", "expires_at"),
)

config_checkpoints = sa.Table(
    "config_checkpoints",
    metadata,
    _text("hash", nullable=False),
    sa.Column("first_at", sa.Double(), nullable=False),
    _text("config", nullable=False),
    sa.PrimaryKeyConstraint("hash", name="pk_config_checkpoints"),
)
