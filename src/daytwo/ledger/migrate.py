"""Running the ledger's Alembic migrations programmatically (no alembic.ini on the user's machine).

The migration scripts ship inside the package (``daytwo/ledger/migrations``). The version is kept
in its own table, ``daytwo_ledger_version``, so the ledger can share a PostgreSQL database with
other tools that use Alembic. Concurrent openers (several replicas starting at once) are
serialised: PostgreSQL by a transaction-level advisory lock, SQLite by ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "daytwo_ledger_version"
#: The newest revision. A test checks it against the scripts, so a new migration must bump it.
HEAD = "0011"
#: Arbitrary constant key of the PostgreSQL advisory lock held while migrating.
_PG_LOCK_KEY = 0x6461_7974_776F_6C67 & 0x7FFF_FFFF_FFFF_FFFF


def current_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    rev = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608  # constant name
    return None if rev is None else str(rev)


def upgrade_head(engine: sa.Engine) -> None:
    """Bring the schema to :data:`HEAD`. Cheap when it already is (Alembic is not even imported)."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:
            return
    # Imported here: Alembic costs ~100 ms of import time that `daytwo spend` should not pay.
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as conn:
        conn.execution_options(daytwo_begin="IMMEDIATE")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
