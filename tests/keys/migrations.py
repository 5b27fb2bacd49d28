"""Driving the ledger's Alembic migrations step by step, for the tests of the migrations that
add the keys' tables (0002) and the admin tokens' (0003)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory

from daytwo.ledger.migrate import MIGRATIONS_DIR


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def revision(rev: str) -> Script:
    script = ScriptDirectory.from_config(alembic_config()).get_revision(rev)
    assert script is not None
    return script


def migrate(engine: sa.Engine, target: str, *, down: bool = False) -> None:
    """Upgrade (or, with ``down``, downgrade) the database to revision ``target``."""
    cfg = alembic_config()
    with engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)
