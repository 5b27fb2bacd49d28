"""The ledger by prompt, on SQLite and PostgreSQL: ``spend --by prompt|prompt_version`` from the
rollups, and the per-version comparison of ``daytwo prompts stats`` from raw rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from tests.ledger.oracle import assert_rollups_match_raw

from daytwo.core.record import CallRecord
from daytwo.ledger.prompts import prompt_calls, prompt_stats
from daytwo.ledger.report import spend_report
from daytwo.ledger.store import LedgerStore

T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z


def _seed(store: LedgerStore, make: Callable[..., CallRecord]) -> None:
    records = [make(started_at=T0 + i, prompt_name="reply", prompt_version=1) for i in range(3)]
    records += [
        make(
            started_at=T0 + 100 + i,
            prompt_name="reply",
            prompt_version=2,
            cost_nanousd=3_000,
            input_tokens=300,
            latency_ms=100.0 * (i + 1),
        )
        for i in range(4)
    ]
    records += [
        make(started_at=T0 + 200, prompt_name="reply", prompt_version=2, status="error",
             cost_nanousd=None, input_tokens=0, output_tokens=0),
        make(started_at=T0 + 300, prompt_name="other", prompt_version=1),
        make(started_at=T0 + 400),  # no prompt
    ]  # fmt: skip
    store.insert_batch(records)


def test_spend_by_prompt_and_prompt_version(
    store: LedgerStore, make_record: Callable[..., CallRecord]
) -> None:
    _seed(store, make_record)
    start, end = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 3600, UTC)
    by_prompt = spend_report(store, start=start, end=end, by="prompt")
    assert {g.key: (g.calls, g.cost_nanousd) for g in by_prompt.groups} == {
        "reply": (8, 3 * 1_000 + 4 * 3_000),
        "other": (1, 1_000),
        None: (1, 1_000),
    }
    by_version = spend_report(store, start=start, end=end, by="prompt_version")
    assert {g.key: (g.calls, g.input_tokens) for g in by_version.groups} == {
        "reply@v1": (3, 300),
        "reply@v2": (5, 1_200),
        "other@v1": (1, 100),
        None: (1, 100),
    }
    with store.connect() as conn:
        assert_rollups_match_raw(conn)


def test_per_version_stats(store: LedgerStore, make_record: Callable[..., CallRecord]) -> None:
    _seed(store, make_record)
    v1, v2 = prompt_stats(store, "reply", T0, T0 + 3600)
    assert (v1.version, v1.calls, v1.cost_per_call_nanousd, v1.error_rate) == (1, 3, 1_000, 0)
    assert (v2.version, v2.calls, v2.priced_calls) == (2, 5, 4)
    assert v2.cost_per_call_nanousd == 3_000  # over the priced calls
    assert v2.input_per_call == 1_200 / 5 and v2.error_rate == 1 / 5
    assert (v2.latency_p50_ms, v2.latency_p95_ms) == (200.0, 400.0)  # ok calls: 100..400
    assert prompt_calls(store, "reply", T0 + 100, T0 + 3600) == 5
    assert prompt_calls(store, "nope", T0, T0 + 3600) == 0
