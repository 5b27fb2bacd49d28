"""SLO test fixtures: a ledger on SQLite and on PostgreSQL, and builders for seeded calls and
scores."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# the alert tests' fixtures: a loopback webhook receiver, the HMAC key, gateways on loopback
from tests.alerts.conftest import gateway_factory, hmac_key, receiver  # noqa: F401

from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.ledger.store import LedgerStore, open_store

#: "Now" of the seeded ledgers (Unix seconds).
NOW = 1_800_000_000.0

CallFactory = Callable[..., CallRecord]
ScoreFactory = Callable[..., ScoreRecord]


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration]),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = open_store(url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def make_call() -> CallFactory:
    """A successful call ``ago`` seconds before :data:`NOW`; keywords override any field."""
    counter = itertools.count()

    def make(ago: float, **overrides: Any) -> CallRecord:
        n = next(counter)
        started = NOW - ago
        fields: dict[str, Any] = {
            "id": f"call-{n:06d}",
            "started_at": started,
            "ended_at": started + 0.5,
            "latency_ms": 500.0,
            "status": "ok",
            "http_status": 200,
            "operation": "chat",
            "alias": "smart",
            "trace_id": f"{n:032x}",
            "project": "support",
            "attributed": True,
            "provider": "openai",
            "served_model": "gpt-4o",
            "attempts": 1,
            "input_tokens": 100,
            "output_tokens": 20,
            "cost_nanousd": 1_000,
        }
        fields.update(overrides)
        return CallRecord(**fields)

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
