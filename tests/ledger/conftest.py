"""Ledger fixtures: a real store on SQLite (a file) and on PostgreSQL (a fresh database)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from daytwo.core.record import CallRecord
from daytwo.ledger.store import LedgerStore, open_store

#: 2024-05-01T00:00:00Z; tests place calls at fixed offsets from it.
T0 = 1_714_521_600.0

RecordFactory = Callable[..., CallRecord]


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


def priced_call(n: int, started: float, **overrides: Any) -> CallRecord:
    """The ``n``-th priced, successful, attributed call, started at ``started``; keyword
    arguments override any field."""
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
        "project": "search",
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


@pytest.fixture
def make_record() -> RecordFactory:
    """Builds a priced, successful, attributed call; keyword arguments override any field."""
    counter = itertools.count()

    def make(**overrides: Any) -> CallRecord:
        n = next(counter)
        return priced_call(n, overrides.pop("started_at", T0 + n), **overrides)

    return make
