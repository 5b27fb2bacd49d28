"""The ``scores`` table on SQLite and PostgreSQL: a score is stored once (a retried batch skips
it), read back as written, linked to its call by id."""

from __future__ import annotations

import pytest
from tests.ledger.conftest import RecordFactory

from daytwo.core.score import ScoreRecord
from daytwo.ledger.errors import LedgerRejected
from daytwo.ledger.store import LedgerStore


def score(n: int, call_id: str, **over: object) -> ScoreRecord:
    fields: dict[str, object] = {
        "id": f"s{n}",
        "call_id": call_id,
        "at": 1_765_000_000.0 + n,
        "evaluator": "refusal",
        "evaluator_version": "1",
        "source": "online",
        "value": 1.0,
        "label": "pass",
    }
    fields.update(over)
    return ScoreRecord(**fields)  # type: ignore[arg-type]


def test_scores_are_stored_once_and_read_back(
    store: LedgerStore, make_record: RecordFactory
) -> None:
    call = make_record()
    store.insert_batch([call])
    judged = score(
        2,
        call.id,
        evaluator="judge:helpfulness",
        evaluator_version="sha256:ab12",
        value=0.25,
        label="fail",
        explanation="misses the refund window",
        trace_id=call.trace_id,
    )
    feedback = score(3, call.id, evaluator="feedback:thumbs", source="feedback", value=None,
                     label="thumbs_down")  # fmt: skip
    store.insert_scores([score(1, call.id), judged])
    store.insert_scores([judged, feedback])  # a retried batch: s2 is not stored twice
    got = store.get_scores(call.id)
    assert [s.id for s in got] == ["s1", "s2", "s3"]
    assert got[1] == judged and got[2] == feedback
    assert store.get_scores("no-such-call") == []


def test_a_score_before_its_call_is_kept(store: LedgerStore) -> None:
    store.insert_scores([score(1, "call-not-yet-written")])  # evaluators may run first
    assert [s.id for s in store.get_scores("call-not-yet-written")] == ["s1"]


def test_an_unstorable_score_is_rejected_by_name(store: LedgerStore) -> None:
    with pytest.raises(LedgerRejected):
        store.insert_scores([score(1, "c", value=10**400)])
