"""Changes nobody made: every call records the provider's fingerprint of the system that served
it.

* ``calls`` gains ``system_fingerprint`` (OpenAI's ``system_fingerprint``; NULL where the
  provider reports none, and for every call stored before this revision). With
  ``served_model`` it tells when a provider changed the model behind a deployment.

The column is added with ``ALTER TABLE ... ADD COLUMN`` on both databases (nullable, no
default: a metadata change, never a table rebuild).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("system_fingerprint", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("system_fingerprint")
