"""``ledger/rollup.py``: the rollups always equal sums over the raw rows.

The oracle is independent of the code under test: plain SQL ``GROUP BY`` over ``calls`` (joined
to the per-call sums of ``attempts``), compared with the rollup tables after every random batch
(duplicates and replays included).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.ledger.oracle import assert_rollups_match_raw

from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.ledger.rollup import aggregate
from daytwo.ledger.schema import METRICS
from daytwo.ledger.store import LedgerStore

MakeRecord = Callable[..., CallRecord]
T0 = 1_714_521_600.0

_names = st.sampled_from([None, "a", "b", "ünï", "O'Brien"])
_attempts = st.builds(
    AttemptRecord,
    n=st.just(0),
    started_at=st.floats(T0 - 3 * 86_400, T0 + 3 * 86_400),
    latency_ms=st.floats(0, 1e6),
    provider=st.sampled_from(["openai", "anthropic"]),
    deployment=st.just("d"),
    model=st.just("m"),
    outcome=st.sampled_from(["ok", "error", "cancelled"]),
    cost_nanousd=st.none() | st.integers(0, 10**12),
)
#: Numbered 1..k, as the pipeline numbers them.
_attempt_logs = st.lists(_attempts, max_size=4).map(
    lambda log: tuple(dataclasses.replace(a, n=i) for i, a in enumerate(log, 1))
)
records = st.builds(
    CallRecord,
    id=st.text("abcdefgh", min_size=1, max_size=3),  # small alphabet: ids repeat, on purpose
    started_at=st.floats(T0 - 3 * 86_400, T0 + 3 * 86_400),
    ended_at=st.just(T0),
    latency_ms=st.floats(0, 1e6),
    status=st.sampled_from(["ok", "error", "rejected", "cancelled"]),
    http_status=st.sampled_from([200, 429, 500, 499]),
    operation=st.just("chat"),
    alias=st.sampled_from(["smart", "fast"]),
    trace_id=st.just("t"),
    project=st.sampled_from(["default", "search", "support"]),
    workflow=_names,
    feature=_names,
    agent=_names,
    user=_names,
    environment=_names,
    key_id=_names,
    provider=_names,
    served_model=st.sampled_from([None, "gpt-4o", "claude"]),
    attributed=st.booleans(),
    attempts=st.integers(0, 4),
    input_tokens=st.integers(0, 10**9),
    output_tokens=st.integers(0, 10**7),
    cached_input_tokens=st.integers(0, 10**6),
    cache_write_tokens=st.integers(0, 10**6),
    reasoning_tokens=st.integers(0, 10**6),
    tokens_estimated=st.booleans(),
    cost_nanousd=st.none() | st.integers(0, 10**12),
    cache_status=st.sampled_from([None, "hit", "replay"]),
    saved_nanousd=st.none() | st.integers(0, 10**12),
    attempt_log=_attempt_logs,
)


@settings(
    max_examples=40,
    deadline=None,
    # One database for all examples: the invariant must hold after every batch, cumulatively.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(records, min_size=1, max_size=30))
def test_rollups_equal_sums_over_raw_rows(store: LedgerStore, batch: list[CallRecord]) -> None:
    store.insert_batch(batch)
    with store.connect() as conn:
        assert_rollups_match_raw(conn)


def test_aggregate_spreads_one_call_over_every_dimension(make_record: MakeRecord) -> None:
    r = make_record(
        started_at=T0 + 5_000,  # 01:23 on 2024-05-01
        workflow="wf",
        user="u1",
        cost_nanousd=None,
        status="error",
        attempts=2,
        served_model=None,
    )
    hourly, daily = aggregate([r, make_record(started_at=T0 + 5_001, user="u1")])
    by_dim = {(row[0], row[2]): row[3:] for row in hourly}
    assert {row[1] for row in hourly} == {T0 + 3_600}
    metrics = dict(zip(METRICS, by_dim["total", ""], strict=True))
    assert metrics["calls"] == 2
    assert metrics["unpriced_calls"] == 1
    assert metrics["cost_nanousd"] == 1_000  # the priced one only
    assert metrics["failed_calls"] == metrics["errors"] == metrics["retried_calls"] == 2 - 1
    assert dict(zip(METRICS, by_dim["model", "smart"], strict=True))["calls"] == 1  # alias
    assert dict(zip(METRICS, by_dim["workflow", ""], strict=True))["calls"] == 1
    assert daily == [
        (
            T0,
            "u1",
            *(a + b for a, b in zip(by_dim["workflow", "wf"], by_dim["workflow", ""], strict=True)),
        )
    ]


def _attempt(n: int, outcome: str, cost: int | None, provider: str = "openai") -> AttemptRecord:
    return AttemptRecord(
        n=n,
        started_at=T0 + n,
        latency_ms=100.0,
        provider=provider,
        deployment=f"{provider}/gpt-4o",
        model="gpt-4o",
        outcome=outcome,  # type: ignore[arg-type]
        cost_nanousd=cost,
    )


def test_aggregate_counts_attempts_cache_hits_and_replays(make_record: MakeRecord) -> None:
    retried = make_record(
        attempts=3,
        provider="anthropic",
        attempt_log=(
            _attempt(1, "error", 40),
            _attempt(2, "cancelled", None),
            _attempt(3, "ok", 1_000, provider="anthropic"),
        ),
    )
    failed_over_twice = make_record(
        attempts=2, status="error", attempt_log=(_attempt(1, "error", 5), _attempt(2, "error", 7))
    )
    hit = make_record(cache_status="hit", saved_nanousd=900, cost_nanousd=0, attempts=0)
    replay = make_record(cache_status="replay", saved_nanousd=None, attempts=0)
    hourly, _ = aggregate([retried, failed_over_twice, hit, replay, make_record()])
    by_dim = {(row[0], row[2]): dict(zip(METRICS, row[3:], strict=True)) for row in hourly}
    total = by_dim["total", ""]
    assert (total["retried_calls"], total["extra_attempts"]) == (2, 2 + 1)
    assert (total["failed_attempts"], total["failed_attempt_cost_nanousd"]) == (4, 40 + 5 + 7)
    assert (total["cache_hits"], total["replays"], total["saved_nanousd"]) == (1, 1, 900)
    # Attempt metrics count under the call's values: the failed openai attempt of a call
    # that anthropic answered is on the anthropic row.
    assert by_dim["provider", "anthropic"]["failed_attempts"] == 2
    assert by_dim["provider", "openai"]["failed_attempts"] == 2
