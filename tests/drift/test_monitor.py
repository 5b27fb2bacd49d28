"""Drift over a real ledger (SQLite and PostgreSQL), scores seeded through
``LedgerStore.insert_scores`` (the scores contract; the online evaluators that write them in
production land separately -- an end-to-end test with live evaluators is left for the merge):
a refusal rate going 3 % → 8 % midway through the window is flagged with its numbers, its
start and what else changed then; a steady 3 % is not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.drift.seed import CHANGE_AT, NOW, WINDOW_S, Span, refusal_shift, steady, write

from daytwo.config.drift import DriftConfig
from daytwo.drift.detect import RateShift
from daytwo.drift.monitor import Finding, find_drift
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import LedgerStore, open_store

CFG = DriftConfig(window_s=WINDOW_S, baseline_s=86_400.0)


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


def record_changes(url: str) -> None:
    """A model change on `chat`'s deployment and a config reload just after the shift, plus
    one of each long before it (not to be named) and a change of another alias's model."""
    keys = KeyStore.open(url)
    try:
        for at, alias in (
            (CHANGE_AT + 20, "chat"),
            (CHANGE_AT - 40_000, "chat"),
            (CHANGE_AT, "other"),
        ):
            keys.record_event(
                actor="drift",
                action="model.changed",
                target="sim/gpt-4o-mini",
                before={"served_model": "gpt-4o-mini-2024-07-18", "fingerprint": "fp_old"},
                after={"served_model": "gpt-4o-mini-2026", "fingerprint": "fp_new", "alias": alias},
                at=at,
            )
        for at in (CHANGE_AT + 60, CHANGE_AT - 40_000):
            keys.record_event(
                actor="config",
                action="config.reload",
                target="config",
                after={"hash": "abc123"},
                at=at,
            )
    finally:
        keys.close()


def by_alias(findings: list[Finding]) -> dict[str, Finding]:
    return {
        f.group.model: f
        for f in findings
        if f.group.evaluator == "refusal" and f.group.prompt == "support@v1"
    }


def test_a_refusal_rate_going_from_3_to_8_percent_is_flagged_with_its_context(
    store: LedgerStore, db_url: str
) -> None:
    write(
        store,
        [*refusal_shift(), *steady(), Span("chat", CHANGE_AT + 30, NOW, 50, 0.0, prompt_version=2)],
        seed=11,
    )
    record_changes(db_url)
    found = by_alias(find_drift(store, CFG, NOW))

    moved = found["chat"]
    assert moved.flagged
    shift = moved.shift
    assert isinstance(shift, RateShift)
    assert shift.current_n == 1400 and shift.baseline_n == 4000
    assert shift.difference.low > 0
    assert moved.since is not None and CHANGE_AT - 600 <= moved.since <= CHANGE_AT + 900
    named = {c.kind: c for c in moved.changes}
    assert set(named) == {"prompt_version", "model_changed", "config"}
    assert named["prompt_version"].what == "prompt support@v2 first seen"
    assert (
        "gpt-4o-mini-2024-07-18 (fingerprint fp_old) → gpt-4o-mini-2026 (fingerprint fp_new)"
        in named["model_changed"].what
    )
    assert len(moved.changes) == 3  # not the ones long before, not another alias's
    text = moved.message()
    assert (
        f"refusal bad rate {shift.baseline_rate * 100:.1f}% → {shift.current_rate * 100:.1f}%"
        in text
    )
    assert "95% CI" in text and "since 2024-05-07T23:" in text
    assert "prompt support@v2 first seen" in text and "config reloaded" in text

    assert not found["steady"].flagged
    assert found["steady"].changes == ()


def test_eval_scores_are_not_production_traffic(store: LedgerStore) -> None:
    """A canary or eval run's scores (``source: eval``) half refusals: not drift; the same
    scores from production are."""
    start = NOW - WINDOW_S
    baseline = Span("chat", start - 86_400, start, 4000, 0.03)
    write(store, [baseline, Span("chat", start, NOW, 1400, 0.5, source="eval")], seed=2)
    assert find_drift(store, CFG, NOW) == []
    write(store, [Span("chat", start, NOW, 300, 0.5)], seed=3)
    (finding,) = find_drift(store, CFG, NOW)
    assert finding.flagged and isinstance(finding.shift, RateShift)
    assert finding.shift.current_n == 300
