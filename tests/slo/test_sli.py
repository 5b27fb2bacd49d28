"""SLI counts from seeded ledgers (SQLite and PostgreSQL), checked against hand arithmetic:
which rows are events, which are bad, which window each falls in, and the status made of
them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.slo.conftest import NOW, CallFactory, ScoreFactory

from daytwo.config.slos import SloConfig
from daytwo.ledger.store import LedgerStore
from daytwo.slo.sli import count_events
from daytwo.slo.status import evaluate_slo

M, H, D = 60.0, 3600.0, 86_400.0
WINDOWS = [timedelta(seconds=s) for s in (5 * M, 30 * M, H, 6 * H, 3 * D, 30 * D)]


def slo(**fields: Any) -> SloConfig:
    return SloConfig.model_validate({"name": "s", "objective": 0.9, **fields})


def by_label(counts: dict[timedelta, tuple[int, int]]) -> list[tuple[int, int]]:
    return [counts[w] for w in WINDOWS]


def test_availability_counts_5xx_per_window(store: LedgerStore, make_call: CallFactory) -> None:
    err = {"status": "error", "http_status": 503}
    store.insert_batch(
        [
            make_call(60, **err),
            make_call(60),
            make_call(20 * M, status="error", http_status=500),
            make_call(20 * M),
            make_call(20 * M, status="error", http_status=429),  # a 4xx is not unavailability
            make_call(2 * H),
            make_call(2 * H, status="cancelled", http_status=499),  # not an event
            make_call(2 * D, status="error", http_status=502),
            make_call(2 * D, status="error", http_status=502),
            make_call(2 * D),
            make_call(2 * D),
            *(make_call(10 * D) for _ in range(10)),
            make_call(40 * D, **err),  # before the period
            make_call(60, project="other", **err),  # out of scope
            make_call(-10, **err),  # after "now"
        ]
    )
    s = slo(sli="availability", scope={"project": "support"})
    counts = count_events(store, s, WINDOWS, NOW)
    assert by_label(counts) == [(1, 2), (2, 5), (2, 5), (2, 6), (4, 10), (4, 20)]

    status = evaluate_slo(store, s, NOW)
    assert status.sli == pytest.approx(16 / 20)
    # 4 bad of 20 with a 10 % budget: twice the budget spent
    assert status.budget_remaining == pytest.approx(1 - (4 / 20) / 0.1)
    assert status.burn_rate(timedelta(hours=1)) == pytest.approx((2 / 5) / 0.1)
    assert status.exhaustion == timedelta(0)
    assert status.to_json()["burn_rates"]["5m"] == pytest.approx((1 / 2) / 0.1)


def test_latency_and_ttft_count_answered_calls(store: LedgerStore, make_call: CallFactory) -> None:
    store.insert_batch(
        [
            make_call(60, latency_ms=1500.0, ttft_ms=300.0, stream=True),
            make_call(60, latency_ms=1000.0, ttft_ms=100.0, stream=True),  # at the bound: good
            make_call(60, latency_ms=900.0),  # no ttft: not a ttft event
            make_call(60, latency_ms=9000.0, status="error", http_status=504),  # not answered
            make_call(2 * H, latency_ms=5000.0, ttft_ms=250.0, stream=True),
        ]
    )
    latency = count_events(store, slo(sli={"type": "latency", "le_ms": 1000}), WINDOWS, NOW)
    assert by_label(latency) == [(1, 3), (1, 3), (1, 3), (2, 4), (2, 4), (2, 4)]
    ttft = count_events(store, slo(sli={"type": "ttft", "le_ms": 200}), WINDOWS, NOW)
    assert by_label(ttft) == [(1, 2), (1, 2), (1, 2), (2, 3), (2, 3), (2, 3)]


def test_score_slis_read_one_evaluator_within_the_scope(
    store: LedgerStore, make_call: CallFactory, make_score: ScoreFactory
) -> None:
    mine = make_call(2 * H, workflow="triage", prompt_name="triage-v")
    other = make_call(2 * H, workflow="billing")
    store.insert_batch([mine, other])
    store.insert_scores(
        [
            make_score(mine, "judge:helpful", 0.2, 60),  # bad
            make_score(mine, "judge:helpful", 0.5, 60),  # at the threshold: good
            make_score(mine, "judge:helpful", 0.9, 2 * H),
            make_score(mine, "judge:helpful", None, 60),  # no value: not an event
            make_score(mine, "judge:other", 0.0, 60),  # another rubric
            make_score(other, "judge:helpful", 0.0, 60),  # another workflow
            make_score(mine, "refusal", 0.0, 60),
            make_score(other, "refusal", 1.0, 60),
            make_score(other, "refusal", 0.0, 2 * D),
        ]
    )
    judge = slo(sli="judge:helpful", scope={"workflow": "triage"})
    assert by_label(count_events(store, judge, WINDOWS, NOW)) == [(1, 2)] * 3 + [(1, 3)] * 3
    by_prompt = slo(sli="judge:helpful", scope={"prompt": "triage-v"})
    assert count_events(store, by_prompt, WINDOWS, NOW) == count_events(store, judge, WINDOWS, NOW)
    refusal = slo(sli="refusal")  # no scope: every refusal score
    assert by_label(count_events(store, refusal, WINDOWS, NOW)) == [(1, 2)] * 4 + [(2, 3)] * 2
    strict = slo(sli={"type": "judge", "rubric": "helpful", "threshold": 0.6})
    assert count_events(store, strict, WINDOWS, NOW)[WINDOWS[0]] == (3, 3)


def test_sampled_judge_with_few_events_does_not_page_a_dense_one_does(
    store: LedgerStore, make_call: CallFactory, make_score: ScoreFactory
) -> None:
    calls = {w: make_call(60, workflow=w) for w in ("sparse", "noisy", "dense")}
    store.insert_batch(list(calls.values()))

    def judged(workflow: str, bad: int, total: int) -> list[Any]:
        call = calls[workflow]
        return [
            make_score(call, "judge:helpful", 0.0 if i < bad else 1.0, 30) for i in range(total)
        ]

    # sparse: 12 judgements, all failed -- a burn rate of 100, but fewer than 30 events.
    # noisy: 5 failed of 30 -- a point burn rate of 16.7 (above the 1 h page's 14.4), but the
    # Wilson lower bound of the bad fraction is about 7.3 %.
    # dense: 120 failed of 400 -- the lower bound is far above 14.4 % too.
    store.insert_scores(
        judged("sparse", 12, 12) + judged("noisy", 5, 30) + judged("dense", 120, 400)
    )

    def status(workflow: str, **extra: Any) -> Any:
        s = slo(sli="judge:helpful", objective=0.99, scope={"workflow": workflow}, **extra)
        return evaluate_slo(store, s, NOW)

    hour = timedelta(hours=1)
    sparse = status("sparse")
    assert sparse.slo.sampled and sparse.slo.least_events == 30
    assert sparse.burn_rate(hour) == pytest.approx(100.0)
    assert sparse.severity is None
    assert status("sparse", min_events=1, sampling_aware=False).severity == "page"

    def hour_page(s: Any) -> Any:
        (check,) = [c for c in s.evaluation.checks if c.alert.long_window == hour]
        return check

    noisy = status("noisy")
    assert noisy.burn_rate(hour) == pytest.approx((5 / 30) / 0.01)
    assert not hour_page(noisy).firing
    assert hour_page(noisy).long.burn_rate < 14.4 < hour_page(noisy).long.point_burn_rate
    assert hour_page(status("noisy", sampling_aware=False)).firing

    dense = status("dense")
    assert hour_page(dense).firing and dense.severity == "page"
    assert dense.to_json()["firing"] == "page"
