"""The Alembic migrations (`migrate.py`, `migrations/`) build exactly the schema."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from tests.ledger.conftest import T0
from tests.ledger.oracle import assert_rollups_match_raw

from daytwo.alerts.schema import metadata as alerts_metadata
from daytwo.audit.schema import metadata as audit_metadata
from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.keys.schema import metadata as keys_metadata
from daytwo.ledger.codec import ROW_COLUMNS, to_row
from daytwo.ledger.migrate import HEAD, MIGRATIONS_DIR, VERSION_TABLE, current_revision
from daytwo.ledger.report import spend_report
from daytwo.ledger.rollup import aggregate
from daytwo.ledger.schema import METRICS, metadata
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.rollout.schema import metadata as rollout_metadata


def test_migrated_schema_has_no_drift_from_the_metadata(store: LedgerStore) -> None:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        # one database, one migration chain: the ledger's, the virtual keys' and the alerts'
        schemas = [metadata, keys_metadata, alerts_metadata, audit_metadata, rollout_metadata]
        diff = compare_metadata(ctx, schemas)  # type: ignore[arg-type]
        assert diff == []
        assert current_revision(conn) == HEAD
        tables = set(sa.inspect(conn).get_table_names())
    assert {"calls", "attempts", "rollup_hourly", "rollup_daily_user", VERSION_TABLE} <= tables
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


def _upgrade_to(url: str, revision: str) -> None:
    """Migrate a fresh database to an older revision, as an older daytwo left it."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


#: The calls columns migration 0009 added (rows written "as" an older revision lack them).
#: Columns added by 0009 (client_ip, config_hash), 0010 (degraded) and 0011 (rollout_*).
SINCE_0009 = ("client_ip", "config_hash", "degraded", "rollout_id", "rollout_arm")


def _write_as_0003(url: str, records: list[CallRecord]) -> None:
    """What the 0003 writer stored: the calls row without the new columns, and rollups of the
    metrics that existed then (the new ones are appended at the end of METRICS)."""
    old_columns = [
        c
        for c in ROW_COLUMNS
        if c not in ("cache_status", "saved_nanousd", "system_fingerprint", *SINCE_0009)
        and "prompt_" not in c
    ]
    old_metrics = METRICS[: METRICS.index("extra_attempts")]
    hourly, daily = aggregate(records)
    hourly = [row for row in hourly if row[0] not in ("prompt", "prompt_version")]  # since 0006
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            rows = [dict(zip(ROW_COLUMNS, to_row(r), strict=True)) for r in records]
            conn.execute(
                sa.table("calls", *map(sa.column, old_columns)).insert(),
                [{c: row[c] for c in old_columns} for row in rows],
            )
            for name, keys, table_rows in (
                ("rollup_hourly", ("dim", "hour_start", "value"), hourly),
                ("rollup_daily_user", ("day_start", "user"), daily),
            ):
                columns = (*keys, *old_metrics)
                conn.execute(
                    sa.table(name, *map(sa.column, columns)).insert(),
                    [dict(zip(columns, row, strict=False)) for row in table_rows],
                )
    finally:
        engine.dispose()


def test_upgrading_from_0003_keeps_the_data_and_backfills_extra_attempts(
    db_url: str, make_record: Callable[..., CallRecord]
) -> None:
    old = [
        make_record(started_at=T0 + 60),
        make_record(started_at=T0 + 120, attempts=2),
        # another hour, user, workflow and provider: extra_attempts is backfilled for each
        make_record(started_at=T0 - 10, attempts=4, user="u1", workflow="wf", provider="x"),
    ]
    _upgrade_to(db_url, "0003")
    _write_as_0003(db_url, old)
    new = make_record(
        started_at=T0 + 180,
        attempts=2,
        attempt_log=(
            AttemptRecord(1, T0 + 180, 5.0, "openai", "d", "m", "error", 500, cost_nanousd=9),
            AttemptRecord(2, T0 + 181, 5.0, "openai", "d", "m", "ok"),
        ),
    )
    hit = make_record(started_at=T0 + 240, cache_status="hit", saved_nanousd=700, attempts=0)
    with open_store(db_url) as s:
        with s.engine.connect() as conn:
            assert current_revision(conn) == HEAD
        assert [s.get_call(r.id) for r in old] == old  # cache_status, saved: NULL
        s.insert_batch([new, hit, *old])  # the old ones are not counted again
        assert s.count_calls() == 5
        assert s.get_call(new.id) == new
        t = spend_report(
            s,
            start=datetime.fromtimestamp(T0, UTC),
            end=datetime.fromtimestamp(T0 + 3600, UTC),
            by="provider",
        ).totals
        assert (t.calls, t.cost_nanousd, t.retried_calls) == (4, 4_000, 2)
        assert (t.extra_attempts, t.failed_attempts, t.failed_attempt_cost_nanousd) == (2, 1, 9)
        assert (t.cache_hits, t.replays, t.saved_nanousd) == (1, 0, 700)
        with s.connect() as conn:
            assert_rollups_match_raw(conn)  # the backfilled hours included


