"""The keys' tables. They live in the ledger's database (SQLite or PostgreSQL), created by the
ledger's migration ``v0002_keys``, and are described here on their own :data:`metadata`.

* ``virtual_keys`` -- one row per key ever issued. ``hash`` is HMAC-SHA256(pepper, secret) in
  hex, never the secret; ``prefix`` (``dt2_sk_ab12``) is what people see. Times are Unix
  seconds. ``allowed_models`` is a JSON list (NULL: every model); ``budget`` is the spec text
  (``50/day``), enforced by control/.
* ``admin_events`` -- the admin audit log: who did what to which target, with the target's
  JSON before and after. Written in the same transaction as the change it describes.
* ``admin_tokens`` -- credentials of the admin API (migration ``v0003_admin_tokens``): the
  peppered hash of a ``dt2_adm_…`` token, its role and optional project. See
  :mod:`daytwo.keys.admin_tokens`.
"""

from __future__ import annotations

import sqlalchemy as sa

from daytwo.ledger.schema import NAMING_CONVENTION
from daytwo.ledger.schema import text_column as _text

# The keys live in the ledger's database: same naming convention, their own metadata.
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


virtual_keys = sa.Table(
    "virtual_keys",
    metadata,
    _text("id", nullable=False),
    _text("hash", nullable=False),
    _text("prefix", nullable=False),
    _text("project", nullable=False),
    _text("workflow"),
    _text("feature"),
    _text("environment"),
    _text("allowed_models"),
    _text("budget"),
    sa.Column("rpm", sa.Integer(), nullable=True),
    sa.Column("tpm", sa.BigInteger(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("expires_at", sa.Double(), nullable=True),
    sa.Column("revoked_at", sa.Double(), nullable=True),
    _text("rotated_from"),
    sa.Column("grace_until", sa.Double(), nullable=True),
    _text("created_by", nullable=False),
    _text("description"),
    sa.PrimaryKeyConstraint("id", name="pk_virtual_keys"),
    sa.UniqueConstraint("hash", name="uq_virtual_keys_hash"),
    sa.Index("ix_virtual_keys_project", "project"),
)

admin_events = sa.Table(
    "admin_events",
    metadata,
    sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
    sa.Column("at", sa.Double(), nullable=False),
    _text("actor", nullable=False),
    _text("action", nullable=False),
    _text("target", nullable=False),
    _text("before"),
    _text("after"),
    sa.PrimaryKeyConstraint("id", name="pk_admin_events"),
    sa.Index("ix_admin_events_target", "target"),
    sa.Index("ix_admin_events_at", "at"),
)

admin_tokens = sa.Table(
    "admin_tokens",
    metadata,
    _text("id", nullable=False),
    _text("hash", nullable=False),
    _text("prefix", nullable=False),
    _text("role", nullable=False),
    _text("project"),
    _text("name"),
    sa.Column("created_at", sa.Double(), nullable=False),
    _text("created_by", nullable=False),
    sa.Column("revoked_at", sa.Double(), nullable=True),
    sa.PrimaryKeyConstraint("id", name="pk_admin_tokens"),
    sa.UniqueConstraint("hash", name="uq_admin_tokens_hash"),
)
