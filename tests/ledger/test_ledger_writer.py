"""``ledger/writer.py``: nothing submitted is lost -- not on close, not when the queue is full,
not while the database is down, not because of one bad record."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from daytwo.config.schema import LedgerConfig
from daytwo.core.record import CallRecord
from daytwo.ledger.store import open_store
from daytwo.ledger.writer import Ledger

MakeRecord = Callable[..., CallRecord]
Outage = Callable[[], AbstractContextManager[None]]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


def _cfg(url: str, **kw: int) -> LedgerConfig:
    return LedgerConfig(url=url, **kw)


def _count(url: str) -> int:
    with open_store(url) as s:
        return s.count_calls()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@contextmanager
def _sqlite_locked(url: str) -> Iterator[sa.Connection]:
    """Another connection holds SQLite's write lock: every write fails with 'locked'."""
    engine = sa.create_engine(url.split("?")[0])
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
            try:
                yield conn
            finally:
                conn.exec_driver_sql("ROLLBACK")
    finally:
        engine.dispose()


@contextmanager
def _pg_down(url: str) -> Iterator[None]:
    """The database refuses connections and every open one is killed (as in a restart)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.fixture
def ledger_url(db_url: str) -> str:
    # SQLite: wait at most 50 ms for a lock, so a locked file fails fast in these tests.
    return f"{db_url}?timeout=0.05" if db_url.startswith("sqlite") else db_url


@pytest.fixture
def outage(ledger_url: str) -> Outage:
    """A context manager during which the database takes no writes."""
    if ledger_url.startswith("sqlite"):
        return lambda: _sqlite_locked(ledger_url)  # type: ignore[return-value]
    return lambda: _pg_down(ledger_url)


def test_close_drains_everything(ledger_url: str, tmp_path: Path, make_record: MakeRecord) -> None:
    ledger = Ledger.open(
        _cfg(ledger_url, batch_size=100, flush_interval_ms=20), spill_path=str(tmp_path / "s")
    )
    for _ in range(5_000):
        ledger.submit(make_record())
    ledger.close(timeout_s=60)
    assert _count(ledger_url) == 5_000
    stats = ledger.stats()
    assert (stats.written, stats.queued, stats.spilled, stats.rejected) == (5_000, 0, 0, 0)


def test_flush_returns_once_everything_is_stored(
    ledger_url: str, tmp_path: Path, make_record: MakeRecord
) -> None:
    # A long flush interval: only flush() can make these records visible quickly.
    ledger = Ledger.open(_cfg(ledger_url, flush_interval_ms=60_000), spill_path=str(tmp_path / "s"))
    try:
        for _ in range(10):
            ledger.submit(make_record())
        assert ledger.flush(timeout_s=10)
        assert ledger.store.count_calls() == 10
        assert ledger.stats().queued == 0
    finally:
        ledger.close(10)


def test_full_queue_spills_to_disk_and_replays_when_caught_up(
    ledger_url: str, tmp_path: Path, make_record: MakeRecord, outage: Outage
) -> None:
    spill = tmp_path / "spill.jsonl"
    ledger = Ledger.open(
        _cfg(ledger_url, queue_size=100, batch_size=50, flush_interval_ms=10),
        spill_path=str(spill),
    )
    try:
        with outage():
            for _ in range(1_000):
                ledger.submit(make_record())
            # At most queue_size + one batch stay in memory; the rest is on disk, and the
            # spilled counter agrees with the file once the writer has finished appending
            # (the file grows during an append, the counter moves after it).
            wait_for(lambda: ledger.stats().spilled == len(_lines(spill)) >= 1_000 - 100 - 50)
        assert ledger.flush(timeout_s=30)
        assert ledger.store.count_calls() == 1_000
        assert not spill.exists() or _lines(spill) == []
        assert list(tmp_path.glob("spill.jsonl.*")) == []  # replay files are removed
    finally:
        ledger.close(10)


def test_writer_keeps_and_retries_a_batch_while_the_database_is_down(
    ledger_url: str,
    tmp_path: Path,
    make_record: MakeRecord,
    outage: Outage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="daytwo.ledger")
    ledger = Ledger.open(_cfg(ledger_url, flush_interval_ms=10), spill_path=str(tmp_path / "s"))
    try:
        assert ledger.flush(10)  # connected, and the pool holds a live connection
        with outage():
            for _ in range(300):
                ledger.submit(make_record())
            wait_for(lambda: ledger.stats().write_errors >= 2)
            assert ledger.stats().queued == 300
        assert ledger.flush(timeout_s=30)
        assert ledger.store.count_calls() == 300
    finally:
        ledger.close(10)
    messages = [r.getMessage() for r in caplog.records if r.name == "daytwo.ledger"]
    assert any("failed (attempt 1" in m for m in messages)
    assert any("succeeded again" in m for m in messages)
    assert not any("postgres@" in m for m in messages)  # no connection strings in logs


def test_close_while_the_database_is_down_spills_and_the_next_open_replays(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}?timeout=0.05"
    spill = tmp_path / "spill.jsonl"
    first = Ledger.open(_cfg(url, flush_interval_ms=10), spill_path=str(spill))
    with _sqlite_locked(url) as holder:
        for _ in range(500):
            first.submit(make_record())
        started = time.monotonic()
        first.close(timeout_s=1.0)
        assert time.monotonic() - started < 1.5
        assert len(_lines(spill)) == 500
        assert holder.exec_driver_sql("SELECT count(*) FROM calls").scalar() == 0
    second = Ledger.open(_cfg(url), spill_path=str(spill))
    try:
        assert second.flush(timeout_s=30)
        assert second.store.count_calls() == 500
        assert _lines(spill) == []
    finally:
        second.close(10)


def test_a_record_the_database_refuses_is_set_aside_alone(
    ledger_url: str,
    tmp_path: Path,
    make_record: MakeRecord,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="daytwo.ledger")
    spill = tmp_path / "spill.jsonl"
    ledger = Ledger.open(_cfg(ledger_url, batch_size=1_000), spill_path=str(spill))
    try:
        records = [make_record() for _ in range(100)]
        poison = make_record(id="poison", input_tokens=2**70)
        for r in [*records[:40], poison, *records[40:]]:
            ledger.submit(r)
        assert ledger.flush(timeout_s=30)
        assert ledger.store.count_calls() == 100
        assert ledger.store.get_call("poison") is None
        assert ledger.stats().rejected == 1
    finally:
        ledger.close(10)
    rejected = _lines(tmp_path / "spill.jsonl.rejected")
    assert len(rejected) == 1
    assert json.loads(rejected[0])["input_tokens"] == 2**70  # kept exactly, for a human to fix
    assert any("poison" in r.getMessage() for r in caplog.records)


def test_a_record_submitted_after_close_is_spilled_not_lost(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    spill = tmp_path / "spill.jsonl"
    ledger = Ledger.open(_cfg(url), spill_path=str(spill))
    ledger.close(10)
    ledger.submit(make_record(id="late"))  # must not raise
    assert len(_lines(spill)) == 1
    again = Ledger.open(_cfg(url), spill_path=str(spill))
    try:
        assert again.flush(10)
        assert again.store.get_call("late") is not None
    finally:
        again.close(10)


def test_default_spill_file_sits_next_to_the_sqlite_file(tmp_path: Path) -> None:
    ledger = Ledger.open(_cfg(f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        assert ledger.spill_path == tmp_path / "x.db.spill.jsonl"
        assert ledger.stats().last_flush_age_s < 60
    finally:
        ledger.close(10)
