"""The re-count from the ledger: every configured budget and rate limit and every virtual key's
own counters, in a number of queries that does not grow with the number of keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.cli.records import call_record

from daytwo.config.spend import SpendControlConfig
from daytwo.control.gate import SpendGate
from daytwo.control.switches import SwitchBoard
from daytwo.gateway.rebuild import recount
from daytwo.keys.model import KeyPrincipal
from daytwo.ledger.store import open_store
from daytwo.state.memory import MemoryState

#: 2027-01-15 08:00:30 UTC: 30 s into a minute, mid-day, mid-month.
NOW = datetime(2027, 1, 15, 8, 0, 30, tzinfo=UTC).timestamp()
KEYS = 3_000


def _principal(i: int, **limits: Any) -> KeyPrincipal:
    return KeyPrincipal(f"key_{i:010d}", "p", None, None, None, None, **limits)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM calls" in statement:
            seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", count)
    yield seen
    sa.event.remove(sa.Engine, "before_cursor_execute", count)


def test_recount_covers_every_counter_in_a_few_queries_whatever_the_number_of_keys(
    tmp_path: Path, statements: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    records = []
    n = 0
    for i in range(KEYS):
        key = f"key_{i:010d}"
        # this minute (counts everywhere), earlier today, earlier this month, last month
        for ago, cost in ((10, 1_000), (3 * 3600, 20_000), (5 * 86_400, 300_000), (40 * 86_400, 7)):
            n += 1
            records.append(
                call_record(n, NOW - ago, key_id=key, user=f"u{i % 3}", cost_nanousd=cost)
            )
        n += 1  # refused at admission: no cost, no tokens, not a request RPM counted
        records.append(
            call_record(
                n,
                NOW - 5,
                key_id=key,
                user=f"u{i % 3}",
                status="rejected",
                http_status=429,
                cost_nanousd=0,
                input_tokens=0,
                output_tokens=0,
            )
        )
    with open_store(url, create=True) as store:
        for i in range(0, len(records), 5_000):
            store.insert_batch(records[i : i + 5_000])
    cfg = SpendControlConfig.model_validate(
        {
            "budgets": [{"name": "per-user", "scope": {"user": "*"}, "window": "day", "usd": 1}],
            "rate_limits": [{"name": "users", "scope": {"user": "*"}, "rpm": 10**6}],
        }
    )
    gate = SpendGate(cfg, SwitchBoard(MemoryState()))
    budgets = ("5/day", "5/month", "5/hour")
    keys = [_principal(i, budget=budgets[i % 3], rpm=100, tpm=10**6) for i in range(KEYS)]
    keys.append(_principal(KEYS + 1, budget="5/day", rpm=None, tpm=None))  # no history

    statements.clear()  # (writing the ledger read it too)
    t0 = time.perf_counter()
    restore = recount(gate, keys, url, NOW)
    took = time.perf_counter() - t0
    # one query per configured budget and rate limit, ONE for all the keys
    assert len(statements) == 3, statements
    budget_rows = {k: (n, t) for k, n, t, _ in restore.budgets}
    rates = {k: v for k, v, _ in restore.rates}
    day = int(datetime(2027, 1, 15, tzinfo=UTC).timestamp())
    month = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    hour = int(datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp())
    minute = int(NOW // 60 * 60)
    k0, k1, k2 = (f"key_{i:010d}" for i in range(3))
    assert budget_rows[f"budget:key:{k0}:key={k0}:day:{day}"] == (21_000, 2 * 1_100)
    assert budget_rows[f"budget:key:{k1}:key={k1}:month:{month}"] == (321_000, 3 * 1_100)
    assert budget_rows[f"budget:key:{k2}:key={k2}:hour:{hour}"] == (1_000, 1_100)
    assert rates[f"rl:key:{k0}:key={k0}:r:{minute}"] == 1  # the rejected call is no request
    assert rates[f"rl:key:{k0}:key={k0}:t:{minute}"] == 1_100
    # the configured per-user budget and limit, per user value
    per_user = KEYS // 3 * 21_000
    assert budget_rows[f"budget:per-user:user=u0:day:{day}"] == (per_user, KEYS // 3 * 2_200)
    assert rates[f"rl:users:user=u1:r:{minute}"] == KEYS // 3
    assert f"rebuilt:per-user:{day}" in rates  # the marker a later arm() finds
    assert len(restore.budgets) == KEYS + 3
    assert took < 10, f"re-counting {KEYS} keys took {took:.1f} s"


def test_windows_are_the_configured_timezones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    now = datetime(2027, 1, 15, 3, 0, 30, tzinfo=UTC).timestamp()  # 22:00:30 in New York
    key = "key_0000000001"
    with open_store(url, create=True) as store:
        store.insert_batch(
            [
                call_record(1, now - 10, key_id=key, cost_nanousd=5),
                # 18:00 in New York (the same local day), yesterday in UTC
                call_record(2, now - 4 * 3600, key_id=key, cost_nanousd=70),
                call_record(3, now - 23 * 3600, key_id=key, cost_nanousd=900),  # the day before
            ]
        )
    cfg = SpendControlConfig.model_validate({"timezone": "America/New_York"})
    gate = SpendGate(cfg, SwitchBoard(MemoryState()))
    restore = recount(gate, [_principal(1, budget="5/day", rpm=None, tpm=None)], url, now)
    ny_day = int(datetime(2027, 1, 14, 5, tzinfo=UTC).timestamp())  # local midnight
    assert [(k, n) for k, n, _, _ in restore.budgets] == [
        (f"budget:key:{key}:key={key}:day:{ny_day}", 75)
    ]
