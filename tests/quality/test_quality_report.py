"""The quality report on a seeded ledger (scores and calls stored through the store, SQLite and
PostgreSQL), checked by hand arithmetic: rates, Wilson bounds, the previous window, the
two-proportion test's p, the verdicts."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.quality.report import MIN_EVENTS, QualityReport, quality_report
from daytwo.stats import wilson_interval

#: The report's window is [NOW - HOUR, NOW); the previous one [NOW - 2 HOUR, NOW - HOUR).
NOW = 1_765_000_000.0
HOUR = 3_600.0

#: Two kinds of call: what served them, their workflow and prompt version.
CALLS: dict[str, dict[str, Any]] = {
    "A": {"served_model": "gpt-4o", "workflow": "rag", "prompt_name": "support",
          "prompt_version": 2},
    "B": {"served_model": "claude", "workflow": "triage", "prompt_name": "support",
          "prompt_version": 3},
}  # fmt: skip


def _values(ones: int, n: int) -> list[float]:
    return [1.0] * ones + [0.0] * (n - ones)


def seed(store: LedgerStore, now: float = NOW) -> None:
    """What the report is checked against (counts chosen for hand arithmetic): scores in the
    hour before ``now`` and the hour before that."""
    now_at, before_at = now - HOUR / 2, now - 1.5 * HOUR
    ids = itertools.count()
    calls: list[CallRecord] = []
    scores: list[ScoreRecord] = []

    def add(kind: str | None, evaluator: str, at: float, values: Sequence[float | None]) -> None:
        for v in values:
            n = next(ids)
            call_id = f"call{n:05d}"
            if kind is not None:  # None: a score whose call the ledger has not seen
                calls.append(_call(call_id, at, **CALLS[kind]))
            source = "feedback" if evaluator.startswith("feedback:") else "online"
            scores.append(ScoreRecord(f"s{n}", call_id, at, evaluator, "1", source, v))  # type: ignore[arg-type]

    add("A", "refusal", now_at, _values(36, 40))
    add("A", "refusal", before_at, _values(28, 40))
    add("B", "refusal", now_at, _values(5, 10))  # none before: not enough events
    add(None, "refusal", now_at, [1.0])
    add("A", "feedback:thumbs", now_at, _values(12, 30))
    add("A", "feedback:thumbs", before_at, _values(24, 30))
    add("A", "feedback:task_success", now_at, _values(20, 30))
    add("A", "feedback:task_success", before_at, _values(21, 30))
    add("A", "feedback:score", now_at, [0.5, 0.7, 1.0])
    add("A", "feedback:label", now_at, [None, None])  # no value: not a rate
    add("A", "length", now_at, [120.0, 80.0])
    add("A", "length", before_at, [50.0])
    add("A", "refusal", now, [0.0])  # the window's end is open
    add("A", "refusal", now - 2 * HOUR - 1, [0.0])  # before the previous window
    store.insert_batch(calls)
    store.insert_scores(scores)


def _call(call_id: str, at: float, **kw: Any) -> CallRecord:
    return CallRecord(
        id=call_id, started_at=at - 5, ended_at=at - 4, latency_ms=1000.0, status="ok",
        http_status=200, operation="chat", alias="smart", trace_id="0" * 31 + "1",
        project="search", attributed=True, provider="openai", attempts=1, **kw,
    )  # fmt: skip


PG = pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration])


@pytest.fixture(params=["sqlite", PG])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = open_store(url)
    try:
        seed(store)
        yield store
    finally:
        store.close()


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """The pooled z-test's two-sided p, by hand."""
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def rows(report: QualityReport) -> dict[tuple[str, tuple[str | None, ...]], Any]:
    return {(r.evaluator, tuple(r.group.values())): r for r in report.rows}


