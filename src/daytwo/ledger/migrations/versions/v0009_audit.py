"""The audit trail: hash-chained entries per stream, signed digests, the public keys that signed
them, captured call content, config checkpoints; and two ``calls`` columns a call's audit
summary names: the client's address and the config checkpoint it ran under.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("client_ip", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("config_hash", sa.Text(), nullable=True))
    op.create_index("ix_calls_key_id_started_at", "calls", ["key_id", "started_at"])
    op.create_table(
        "audit_heads",
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("stream", name="pk_audit_heads"),
    )
    # The control stream's head exists from the start, so that its first appends lock a row
    # (two processes can never both start the chain).
    op.execute(
        "INSERT INTO audit_heads (stream, seq, hash, owner, updated_at) "
        "VALUES ('control', 0, '" + "0" * 64 + "', NULL, 0)"
    )
    op.create_table(
        "audit_entries",
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.Text(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("stream", "seq", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_at", "audit_entries", ["at"])
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject"])
    op.create_table(
        "audit_digests",
        sa.Column("stream", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("stream", "n", name="pk_audit_digests"),
    )
    op.create_index("ix_audit_digests_at", "audit_digests", ["at"])
    op.create_table(
        "audit_keys",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("first_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_audit_keys"),
    )
    op.create_table(
        "call_content",
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("workflow", sa.Text(), nullable=True),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("codec", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("redactions", sa.Text(), nullable=True),
        sa.Column("vault", sa.LargeBinary(), nullable=True),
        sa.Column("vault_key", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", name="pk_call_content"),
    )
    op.create_index("ix_call_content_expires_at", "call_content", ["expires_at"])
    op.create_table(
        "config_checkpoints",
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("first_at", sa.Double(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hash", name="pk_config_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("config_checkpoints")
    op.drop_index("ix_call_content_expires_at", table_name="call_content")
    op.drop_table("call_content")
    op.drop_table("audit_keys")
    op.drop_index("ix_audit_digests_at", table_name="audit_digests")
    op.drop_table("audit_digests")
    op.drop_index("ix_audit_entries_subject", table_name="audit_entries")
    op.drop_index("ix_audit_entries_at", table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_table("audit_heads")
    op.drop_index("ix_calls_key_id_started_at", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("config_hash")
        batch.drop_column("client_ip")
