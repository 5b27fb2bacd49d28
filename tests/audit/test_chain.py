"""The chains under the audit trail, on SQLite and PostgreSQL: admin events chained in their own
transaction, concurrent writers serialised into one gapless control stream, a replica's call
entries written with the calls they describe (never twice for a retried batch), a stream taken
over by a second process continued visibly, signed digests chained (empty intervals too), and
retention deletions said in the chain."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from tests.ledger.conftest import priced_call

from daytwo.audit.capture import Capture, Preparer
from daytwo.audit.chain import CONTROL, GENESIS, entry_hash
from daytwo.audit.codec import decompress
from daytwo.audit.digest import Signer, verify_signature, write_digest
from daytwo.audit.keeper import Keeper
from daytwo.audit.schema import audit_digests, audit_entries, call_content
from daytwo.audit.writer import CallTrail
from daytwo.config.audit import AuditConfig
from daytwo.core.record import CallRecord
from daytwo.core.redact import Redactor
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.ledger.schema import calls
from daytwo.ledger.spill import SpillFile
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.ledger.writer import Ledger

T0 = 1_800_000_000.0


def _entries(store: LedgerStore, stream: str) -> list[Any]:
    with store.connect() as conn:
        q = sa.select(audit_entries).where(audit_entries.c.stream == stream)
        return list(conn.execute(q.order_by(audit_entries.c.seq)))


def _assert_chained(rows: list[Any]) -> None:
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    prev = GENESIS
    for r in rows:
        assert r.prev_hash == prev
        assert r.hash == entry_hash(prev, r.data.encode())
        prev = r.hash


def _captured(n: int, mode: str = "metadata", **overrides: Any) -> CallRecord:
    record = priced_call(n, T0 + n, **overrides)
    request = {"messages": [{"role": "user", "content": f"question {n} from bo@example.com"}]}
    response = {"choices": [{"message": {"role": "assistant", "content": f"answer {n}"}}]}
    record.audit = Capture(mode, 3600.0, request, response, {"budgets": ["b:project=search"]})
    return record


def _trail(store: LedgerStore, replica: str = "gw-1") -> CallTrail:
    trail = CallTrail(store, Preparer(Redactor()), replica=replica)
    trail.open()
    return trail


def test_admin_events_are_chained_in_the_control_stream(db_url: str) -> None:
    with KeyStore.open(db_url) as keys:
        issued = keys.create(KeySpec(project="support"), actor="alice")
        keys.revoke(issued.record.id, actor="bob")
        keys.record_event(actor="ops", action="switch_on", target="model=gpt-4o", after={"x": 1})
        events = keys.events()
    with open_store(db_url) as store:
        rows = _entries(store, CONTROL)
    _assert_chained(rows)
    assert [(r.kind, r.actor) for r in rows] == [
        ("key.create", "alice"),
        ("key.revoke", "bob"),
        ("switch_on", "ops"),
    ]
    bodies = [orjson.loads(r.data)["body"] for r in rows]
    assert [b["event_id"] for b in bodies] == [e.id for e in events]
    assert bodies[1]["after"]["revoked_at"] is not None
    assert rows[0].project == "support" and rows[2].project is None


def test_concurrent_writers_make_one_gapless_control_stream(db_url: str) -> None:
    with KeyStore.open(db_url) as keys:
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                for i in range(15):
                    keys.record_event(actor=f"w{worker}", action="test", target=f"t{i}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
    with open_store(db_url) as store:
        rows = _entries(store, CONTROL)
    assert len(rows) == 90
    _assert_chained(rows)


def test_call_entries_are_written_with_their_calls_once(db_url: str) -> None:
    with open_store(db_url) as store:
        trail = _trail(store)
        batch = [_captured(n, "full" if n % 2 else "metadata") for n in range(4)]
        trail.prepare(batch)
        store.insert_batch(batch, trail)
        store.insert_batch(batch, trail)  # a retried batch: stored calls are skipped
        rows = _entries(store, "replica:gw-1")
        with store.connect() as conn:
            contents = conn.execute(sa.select(call_content.c.call_id)).scalars().all()
        control = _entries(store, CONTROL)
    _assert_chained(rows)
    assert [r.kind for r in rows] == ["stream.open", "call", "call", "call", "call"]
    assert [r.subject for r in rows[1:]] == [r.id for r in batch]
    body = orjson.loads(rows[1].data)["body"]
    assert body["call"]["cost_nanousd"] == 1_000 and body["content"] is None
    assert body["decisions"] == {"budgets": ["b:project=search"]}
    assert orjson.loads(rows[2].data)["body"]["content"]["mode"] == "full"
    assert sorted(contents) == [batch[1].id, batch[3].id]
    assert [(r.kind, r.subject) for r in control] == [("stream.open", "replica:gw-1")]


def test_a_stream_taken_over_is_continued_in_a_stream_of_its_own(db_url: str) -> None:
    with open_store(db_url) as store:
        first = _trail(store)
        store.insert_batch([_captured(0)], first)
        second = _trail(store)  # the same replica id: claims the stream, says where it resumed
        store.insert_batch([_captured(1)], second)
        store.insert_batch([_captured(2)], first)  # the first process notices, forks visibly
        assert first.stream == f"replica:gw-1~{first.owner[:6]}"
        main, forked = _entries(store, "replica:gw-1"), _entries(store, first.stream)
    _assert_chained(main)
    _assert_chained(forked)
    assert [r.kind for r in main] == ["stream.open", "call", "stream.resume", "call"]
    resume = orjson.loads(main[2].data)["body"]
    assert resume["previous_seq"] == 2 and resume["previous_hash"] == main[1].hash
    assert [r.kind for r in forked] == ["stream.open", "call"]
    assert forked[1].subject == "call-000002"


def test_digests_chain_sign_and_cover_empty_intervals(db_url: str) -> None:
    signer = Signer.generate()
    with open_store(db_url) as store:
        trail = _trail(store)
        store.insert_batch([_captured(n) for n in range(3)], trail)
        with store.engine.begin() as conn:
            one = write_digest(conn, signer, trail.stream, T0 + 10)
        with store.engine.begin() as conn:
            two = write_digest(conn, signer, trail.stream, T0 + 20)  # nothing new: still signed
        store.insert_batch([_captured(3)], trail)
        with store.engine.begin() as conn:
            three = write_digest(conn, signer, trail.stream, T0 + 30)
        rows = _entries(store, trail.stream)
    assert one is not None and two is not None and three is not None
    f1, f2, f3 = one.fields(), two.fields(), three.fields()
    assert (f1["first_seq"], f1["last_seq"], f1["count"]) == (1, 4, 4)
    assert f1["last_hash"] == rows[3].hash and f1["prev_signature"] == ""
    assert (f2["first_seq"], f2["last_seq"], f2["count"]) == (5, 4, 0)
    assert f2["last_hash"] == rows[3].hash and f2["prev_signature"] == one.signature
    assert (f3["first_seq"], f3["last_seq"], f3["count"]) == (5, 5, 1)
    assert f3["period_start"] == T0 + 20
    for d in (one, two, three):
        assert verify_signature(signer.public, d.data.encode(), d.signature)
    other = Signer.generate()
    assert not verify_signature(other.public, one.data.encode(), one.signature)


def test_retention_deletes_on_schedule_and_says_so(db_url: str) -> None:
    cfg = AuditConfig.model_validate({"retention": {"content": "1h", "metadata": "30d"}})
    with open_store(db_url) as store:
        trail = _trail(store)
        old = priced_call(90, T0 - 40 * 86400)
        batch = [_captured(n, "redacted") for n in range(3)]
        trail.prepare(batch)
        store.insert_batch([*batch, old], trail)
        keeper = Keeper(store, Signer.generate(), lambda: cfg, stream=lambda: trail.stream)
        assert keeper.retain(now=T0) == {"metadata": 1}  # content not expired yet
        assert keeper.retain(now=T0 + 2 * 3600) == {"content": 3}
        assert keeper.retain(now=T0 + 2 * 3600) == {}  # nothing left: nothing said
        with store.connect() as conn:
            left = conn.execute(sa.select(sa.func.count()).select_from(call_content)).scalar()
            ids = conn.execute(sa.select(calls.c.id)).scalars().all()
        control = _entries(store, CONTROL)
    assert left == 0 and sorted(ids) == sorted(r.id for r in batch)
    said = [orjson.loads(r.data)["body"] for r in control if r.kind == "retention.delete"]
    assert said == [
        {"class": "metadata", "before": T0 - 30 * 86400, "count": 1},
        {"class": "content", "before": T0 + 2 * 3600, "count": 3},
    ]


def test_the_shutdown_digest_of_the_control_stream_is_written_by_one_replica(
    db_url: str,
) -> None:
    cfg = AuditConfig()
    with open_store(db_url) as store:
        a, b = _trail(store, "a"), _trail(store, "b")
        ka = Keeper(store, Signer.generate(), lambda: cfg, stream=lambda: a.stream)
        kb = Keeper(store, Signer.generate(), lambda: cfg, stream=lambda: b.stream)
        now = time.time()
        first = ka.seal(now)
        second = kb.seal(now + 1)  # the control stream was signed a second ago: not again
        with store.connect() as conn:
            got = conn.execute(
                sa.select(audit_digests.c.stream, audit_digests.c.n).order_by(
                    audit_digests.c.stream
                )
            ).all()
    assert [d.stream for d in first] == ["replica:a", CONTROL]
    assert [d.stream for d in second] == ["replica:b"]
    assert sorted(got) == [(CONTROL, 1), ("replica:a", 1), ("replica:b", 1)]


def test_a_call_spilled_after_close_is_redacted_on_disk_and_chained_at_the_next_open(
    tmp_path: Path,
) -> None:
    """A call that finishes after shutdown began goes to the spill file, not the database: its
    content is redacted before that write too, and the next process chains it with its row."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    spill = tmp_path / "ledger.spill.jsonl"
    store = open_store(url)
    ledger = Ledger(store, spill=SpillFile(spill), hook=_trail(store))
    ledger.close(10)
    late = _captured(7, "redacted")
    ledger.submit(late)  # after close: straight to the spill file
    on_disk = spill.read_text()
    assert "bo@example.com" not in on_disk and "[REDACTED:email]" in on_disk

    store = open_store(url)
    ledger = Ledger(store, spill=SpillFile(spill), hook=_trail(store))  # replays the spill
    try:
        assert ledger.flush(10)
        rows = _entries(store, "replica:gw-1")
        with store.connect() as conn:
            (content,) = conn.execute(sa.select(call_content)).all()
    finally:
        ledger.close(10)
    _assert_chained(rows)
    assert [r.kind for r in rows] == ["stream.open", "stream.resume", "call"]
    assert rows[-1].subject == late.id and content.call_id == late.id
    kept = decompress(content.codec, bytes(content.content)).decode()
    assert "bo@example.com" not in kept and "[REDACTED:email]" in kept
