"""Keys fixtures: a key store on SQLite (a file) and on PostgreSQL (a fresh database), and a
bare engine on the same database for the migration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from daytwo.keys.store import KeyStore
from daytwo.ledger.store import _make_engine

#: 2024-05-01T00:00:00Z; tests pass explicit times from it (a controlled clock).
T0 = 1_714_521_600.0


@pytest.fixture
def store(db_url: str) -> Iterator[KeyStore]:
    s = KeyStore.open(db_url, pepper=b"test-pepper", clock=lambda: T0)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the (empty, unmigrated) database: the migration tests step it."""
    eng, _ = _make_engine(db_url, create=True)
    try:
        yield eng
    finally:
        eng.dispose()
