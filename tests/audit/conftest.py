"""Fixtures of the audit tests: a ledger store on both databases, and a trail of two replicas
and the control stream written into it (tests/audit/trail.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.audit.trail import Trail, build

from daytwo.audit.digest import Signer
from daytwo.ledger.store import LedgerStore, open_store


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def trail(store: LedgerStore) -> Trail:
    return build(store, Signer.generate(), replicas=("gw-1", "gw-2"))
