"""The Alembic migrations (`migrate.py`, `migrations/`) build exactly the schema."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from daytwo.core.record import CallRecord
from daytwo.keys.schema import metadata as keys_metadata
from daytwo.ledger.migrate import HEAD, MIGRATIONS_DIR, VERSION_TABLE, current_revision
from daytwo.ledger.schema import metadata
from daytwo.ledger.store import LedgerStore, open_store


def test_migrated_schema_has_no_drift_from_the_metadata(store: LedgerStore) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        # one database, one migration chain: the ledger tables and the virtual-keys tables
        diff = compare_metadata(ctx, [metadata, keys_metadata])  # type: ignore[arg-type]
        assert diff == []
        assert current_revision(conn) == HEAD
        tables = set(sa.inspect(conn).get_table_names())
    assert {"calls", "rollup_hourly", "rollup_daily_user", VERSION_TABLE} <= tables
    assert "alembic_version" not in tables  # leaves other tools' Alembic alone


def test_head_constant_matches_the_migration_scripts() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD]


def test_reopening_keeps_data_and_version(
    db_url: str, make_record: Callable[..., CallRecord]
) -> None:
    with open_store(db_url) as s:
        s.insert_batch([make_record()])
    with open_store(db_url) as s:
        assert s.count_calls() == 1
        with s.engine.connect() as conn:
            assert current_revision(conn) == HEAD


@pytest.mark.postgres
@pytest.mark.integration
def test_replicas_opening_a_fresh_postgres_at_once_all_succeed(pg_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_one() -> None:
        try:
            barrier.wait(timeout=10)
            open_store(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with open_store(pg_url) as s, s.engine.connect() as conn:
        assert current_revision(conn) == HEAD
