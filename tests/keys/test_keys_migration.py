"""Migration 0002 adds the keys tables on top of an existing 0001 ledger, and the migrated
schema is exactly the ledger's metadata plus the keys' metadata."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from tests.keys.migrations import migrate, revision

from daytwo.keys.model import KeySpec
from daytwo.keys.schema import metadata as keys_metadata
from daytwo.keys.store import KeyStore
from daytwo.ledger.migrate import VERSION_TABLE, current_revision

#: 2024-05-01T00:00:00Z, the controlled clock's start (same as conftest).
T0 = 1_714_521_600.0
#: Tables that migrations after 0002 add to the keys' metadata.
_LATER = {"admin_tokens"}


def test_0002_follows_0001() -> None:
    assert revision("0002").down_revision == "0001"


def test_0002_applies_on_a_0001_ledger_with_data_and_matches_the_metadata(
    engine: sa.Engine,
) -> None:
    migrate(engine, "0001")
    with engine.connect() as conn:
        assert current_revision(conn) == "0001"
        assert not sa.inspect(conn).has_table("virtual_keys")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO rollup_daily_user (day_start, \"user\") VALUES (0, 'u')"))
    migrate(engine, "0002")
    with engine.connect() as conn:
        assert current_revision(conn) == "0002"
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        # The keys' tables as 0002 made them (the ledger's own drift test covers its tables;
        # later migrations add admin_tokens (0003) and the ledger's attempts (0004)).
        diff = compare_metadata(ctx, keys_metadata)
        ours = set(keys_metadata.tables)
        assert [
            d
            for d in diff
            if not (d[0] == "add_table" and d[1].name in _LATER)
            and not (d[0] == "remove_table" and d[1].name not in ours)
            and not (d[0] == "remove_index" and d[1].table.name not in ours)
        ] == []
        n = conn.execute(sa.text("SELECT count(*) FROM rollup_daily_user")).scalar()
        assert n == 1


def test_0002_downgrades_cleanly(engine: sa.Engine) -> None:
    migrate(engine, "0002")
    migrate(engine, "0001", down=True)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert current_revision(conn) == "0001"
    assert not {"virtual_keys", "admin_events"} & tables
    assert "calls" in tables


def test_a_store_opened_on_a_fresh_database_has_the_keys_tables(db_url: str) -> None:
    with KeyStore.open(db_url) as store:
        store.create(KeySpec(project="p"), actor="x", now=T0)
        with store.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
    assert {"virtual_keys", "admin_events", "calls"} <= tables
