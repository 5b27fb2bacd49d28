"""The windowed rules' values, computed from a real ledger on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.cli.records import call_record

from daytwo.alerts.evaluate import observe
from daytwo.config.alerts import AlertRule
from daytwo.ledger.store import open_store

NOW = 1_714_525_200.0
WINDOW = 600.0


def _rule(kind: str, **kw: Any) -> AlertRule:
    return AlertRule.model_validate({"name": "r", "kind": kind, "sinks": ["s"], **kw})


def _values(db_url: str, rule: AlertRule, records: list[Any]) -> dict[tuple[str, ...], Any]:
    with open_store(db_url) as store:
        store.insert_batch(records)
        found = observe(
            store,
            rule,
            since=NOW - WINDOW,
            window_s=WINDOW,
            primaries={"smart": "openai/gpt-4o", "cheap": "openai/mini"},
        )
    return {o.group: (o.value, o.calls) for o in found}


def test_error_rate_counts_upstream_errors_per_alias(db_url: str) -> None:
    t = NOW - 60
    records = [
        call_record(1, t),
        call_record(2, t, status="error", http_status=502),
        call_record(3, t),
        call_record(4, t),
        call_record(5, t, status="rejected", http_status=403),  # policy: not counted
        call_record(6, t, cache_status="hit"),  # no upstream call: not counted
        call_record(7, NOW - WINDOW - 5, status="error"),  # before the window
        call_record(8, t, alias="cheap", status="error"),
    ]
    assert _values(db_url, _rule("error_rate", threshold=0.1), records) == {
        ("smart",): (0.25, 4),
        ("cheap",): (1.0, 1),
    }


def test_too_few_calls_give_no_value(db_url: str) -> None:
    rule = _rule("error_rate", threshold=0.1, min_calls=3, scope={"alias": "cheap"})
    records = [call_record(1, NOW - 1, alias="cheap", status="error"), call_record(2, NOW - 1)]
    assert _values(db_url, rule, records) == {("cheap",): (None, 1)}


def test_p95_latency_is_the_nearest_rank(db_url: str) -> None:
    records = [call_record(i, NOW - 100, latency_ms=10.0 * i) for i in range(1, 21)]
    records.append(call_record(99, NOW - 100, latency_ms=9_999.0, status="cancelled"))
    assert _values(db_url, _rule("p95_latency", threshold=100), records) == {
        ("smart",): (190.0, 20)
    }


def test_p95_ttft_reads_answered_streams(db_url: str) -> None:
    records = [call_record(i, NOW - 100, ttft_ms=float(i), stream=True) for i in range(1, 11)]
    records.append(call_record(50, NOW - 100))  # not a stream: no ttft
    rule = _rule("p95_ttft", threshold=5, by=["project", "workflow"])
    assert _values(db_url, rule, records) == {("search", "rag"): (10.0, 10)}


def test_fallback_rate_counts_answers_from_a_later_deployment(db_url: str) -> None:
    t = NOW - 10
    records = [
        call_record(1, t, deployment="openai/gpt-4o"),
        call_record(2, t, deployment="anthropic/sonnet", attempts=2),
        call_record(3, t, deployment="anthropic/sonnet"),  # around an open breaker
        call_record(4, t, deployment="openai/gpt-4o"),
        call_record(5, t, deployment="anthropic/sonnet", status="error"),  # not answered
    ]
    assert _values(db_url, _rule("fallback_rate", threshold=0.2), records) == {("smart",): (0.5, 4)}


def test_spend_per_hour_scales_the_window_to_an_hour(db_url: str) -> None:
    records = [
        call_record(1, NOW - 100),
        call_record(2, NOW - 200, project="other"),
        call_record(3, NOW - 300, cost_nanousd=None),
    ]
    rule = _rule("spend_per_hour", threshold=1, scope={"project": "search"})
    ((group, (value, n)),) = _values(db_url, rule, records).items()
    assert group == () and n == 2
    assert abs(value - 1.5 * 3600 / WINDOW) < 1e-9


def test_unpriced_calls_are_counted(db_url: str) -> None:
    records = [
        call_record(1, NOW - 100, cost_nanousd=None),
        call_record(2, NOW - 100, cost_nanousd=None, input_tokens=0, output_tokens=0),
        call_record(3, NOW - 100),
    ]
    assert _values(db_url, _rule("unpriced_calls"), records) == {("smart",): (1.0, 1)}