def test_rates_intervals_and_tests_per_model(seeded: LedgerStore) -> None:
    report = quality_report(seeded, NOW - HOUR, NOW, ("model",))
    got = rows(report)
    assert list(got) == [
        ("feedback:score", ("gpt-4o",)),
        ("feedback:task_success", ("gpt-4o",)),
        ("feedback:thumbs", ("gpt-4o",)),
        ("length", ("gpt-4o",)),
        ("refusal", (None,)),
        ("refusal", ("claude",)),
        ("refusal", ("gpt-4o",)),
    ]
    assert MIN_EVENTS == 30  # the counts below straddle it

    refusal = got[("refusal", ("gpt-4o",))]
    assert (refusal.now.n, refusal.now.successes, refusal.before.n, refusal.before.successes) == (
        40,
        36,
        40,
        28,
    )
    assert refusal.now.mean == pytest.approx(0.9) and refusal.before.mean == pytest.approx(0.7)
    assert refusal.delta == pytest.approx(0.2)
    ci = wilson_interval(36, 40)
    assert (refusal.now.ci_low, refusal.now.ci_high) == (ci.low, ci.high)
    # Wilson by hand: centre (p + z²/2n) / (1 + z²/n),
    # half-width z √(p(1-p)/n + z²/4n²) / (1 + z²/n)
    z = 1.959963984540054
    centre = (0.9 + z * z / 80) / (1 + z * z / 40)
    half = z * math.sqrt(0.9 * 0.1 / 40 + z * z / (4 * 1600)) / (1 + z * z / 40)
    assert refusal.now.ci_low == pytest.approx(
        centre - half
    ) and refusal.now.ci_high == pytest.approx(centre + half)
    assert refusal.p_value == pytest.approx(two_proportion_p(36, 40, 28, 40))  # ≈ 0.0253
    assert refusal.p_value == pytest.approx(0.02535, abs=1e-4)
    assert refusal.verdict == "better"

    thumbs = got[("feedback:thumbs", ("gpt-4o",))]
    assert (thumbs.now.mean, thumbs.before.mean) == pytest.approx((0.4, 0.8))
    assert thumbs.p_value == pytest.approx(two_proportion_p(12, 30, 24, 30))
    assert thumbs.verdict == "worse"

    success = got[("feedback:task_success", ("gpt-4o",))]
    assert success.p_value == pytest.approx(two_proportion_p(20, 30, 21, 30))
    assert success.verdict == "no change" and not success.approximate

    claude = got[("refusal", ("claude",))]
    assert (claude.now.n, claude.now.mean, claude.before.n, claude.before.mean) == (
        10,
        0.5,
        0,
        None,
    )
    assert (claude.verdict, claude.p_value, claude.delta) == ("not enough events", None, None)
    assert (claude.now.ci_low, claude.now.ci_high) == (
        wilson_interval(5, 10).low,
        wilson_interval(5, 10).high,
    )

    orphan = got[("refusal", (None,))]  # its call's row is not (yet) in the ledger: still counted
    assert (orphan.now.n, orphan.now.mean) == (1, 1.0)

    score = got[("feedback:score", ("gpt-4o",))]
    assert score.now.mean == pytest.approx(2.2 / 3) and score.now.successes == 2
    assert score.approximate and score.verdict == "not enough events"

    length = got[("length", ("gpt-4o",))]
    assert (length.now.mean, length.before.mean, length.delta) == (100.0, 50.0, 50.0)
    assert (length.verdict, length.now.ci_low, length.now.successes) == ("measurement", None, None)
    assert not length.approximate


def test_several_dimensions_and_one_evaluator(seeded: LedgerStore) -> None:
    report = quality_report(
        seeded, NOW - HOUR, NOW, ("workflow", "prompt_version"), evaluator="refusal"
    )
    got = rows(report)
    assert list(got) == [
        ("refusal", (None, None)),
        ("refusal", ("rag", "support@v2")),
        ("refusal", ("triage", "support@v3")),
    ]
    assert got[("refusal", ("rag", "support@v2"))].now.n == 40
    assert report.rows[1].group == {"workflow": "rag", "prompt_version": "support@v2"}


def test_without_groups_every_score_of_an_evaluator_counts(seeded: LedgerStore) -> None:
    got = rows(quality_report(seeded, NOW - HOUR, NOW))
    refusal = got[("refusal", ())]
    assert (refusal.now.n, refusal.now.successes) == (51, 42)  # 40 + 10 + 1 orphan
    assert (refusal.before.n, refusal.before.successes) == (40, 28)
    assert refusal.p_value == pytest.approx(two_proportion_p(42, 51, 28, 40))
    assert ("feedback:label", ()) not in got


def test_json_shape(seeded: LedgerStore) -> None:
    data = quality_report(seeded, NOW - HOUR, NOW, ("model",), evaluator="refusal").to_json()
    assert data["window"] == {"start": NOW - HOUR, "end": NOW}
    assert data["previous"] == {"start": NOW - 2 * HOUR, "end": NOW - HOUR}
    assert (data["by"], data["min_events"]) == (["model"], MIN_EVENTS)
    row = data["rows"][-1]
    assert set(row) == {
        "evaluator",
        "group",
        "window",
        "previous",
        "delta",
        "p_value",
        "verdict",
        "approximate",
    }
    assert row["group"] == {"model": "gpt-4o"}
    assert row["window"]["n"] == 40 and row["previous"]["successes"] == 28
    assert set(row["window"]) == {"n", "rate", "successes", "ci_low", "ci_high"}


def test_bad_input_is_a_value_error(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        with pytest.raises(ValueError, match="unknown dimension 'colour'"):
            quality_report(store, 0.0, 1.0, ("colour",))
        with pytest.raises(ValueError, match="end after"):
            quality_report(store, 1.0, 1.0)
    finally:
        store.close()


def test_a_project_counts_its_calls_scores_only(seeded: LedgerStore) -> None:
    got = rows(quality_report(seeded, NOW - HOUR, NOW, project="search"))
    assert got[("refusal", ())].now.n == 50  # the score whose call is unknown is left out
    assert quality_report(seeded, NOW - HOUR, NOW, project="billing").rows == []
