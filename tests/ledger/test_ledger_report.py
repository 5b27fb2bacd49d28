"""``ledger/report.py``: exact numbers on a hand-built ledger with a previous window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from daytwo.core.errors import InvalidRequest
from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.ledger.report import SpendReport, spend_report, trailing_window
from daytwo.ledger.schema import REPORT_DIMS
from daytwo.ledger.store import LedgerStore

MakeRecord = Callable[..., CallRecord]
T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z
DAY = 86_400.0
START = datetime(2024, 5, 8, tzinfo=UTC)
END = datetime(2024, 5, 15, tzinfo=UTC)


@pytest.fixture
def ledger(store: LedgerStore, make_record: MakeRecord) -> LedgerStore:
    prev, cur = T0 + DAY, T0 + 8 * DAY  # inside the previous window / the window
    a = {"workflow": "a", "user": "u1"}
    store.insert_batch(
        [
            # previous window: a 2 x 1_000, b 5_000
            make_record(started_at=prev, cost_nanousd=1_000, **a),
            make_record(started_at=prev + 60, cost_nanousd=1_000, **a),
            make_record(
                started_at=prev + 120,
                cost_nanousd=5_000,
                workflow="b",
                user="u1",
                project="support",
            ),
            # the window
            make_record(started_at=cur, cost_nanousd=1_000, input_tokens=10, output_tokens=1, **a),
            make_record(started_at=cur + 1, cost_nanousd=2_000, attempts=2, **a),  # retried
            make_record(started_at=cur + 2, cost_nanousd=500, status="error", **a),  # failed
            make_record(started_at=cur + 3, cost_nanousd=None, served_model="llama", **a),
            make_record(
                started_at=cur + 4, cost_nanousd=1_000, workflow="b", user="u1", project="support"
            ),
            make_record(
                started_at=cur + 5 * DAY,
                cost_nanousd=10_000,
                workflow="c",
                user="u2",
                project="growth",
                provider="anthropic",
                served_model="claude",
            ),
            make_record(started_at=cur + 6, cost_nanousd=250, project="default", attributed=False),
            # outside both windows
            make_record(started_at=T0 + 14 * DAY, cost_nanousd=99_000, workflow="a"),
            make_record(started_at=T0 - 1, cost_nanousd=99_000, workflow="a"),
        ]
    )
    return store


def _by(report: SpendReport) -> dict[str | None, tuple[int, int, int]]:
    groups = [*report.groups, *([report.other] if report.other else [])]
    return {g.key: (g.cost_nanousd, g.calls, g.previous_cost_nanousd) for g in groups}


def test_totals_and_the_previous_window(ledger: LedgerStore) -> None:
    r = spend_report(ledger, start=START, end=END, by="workflow")
    t = r.totals
    assert (t.cost_nanousd, t.calls, t.unpriced_calls) == (14_750, 7, 1)
    assert (t.input_tokens, t.output_tokens) == (10 + 6 * 100, 1 + 6 * 20)
    assert (t.failed_calls, t.failed_cost_nanousd) == (1, 500)
    assert (t.retried_calls, t.retried_cost_nanousd) == (1, 2_000)
    assert (t.unattributed_calls, t.unattributed_cost_nanousd) == (1, 250)
    assert (r.previous.cost_nanousd, r.previous.calls) == (7_000, 3)
    assert r.change_pct == pytest.approx((14_750 - 7_000) * 100 / 7_000)
    assert r.failed_cost_share == 500 / 14_750
    assert r.retried_cost_share == 2_000 / 14_750
    assert r.unattributed_call_share == 1 / 7
    assert (r.previous_start, r.start, r.end) == (START - timedelta(days=7), START, END)


def test_groups_shares_and_top_drivers(ledger: LedgerStore) -> None:
    r = spend_report(ledger, start=START, end=END, by="workflow", limit=2)
    assert [g.key for g in r.groups] == ["c", "a"]
    assert _by(r) == {"c": (10_000, 1, 0), "a": (3_500, 4, 2_000), None: (1_250, 2, 5_000)}
    assert r.other is not None and r.other.key is None  # b and the unattributed call, summed
    assert r.group_count == 4
    assert r.groups[0].share == 10_000 / 14_750
    assert r.groups[1].change_pct == 75.0
    assert r.groups[0].change_pct is None  # new this window
    assert [(d.key, d.change_nanousd) for d in r.drivers] == [("c", 10_000), ("b", -4_000)]


def test_every_dimension_adds_up_to_the_totals(ledger: LedgerStore) -> None:
    for by in REPORT_DIMS:
        r = spend_report(ledger, start=START, end=END, by=by, limit=100)
        assert sum(g.cost_nanousd for g in r.groups) == r.totals.cost_nanousd == 14_750, by
        assert sum(g.calls for g in r.groups) == r.totals.calls == 7, by
    by_model = _by(spend_report(ledger, start=START, end=END, by="model"))
    assert by_model["llama"] == (0, 1, 0)  # the unpriced call: counted, not priced
    assert _by(spend_report(ledger, start=START, end=END, by="user")) == {
        "u1": (4_500, 5, 7_000),
        "u2": (10_000, 1, 0),
        None: (250, 1, 0),
    }


def test_reports_read_only_the_rollups(ledger: LedgerStore) -> None:
    before = spend_report(ledger, start=START, end=END, by="project").to_json()
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM calls"))
    assert spend_report(ledger, start=START, end=END, by="project").to_json() == before


def test_windows_snap_outward_to_hours_and_to_days_for_users(ledger: LedgerStore) -> None:
    r = spend_report(
        ledger, start=START + timedelta(minutes=30), end=END - timedelta(minutes=10), by="project"
    )
    assert (r.start, r.end) == (START, END)
    assert r.totals.cost_nanousd == 14_750
    r = spend_report(
        ledger, start=START + timedelta(hours=5), end=END - timedelta(hours=5), by="user"
    )
    assert (r.start, r.end) == (START, END)
    naive = spend_report(
        ledger, start=START.replace(tzinfo=None), end=END.replace(tzinfo=None), by="project"
    )
    assert naive.start == START  # naive datetimes are UTC


def test_trailing_windows_end_with_the_current_hour_or_day() -> None:
    now = datetime(2024, 5, 15, 14, 23, tzinfo=UTC)
    assert trailing_window(timedelta(days=7), now=now) == (
        datetime(2024, 5, 8, 15, tzinfo=UTC),
        datetime(2024, 5, 15, 15, tzinfo=UTC),
    )
    assert trailing_window(timedelta(minutes=30), now=now) == (
        datetime(2024, 5, 15, 14, tzinfo=UTC),
        datetime(2024, 5, 15, 15, tzinfo=UTC),
    )
    assert trailing_window(timedelta(days=7), by="user", now=now) == (
        datetime(2024, 5, 9, tzinfo=UTC),
        datetime(2024, 5, 16, tzinfo=UTC),
    )


def test_json_has_exact_money_and_every_section(ledger: LedgerStore) -> None:
    data = spend_report(ledger, start=START, end=END, by="workflow", limit=2).to_json()
    assert data["totals"]["cost"] == {"usd": "0.000014750", "nanos": 14_750}
    assert data["change"]["cost"] == {"usd": "0.000007750", "nanos": 7_750}
    assert data["unpriced_calls"] == 1
    assert data["window"] == {"start": "2024-05-08T00:00:00Z", "end": "2024-05-15T00:00:00Z"}
    assert data["groups"][0]["key"] == "c"
    assert data["other"]["previous_cost"]["nanos"] == 5_000
    assert data["top_drivers"][1]["change"] == {"usd": "-0.000004000", "nanos": -4_000}


def test_an_empty_ledger_reports_zeros_not_errors(store: LedgerStore) -> None:
    r = spend_report(store, start=START, end=END, by="model")
    assert (r.totals.calls, r.groups, r.other, r.change_pct, r.failed_cost_share) == (
        0,
        (),
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"by": "colour"}, "cannot group spend by `colour`"),
        ({"by": "model", "limit": 0}, "limit"),
        ({"by": "model", "end": START}, "end after it starts"),
    ],
)
def test_bad_arguments_are_caller_errors(
    store: LedgerStore, kwargs: dict[str, object], match: str
) -> None:
    args: dict[str, object] = {"start": START, "end": END, **kwargs}
    with pytest.raises(InvalidRequest, match=match):
        spend_report(store, **args)  # type: ignore[arg-type]


def _attempt(n: int, outcome: str, cost: int | None) -> AttemptRecord:
    return AttemptRecord(
        n=n,
        started_at=T0 + n,
        latency_ms=10.0,
        provider="openai",
        deployment="openai/gpt-4o",
        model="gpt-4o",
        outcome=outcome,  # type: ignore[arg-type]
        cost_nanousd=cost,
    )


def test_totals_count_retries_cache_hits_and_replays(
    store: LedgerStore, make_record: MakeRecord
) -> None:
    cur, prev = T0 + 8 * DAY, T0 + DAY
    store.insert_batch(
        [
            make_record(
                started_at=cur,
                attempts=3,
                attempt_log=(_attempt(1, "error", 40), _attempt(2, "error", None)),
            ),
            make_record(
                started_at=cur + 1,
                attempts=2,
                attempt_log=(_attempt(1, "cancelled", 2), _attempt(2, "ok", 1_000)),
            ),
            make_record(started_at=cur + 2, cache_status="hit", saved_nanousd=600, attempts=0),
            make_record(started_at=cur + 3, cache_status="hit", saved_nanousd=400, attempts=0),
            make_record(started_at=cur + 4, cache_status="replay", saved_nanousd=50, attempts=0),
            make_record(started_at=prev, cache_status="hit", saved_nanousd=7, attempts=0),
        ]
    )
    r = spend_report(store, start=START, end=END, by="provider")
    t = r.totals
    assert (t.retried_calls, t.extra_attempts) == (2, 2 + 1)
    assert (t.failed_attempts, t.failed_attempt_cost_nanousd) == (3, 42)
    assert (t.cache_hits, t.replays, t.saved_nanousd) == (2, 1, 1_050)
    assert (r.previous.cache_hits, r.previous.saved_nanousd) == (1, 7)
    data = r.to_json()["totals"]
    assert (data["extra_attempts"], data["failed_attempts"]) == (3, 3)
    assert data["failed_attempt_cost"] == {"usd": "0.000000042", "nanos": 42}
    assert (data["cache_hits"], data["replays"]) == (2, 1)
    assert data["saved"] == {"usd": "0.000001050", "nanos": 1_050}


def test_json_totals_always_carry_the_retry_and_cache_figures(store: LedgerStore) -> None:
    data = spend_report(store, start=START, end=END, by="model").to_json()
    for totals in (data["totals"], data["previous_totals"]):
        assert totals["extra_attempts"] == totals["failed_attempts"] == 0
        assert totals["cache_hits"] == totals["replays"] == 0
        assert (
            totals["failed_attempt_cost"] == totals["saved"] == {"usd": "0.000000000", "nanos": 0}
        )
