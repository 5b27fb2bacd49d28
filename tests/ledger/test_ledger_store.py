"""``ledger/store.py``: round trips (attempts included), idempotent batches, error mapping,
SQLite settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.ledger.errors import LedgerError, LedgerNotFound, LedgerRejected, LedgerUnavailable
from daytwo.ledger.schema import attempts, rollup_hourly
from daytwo.ledger.store import LedgerStore, open_store

MakeRecord = Callable[..., CallRecord]


def _every_field_set() -> CallRecord:
    return CallRecord(
        id="01hzy7k3q8m2n4p6r8t0v2x4z6",
        started_at=1_714_521_600.123456,
        ended_at=1_714_521_601.987654,
        latency_ms=1864.198,
        status="error",
        http_status=503,
        operation="embeddings",
        alias="fast-embed",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        ttft_ms=12.5,
        error_class="UpstreamStatusError",
        error_message="upstream said: 'overloaded' \"retry\" ünïcödé ✓",
        stream=True,
        project="search",
        workflow="rag/answer",
        feature="chat-box",
        agent="planner",
        session="sess-42",
        user="user@example.com",
        environment="production",
        tags={"team": "core", "ticket": "ABC-1", "ëmoji": "🚀"},
        attributed=True,
        key_id="key_123",
        provider="anthropic",
        deployment="anthropic/claude-sonnet",
        served_model="claude-sonnet-4-20250514",
        attempts=3,
        upstream_request_id="req_abc",
        input_tokens=123_456_789_012,
        output_tokens=987,
        cached_input_tokens=100,
        cache_write_tokens=50,
        reasoning_tokens=400,
        tokens_estimated=True,
        cost_nanousd=9_223_372_036_854_775_807,  # the largest BIGINT
        price_ref="catalog:2025-01/anthropic/claude-sonnet-4",
        cache_status="replay",
        saved_nanousd=9_223_372_036_854_775_807,
        attempt_log=(
            AttemptRecord(
                n=1,
                started_at=1_714_521_600.2,
                latency_ms=30_000.25,
                provider="openai",
                deployment="openai/gpt-4o",
                model="gpt-4o-2024-08-06",
                outcome="error",
                upstream_status=529,
                error_class="UpstreamOverloaded",
                decision="retry",
                delay_ms=250.5,
                input_tokens=0,
                output_tokens=0,
                cost_nanousd=0,
            ),
            AttemptRecord(
                n=2,
                started_at=1_714_521_630.5,
                latency_ms=12.0,
                provider="anthropic",
                deployment="anthropic/claude-sonnet",
                model="claude-sonnet-4-20250514",
                outcome="cancelled",
                error_class="ClientDisconnected ünï",
                input_tokens=123_456_789_012,
                output_tokens=987,
                cost_nanousd=9_223_372_036_854_775_807,
            ),
            AttemptRecord(
                n=3,
                started_at=1_714_521_631.0,
                latency_ms=0.0,
                provider="anthropic",
                deployment="anthropic/claude-sonnet",
                model="claude-sonnet-4-20250514",
                outcome="ok",
            ),
        ),
    )


def _all_defaults() -> CallRecord:
    return CallRecord(
        id="bare",
        started_at=0.0,
        ended_at=0.0,
        latency_ms=0.0,
        status="rejected",
        http_status=429,
        operation="chat",
        alias="x",
        trace_id="t",
    )


def test_every_field_round_trips(store: LedgerStore) -> None:
    full, bare = _every_field_set(), _all_defaults()
    store.insert_batch([full, bare])
    assert store.get_call(full.id) == full
    assert store.get_call(bare.id) == bare
    assert store.get_call("missing") is None


def _attempt(n: int, outcome: str = "error", cost: int | None = 10) -> AttemptRecord:
    return AttemptRecord(
        n=n,
        started_at=1_714_521_600.0 + n,
        latency_ms=100.0,
        provider="openai",
        deployment="openai/gpt-4o",
        model="gpt-4o",
        outcome=outcome,  # type: ignore[arg-type]
        decision="retry" if outcome != "ok" else None,
        cost_nanousd=cost,
    )


def _attempt_rows(store: LedgerStore) -> list[tuple[str, int]]:
    with store.connect() as conn:
        query = sa.select(attempts.c.call_id, attempts.c.n).order_by(attempts.c.call_id, "n")
        return [(str(i), int(n)) for i, n in conn.execute(query)]


def test_get_attempts_reads_a_calls_attempts_in_order(
    store: LedgerStore, make_record: MakeRecord
) -> None:
    log = (_attempt(2), _attempt(3, "ok"), _attempt(1))  # handed over out of order
    retried, single = make_record(attempts=3, attempt_log=log), make_record()
    store.insert_batch([retried, single])
    assert [a.n for a in store.get_attempts(retried.id)] == [1, 2, 3]
    assert store.get_attempts(retried.id)[2] == log[1]
    assert store.get_attempts(single.id) == []
    assert store.get_attempts("missing") == []
    stored = store.get_call(single.id)
    assert stored is not None and stored.attempt_log == ()
    assert store.recent(1)[0].attempt_log == ()  # recent() skips the attempts table


def test_a_replayed_call_writes_its_attempts_once_and_counts_them_once(
    store: LedgerStore, make_record: MakeRecord
) -> None:
    a = make_record(attempts=2, attempt_log=(_attempt(1, cost=7), _attempt(2, "ok")))
    b = make_record(cache_status="hit", saved_nanousd=500, attempts=0)
    c = make_record(attempts=3, attempt_log=(_attempt(1, cost=3), _attempt(2), _attempt(3, "ok")))
    # The same id again with another log (a bug upstream): the stored one stays.
    a_again = make_record(id=a.id, attempts=2, attempt_log=(_attempt(1, cost=999), _attempt(2)))
    store.insert_batch([a, a_again, b])
    store.insert_batch([b, a])  # replayed
    store.insert_batch([c, a_again, b])  # a replay mixed with a new call
    assert store.count_calls() == 3
    assert _attempt_rows(store) == [(a.id, 1), (a.id, 2), (c.id, 1), (c.id, 2), (c.id, 3)]
    assert store.get_call(a.id) == a
    with store.connect() as conn:
        t = rollup_hourly.c
        total = conn.execute(
            sa.select(
                t.calls,
                t.extra_attempts,
                t.failed_attempts,
                t.failed_attempt_cost_nanousd,
                t.cache_hits,
                t.saved_nanousd,
            ).where(t.dim == "total")
        ).one()
    assert tuple(total) == (3, 1 + 2, 1 + 2, 7 + 3 + 10, 1, 500)


def test_attempt_numbers_that_repeat_are_rejected_and_nothing_is_written(
    store: LedgerStore, make_record: MakeRecord
) -> None:
    good = make_record(attempts=2, attempt_log=(_attempt(1), _attempt(2, "ok")))
    bad = make_record(attempts=2, attempt_log=(_attempt(1), _attempt(1, "ok")))
    with pytest.raises(LedgerRejected, match="attempt numbers repeat"):
        store.insert_batch([good, bad])
    assert (store.count_calls(), _attempt_rows(store)) == (0, [])
    too_big = make_record(attempts=2, attempt_log=(_attempt(1, cost=2**70), _attempt(2, "ok")))
    with pytest.raises(LedgerRejected):
        store.insert_batch([good, too_big])
    assert (store.count_calls(), _attempt_rows(store)) == (0, [])
    store.insert_batch([good])
    assert _attempt_rows(store) == [(good.id, 1), (good.id, 2)]


def test_recent_is_newest_first(store: LedgerStore, make_record: MakeRecord) -> None:
    records = [make_record(started_at=1_000.0 + i) for i in range(5)]
    store.insert_batch(records)
    assert [r.id for r in store.recent(3)] == [r.id for r in reversed(records)][:3]
    assert store.count_calls() == 5


def test_a_call_stored_twice_is_counted_once(store: LedgerStore, make_record: MakeRecord) -> None:
    a, b, c = (make_record(cost_nanousd=n) for n in (7, 11, 100))
    store.insert_batch([a, a, b])  # repeated inside one batch
    store.insert_batch([b, a])  # and replayed later (spill replay, retry after a lost commit)
    store.insert_batch([b, c, a])  # a replay mixed with a new call
    assert store.count_calls() == 3
    with store.connect() as conn:
        total = conn.execute(
            sa.select(rollup_hourly.c.calls, rollup_hourly.c.cost_nanousd).where(
                rollup_hourly.c.dim == "total"
            )
        ).one()
    assert tuple(total) == (3, 118)


def test_a_record_the_database_cannot_hold_is_rejected_and_nothing_is_written(
    store: LedgerStore, make_record: MakeRecord
) -> None:
    good, bad = make_record(), make_record(input_tokens=2**70)
    with pytest.raises(LedgerRejected):
        store.insert_batch([good, bad])
    assert store.count_calls() == 0  # one transaction: no half batch, no rollup drift
    with pytest.raises(LedgerRejected):
        store.insert_batch([make_record(started_at=float("nan"))])
    store.insert_batch([good])
    assert store.count_calls() == 1


@pytest.mark.postgres
@pytest.mark.integration
def test_unreachable_postgres_is_unavailable_and_names_no_password() -> None:
    with pytest.raises(LedgerUnavailable) as info:
        open_store("postgresql://daytwo:hunter2@127.0.0.1:1/ledger?connect_timeout=2")
    assert "hunter2" not in str(info.value)


def test_sqlite_ledger_uses_wal_and_normal_sync(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'l.db'}") as s, s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_relative_sqlite_path_is_the_working_directory_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///daytwo-ledger.db") as s:
        assert s.sqlite_path == tmp_path / "daytwo-ledger.db"
        monkeypatch.chdir("/")
        assert s.count_calls() == 0  # still the same file after a chdir
    assert (tmp_path / "daytwo-ledger.db").exists()


def test_read_only_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(LedgerNotFound, match="no ledger at"):
        open_store(f"sqlite:///{tmp_path / 'nope.db'}", create=False)
    assert not (tmp_path / "nope.db").exists()


@pytest.mark.parametrize(
    "url", ["mysql://localhost/x", "sqlite:///:memory:", "not a url", "postgresql+psycopg2://h/d"]
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(LedgerError):
        open_store(url)


def test_a_locked_sqlite_file_is_unavailable_not_rejected(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    path = tmp_path / "l.db"
    with open_store(f"sqlite:///{path}?timeout=0.05") as s:
        holder = sa.create_engine(f"sqlite:///{path}")
        try:
            with holder.connect() as other:
                other.exec_driver_sql("BEGIN EXCLUSIVE")
                with pytest.raises(LedgerUnavailable, match="locked"):
                    s.insert_batch([make_record()])
                other.exec_driver_sql("ROLLBACK")
        finally:
            holder.dispose()
        s.insert_batch([make_record()])
        assert s.count_calls() == 1
