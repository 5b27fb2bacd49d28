"""Alembic environment of the ledger. Runs only with a connection handed in by ``migrate.py``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from daytwo.ledger.migrate import VERSION_TABLE
from daytwo.ledger.schema import metadata


def run() -> None:
    conn = context.config.attributes.get("connection")
    if not isinstance(conn, sa.Connection):
        raise RuntimeError("the ledger migrations run through daytwo.ledger.migrate.upgrade_head")
    context.configure(
        connection=conn,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=conn.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
