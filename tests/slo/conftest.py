"""SLO test fixtures: a ledger on SQLite and on PostgreSQL, and builders for seeded calls and
scores."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# the alert tests' fixtures: a loopback webhook receiver, the HMAC key, gateways on loopback
from tests.alerts.conftest import gateway_factory, hmac_key, receiver  # noqa: F401
from tests.ledger.conftest import priced_call

from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.ledger.store import LedgerStore, open_store

#: "Now" of the seeded ledgers (Unix seconds).
NOW = 1_800_000_000.0

CallFactory = Callable[..., CallRecord]
ScoreFactory = Callable[..., ScoreRecord]


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def make_call() -> CallFactory:
    """A successful call of project ``support`` ``ago`` seconds before :data:`NOW`; keywords
    override any field."""
    counter = itertools.count()

    def make(ago: float, **overrides: Any) -> CallRecord:
        return priced_call(next(counter), NOW - ago, **{"project": "support", **overrides})

    return make


@pytest.fixture
def make_score() -> ScoreFactory:
    counter = itertools.count()

    def make(call: CallRecord, evaluator: str, value: float | None, ago: float) -> ScoreRecord:
        n = next(counter)
        return ScoreRecord(
            id=f"score-{n:06d}",
            call_id=call.id,
            at=NOW - ago,
            evaluator=evaluator,
            evaluator_version="1",
            source="online",
            value=value,
        )

    return make
