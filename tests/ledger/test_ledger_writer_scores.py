"""Scores through the ledger writer (``Ledger.submit_score``), on SQLite and PostgreSQL: stored
in batches by the writer thread, drained by close, retried while the database is down, and
dropped -- counted -- past the queue (they are not spilled)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.ledger.test_ledger_writer import (
    MakeRecord,
    Outage,
    _cfg,
    _pg_down,
    _sqlite_locked,
    wait_for,
)

from daytwo.core.score import ScoreRecord
from daytwo.ledger.store import open_store
from daytwo.ledger.writer import Ledger


@pytest.fixture
def url(db_url: str) -> str:
    # SQLite: wait at most 50 ms for a lock, so a locked file fails fast (as the writer tests).
    return f"{db_url}?timeout=0.05" if db_url.startswith("sqlite") else db_url


@pytest.fixture
def down(url: str) -> Outage:
    """A context manager during which the database takes no writes."""
    if url.startswith("sqlite"):
        return lambda: _sqlite_locked(url)  # type: ignore[return-value]
    return lambda: _pg_down(url)


def score(call_id: str, n: int) -> ScoreRecord:
    return ScoreRecord(
        id=f"score-{call_id}-{n}",
        call_id=call_id,
        at=1_714_521_600.0 + n,
        evaluator="refusal",
        evaluator_version="1",
        source="online",
        value=float(n % 2),
        label="ok" if n % 2 else "refusal",
    )


def test_close_stores_every_score_with_its_call(
    url: str, tmp_path: Path, make_record: MakeRecord
) -> None:
    ledger = Ledger.open(
        _cfg(url, batch_size=100, flush_interval_ms=20), spill_path=str(tmp_path / "s")
    )
    ids = []
    for _ in range(300):
        record = make_record()
        ledger.submit(record)
        ids.append(record.id)
        for n in range(3):
            ledger.submit_score(score(record.id, n))
    ledger.close(timeout_s=60)
    stats = ledger.stats()
    assert (stats.written, stats.scores_written, stats.scores_dropped) == (300, 900, 0)
    with open_store(url) as store:
        got = store.get_scores(ids[-1])
    assert [(s.value, s.label) for s in got] == [(0.0, "refusal"), (1.0, "ok"), (0.0, "refusal")]


def test_scores_are_retried_while_the_database_is_down(
    url: str, tmp_path: Path, make_record: MakeRecord, down: Outage
) -> None:
    ledger = Ledger.open(_cfg(url, flush_interval_ms=10), spill_path=str(tmp_path / "s"))
    try:
        assert ledger.flush(10)
        with down():
            for n in range(200):
                ledger.submit_score(score("call-x", n))
            wait_for(lambda: ledger.stats().write_errors >= 2)
            assert ledger.stats().scores_written == 0
        assert ledger.flush(timeout_s=30)
        assert len(ledger.store.get_scores("call-x")) == 200
        assert ledger.stats().scores_dropped == 0
    finally:
        ledger.close(10)


def test_a_full_score_queue_drops_and_counts(url: str, tmp_path: Path, down: Outage) -> None:
    ledger = Ledger.open(
        _cfg(url, queue_size=100, flush_interval_ms=10), spill_path=str(tmp_path / "s")
    )
    try:
        assert ledger.flush(10)
        with down():
            for n in range(250):
                ledger.submit_score(score("call-y", n))
            wait_for(lambda: ledger.stats().write_errors >= 1)
        assert ledger.flush(timeout_s=30)
        stored = len(ledger.store.get_scores("call-y"))
        assert stored + ledger.stats().scores_dropped == 250
        assert ledger.stats().scores_dropped >= 250 - 100 - 100  # queue + one batch in flight
    finally:
        ledger.close(10)
    ledger.submit_score(score("call-y", 999))  # after close: dropped, counted, no raise
    assert ledger.stats().scores_dropped == 250 - stored + 1