def test_0006_adds_the_prompt_columns_and_keeps_older_rows(
    db_url: str, make_record: Callable[..., CallRecord]
) -> None:
    """A database left at 0005 upgrades in place: its rows read back with no prompt, and new
    rows keep the prompt that made them."""
    _upgrade_to(db_url, "0005")
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        old = make_record()
        row = dict(zip(ROW_COLUMNS, to_row(old), strict=True))
        with engine.begin() as conn:
            columns = [
                c
                for c in ROW_COLUMNS
                if not c.startswith("prompt_") and c not in ("system_fingerprint", *SINCE_0009)
            ]
            conn.execute(
                sa.table("calls", *map(sa.column, columns)).insert(),
                [{c: row[c] for c in columns}],
            )
    finally:
        engine.dispose()
    new = make_record(
        prompt_name="support-reply",
        prompt_version=4,
        prompt_label="staging",
        prompt_hash="sha256:ab",
    )
    with open_store(db_url) as s:
        s.insert_batch([new])
        before, after = s.get_call(old.id), s.get_call(new.id)
    assert before is not None and after is not None
    assert before.prompt_name is None and before.prompt_version is None
    assert (after.prompt_name, after.prompt_version) == ("support-reply", 4)
    assert (after.prompt_label, after.prompt_hash) == ("staging", "sha256:ab")


def test_0007_adds_system_fingerprint_and_keeps_older_rows(
    db_url: str, make_record: Callable[..., CallRecord]
) -> None:
    """A database left at 0006 upgrades in place: its rows read back with no fingerprint, and
    new rows keep the one the provider reported."""
    _upgrade_to(db_url, "0006")
    old = make_record(served_model="gpt-4o-mini-2024-07-18")
    row = dict(zip(ROW_COLUMNS, to_row(old), strict=True))
    columns = [c for c in ROW_COLUMNS if c not in ("system_fingerprint", *SINCE_0009)]
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.table("calls", *map(sa.column, columns)).insert(),
                [{c: row[c] for c in columns}],
            )
    finally:
        engine.dispose()
    new = make_record(served_model="gpt-4o-mini-2025-01-01", fingerprint="fp_0a1b2c3d4e")
    with open_store(db_url) as s:
        s.insert_batch([new])
        assert s.count_calls() == 2
        before, after = s.get_call(old.id), s.get_call(new.id)
        with s.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT id, system_fingerprint FROM calls ORDER BY id")
            ).all()
    assert before == old  # every field as stored before the upgrade, the fingerprint None
    assert after == new
    assert [tuple(r) for r in stored] == [(old.id, None), (new.id, "fp_0a1b2c3d4e")]


def test_0010_adds_degraded_and_keeps_older_rows(
    db_url: str, make_record: Callable[..., CallRecord]
) -> None:
    """A database left at 0009 upgrades in place: its rows read back not degraded, and new
    rows keep how a degraded call was answered."""
    _upgrade_to(db_url, "0009")
    old = make_record(client_ip="10.0.0.7")
    row = dict(zip(ROW_COLUMNS, to_row(old), strict=True))
    columns = [c for c in ROW_COLUMNS if c not in ("degraded", "rollout_id", "rollout_arm")]
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.table("calls", *map(sa.column, columns)).insert(),
                [{c: row[c] for c in columns}],
            )
    finally:
        engine.dispose()
    new = make_record(degraded="static", cost_nanousd=0)
    with open_store(db_url) as s:
        s.insert_batch([new])
        before, after = s.get_call(old.id), s.get_call(new.id)
    assert before == old and before is not None and before.degraded is None
    assert after == new and after is not None and after.degraded == "static"
