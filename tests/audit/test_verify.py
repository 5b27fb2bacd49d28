"""``verify`` on real stores (SQLite and PostgreSQL): an untouched trail passes, and each kind of
tampering is named at the first bad entry."""

from __future__ import annotations

import zlib

import pytest
from tests.audit.trail import HOUR, T0, Trail, build, entries, forged, rehash, rewrite, sql

from daytwo.audit.chain import CONTROL
from daytwo.audit.digest import Signer, write_digest
from daytwo.audit.verify import Report, verify
from daytwo.ledger.store import LedgerStore

GW1 = "replica:gw-1"
GW2 = "replica:gw-2"


def check(trail: Trail, **kw: object) -> Report:
    kw.setdefault("public_keys", [trail.signer.public])
    kw.setdefault("now", trail.end + 60)
    return verify(trail.store, **kw)  # type: ignore[arg-type]


def first(report: Report) -> tuple[str, str, int | None]:
    assert not report.ok
    p = report.first
    assert p is not None
    return p.kind, p.stream, p.seq


def test_an_untouched_trail_of_two_replicas_and_the_control_stream_verifies(trail: Trail) -> None:
    report = check(trail)
    assert report.ok, report.problems
    counts = {s.stream: (s.entries, s.digests, s.unsigned) for s in report.streams}
    # control: 2 admin events + 2 stream announcements; replicas: stream.open + 12 calls
    assert counts == {CONTROL: (4, 3, 0), GW1: (13, 3, 0), GW2: (13, 3, 0)}
    assert report.keys == "given" and report.notes == ()


def test_without_public_keys_the_stored_keys_are_used_and_the_report_says_so(
    trail: Trail,
) -> None:
    report = check(trail, public_keys=None)
    assert report.ok and report.keys == "stored"
    assert "audit_keys" in report.notes[0]


def test_an_edited_content_row(trail: Trail) -> None:
    victim = trail.content[1]
    sql(
        trail.store,
        "UPDATE call_content SET content = :c WHERE call_id = :id",
        c=zlib.compress(b'{"request":"forged"}'),
        id=victim,
    )
    report = check(trail)
    kind, _stream, _seq = first(report)
    assert kind == "content_edited" and f"content of call {victim}" in report.problems[0].message
    assert report.problem_count == 1


def test_a_deleted_content_row_unless_retention_deleted_it(trail: Trail) -> None:
    victim = trail.content[0]
    sql(trail.store, "DELETE FROM call_content WHERE call_id = :id", id=victim)
    report = check(trail)
    assert first(report)[0] == "content_deleted" and victim in report.problems[0].message


def test_a_deleted_call_row(trail: Trail) -> None:
    victim = trail.calls[GW2][5]
    sql(trail.store, "DELETE FROM calls WHERE id = :id", id=victim)
    report = check(trail)
    assert first(report) == ("call_deleted", GW2, 7)  # #1 is the stream's opening
    assert report.problems[0].message == f"call {victim} ({GW2} #7) was deleted from the ledger"


def test_call_rows_deleted_by_retention_are_not_problems(trail: Trail) -> None:
    from daytwo.audit.chain import Item, append

    sql(trail.store, "DELETE FROM calls WHERE started_at < :t", t=T0 + HOUR)
    assert not check(trail).ok
    with trail.store.engine.begin() as conn:
        body = {"class": "metadata", "before": T0 + HOUR, "count": 8}
        append(conn, CONTROL, [Item(trail.end + 1, "retention.delete", "calls", "retention", body)])
        write_digest(conn, trail.signer, CONTROL, now=trail.end + 2)
    report = check(trail)
    assert report.ok, report.problems


def test_an_edited_calls_row(trail: Trail) -> None:
    victim = trail.calls[GW1][2]
    sql(trail.store, "UPDATE calls SET cost_nanousd = 1 WHERE id = :id", id=victim)
    report = check(trail)
    assert first(report)[:2] == ("call_edited", GW1)
    assert f"call {victim}'s ledger row was edited" in report.problems[0].message
    assert "cost_nanousd 1 ≠ 1002" in report.problems[0].message


def test_without_rows_only_the_chains_are_checked(trail: Trail) -> None:
    victim = trail.calls[GW1][2]
    sql(trail.store, "UPDATE calls SET cost_nanousd = 1 WHERE id = :id", id=victim)
    report = check(trail, rows=False)
    assert report.ok and any("rows not compared" in note for note in report.notes)
    sql(trail.store, "DELETE FROM audit_entries WHERE stream = :s AND seq = 4", s=GW1)
    assert first(check(trail, rows=False)) == ("deleted", GW1, 5)


def test_an_edited_entry(trail: Trail) -> None:
    sql(
        trail.store,
        "UPDATE audit_entries SET data = replace(data, '\"gpt-4o\"', '\"gpt-5\"') "
        "WHERE stream = :s AND seq = 4",
        s=GW1,
    )
    report = check(trail)
    assert first(report) == ("edited", GW1, 4)
    assert report.problems[0].message == f"{GW1} #4 was edited: its hash does not match its data"


def test_an_edited_column_copy(trail: Trail) -> None:
    sql(
        trail.store,
        "UPDATE audit_entries SET project = 'other' WHERE stream = :s AND seq = 3",
        s=GW2,
    )
    report = check(trail)
    assert first(report) == ("edited", GW2, 3)
    assert "its project column says 'other'" in report.problems[0].message


def test_an_inserted_entry(trail: Trail) -> None:
    def insert(old: list) -> list:  # type: ignore[type-arg]
        return [*old[:5], forged(GW1, old[4].hash, old[4].at + 1), *old[5:]]

    rewrite(trail.store, GW1, insert)
    report = check(trail)
    assert first(report) == ("inserted", GW1, 6)
    assert report.problems[0].message == f"{GW1} #7 links to #5: entry #6 was inserted"


def test_an_inserted_entry_with_a_made_up_link(trail: Trail) -> None:
    rewrite(trail.store, GW1, lambda old: [*old[:5], forged(GW1, "ab" * 32, 0.0), *old[5:]])
    report = check(trail)
    assert first(report) == ("inserted", GW1, 6)
    assert report.problems[0].message == f"{GW1} #7 links to #5: entry #6 was inserted"


def test_an_inserted_entry_with_the_rest_rehashed(trail: Trail) -> None:
    def insert(old: list) -> list:  # type: ignore[type-arg]
        new = [*old[:5], forged(GW1, old[4].hash, old[4].at + 1), *old[5:]]
        return rehash(GW1, new, 5)

    rewrite(trail.store, GW1, insert)
    report = check(trail)
    kind, stream, _ = first(report)
    assert (kind, stream) == ("digest_mismatch", GW1)
    # the first digest covers #1..#5 (untouched); the second one no longer matches
    assert report.problems[0].message.startswith(f"{GW1} digest #2 does not match entries #6..#9")


def test_swapped_entries(trail: Trail) -> None:
    rewrite(trail.store, GW2, lambda old: [*old[:6], old[7], old[6], *old[8:]])
    report = check(trail)
    assert first(report) == ("reordered", GW2, 7)
    assert (
        report.problems[0].message
        == f"{GW2} #7 links to #8, a later entry: entries #7..#8 were reordered"
    )
    assert [p.kind for p in report.problems] == ["reordered"]  # one problem, not three


def test_a_deleted_entry(trail: Trail) -> None:
    sql(trail.store, "DELETE FROM audit_entries WHERE stream = :s AND seq = 7", s=GW1)
    report = check(trail)
    assert first(report) == ("deleted", GW1, 8)
    assert report.problems[0].message == f"{GW1} #8 follows #6: entry #7 was deleted"


def test_a_deleted_entry_with_the_rest_renumbered(trail: Trail) -> None:
    rewrite(trail.store, GW1, lambda old: [*old[:6], *old[7:]])
    report = check(trail)
    assert first(report) == ("deleted", GW1, 7)
    assert "entries before #7 were deleted and the rest renumbered" in report.problems[0].message


def test_deleted_last_entries(trail: Trail) -> None:
    sql(trail.store, "DELETE FROM audit_entries WHERE stream = :s AND seq > 11", s=GW1)
    report = check(trail)
    assert first(report)[:2] == ("deleted", GW1)
    assert "entries #12..#13 were deleted" in report.problems[0].message


def test_a_removed_digest_in_the_middle(trail: Trail) -> None:
    sql(trail.store, "DELETE FROM audit_digests WHERE stream = :s AND n = 2", s=GW2)
    report = check(trail)
    assert report.first is not None
    assert (report.first.kind, report.first.stream, report.first.n) == ("digest_missing", GW2, 2)
    assert report.first.message == f"{GW2}: digest #2 was missing"
    assert report.problem_count == 1


def test_a_removed_last_digest(trail: Trail) -> None:
    sql(trail.store, "DELETE FROM audit_digests WHERE stream = :s AND n = 3", s=GW1)
    report = check(trail, now=trail.end + HOUR)  # #10 is from T0+2h: its digest was due
    assert first(report) == ("unsigned", GW1, 10)
    assert report.problems[0].message.startswith(
        f"{GW1}: missing digest: entries #10..#13 are covered by no digest"
    )


def test_young_unsigned_entries_are_counted_not_failed(trail: Trail) -> None:
    sql(trail.store, "DELETE FROM audit_digests WHERE stream = :s AND n = 3", s=GW1)
    report = check(trail, now=T0 + 2 * HOUR + 600)  # the last calls are minutes old
    assert report.ok
    assert {s.stream: s.unsigned for s in report.streams}[GW1] == 4


def test_a_wrong_signing_key(trail: Trail) -> None:
    report = check(trail, public_keys=[Signer.generate().public])
    assert first(report)[0] == "signature"
    assert (
        f"is signed by key {trail.signer.key_id}, not by the given public key"
        in report.problems[0].message
    )


def test_digests_re_signed_by_someone_else(store: LedgerStore) -> None:
    real, forger = Signer.generate(), Signer.generate()
    trail = build(store, forger)  # everything signed by a key that is not the operator's
    report = verify(store, public_keys=[real.public], now=trail.end + 60)
    assert {p.kind for p in report.problems} == {"signature"}
    assert report.problem_count == 6  # 3 digests on each of 2 streams


def test_a_forged_signature(trail: Trail) -> None:
    sql(
        trail.store,
        "UPDATE audit_digests SET signature = :sig WHERE stream = :s AND n = 1",
        s=CONTROL,
        sig=trail.signer.sign(b"something else"),
    )
    report = check(trail)
    assert (
        report.first is not None
        and report.first.message == f"{CONTROL} digest #1: signature invalid"
    )


def test_an_edited_admin_event(trail: Trail) -> None:
    sql(trail.store, "UPDATE admin_events SET actor = 'cli:mallory' WHERE id = 2")
    report = check(trail)
    assert first(report)[:2] == ("admin_event_edited", CONTROL)
    assert "admin event #2 was edited" in report.problems[0].message
    assert "'cli:mallory' ≠ 'cli:test'" in report.problems[0].message


def test_a_deleted_admin_event(trail: Trail) -> None:
    sql(trail.store, "DELETE FROM admin_events WHERE id = 1")
    report = check(trail)
    assert first(report) == ("admin_event_deleted", CONTROL, 1)


def test_a_deleted_stream(trail: Trail) -> None:
    for table in ("audit_entries", "audit_digests", "audit_heads"):
        sql(trail.store, f"DELETE FROM {table} WHERE stream = :s", s=GW2)  # noqa: S608
    report = check(trail)
    assert [p.kind for p in report.problems] == ["stream_deleted"]
    assert report.problems[0].message == f"stream {GW2} was deleted (announced by {CONTROL} #4)"


def test_a_range_covers_whole_digest_periods(trail: Trail) -> None:
    report = check(trail, start=T0 + HOUR + 70, end=T0 + HOUR + 80)
    assert report.ok, report.problems
    spans = {s.stream: (s.first_seq, s.last_seq, s.digests) for s in report.streams}
    # the second hour's calls, under digest #2; digest #1 anchors #6's link (its last hash)
    assert spans == {GW1: (6, 9, 2), GW2: (6, 9, 2)}


def test_a_range_still_sees_tampering_inside_it(trail: Trail) -> None:
    rewrite(trail.store, GW1, lambda old: [*old[:6], old[7], old[6], *old[8:]])
    assert first(check(trail, start=T0 + HOUR, end=T0 + 2 * HOUR - 1))[0] == "reordered"
    assert check(trail, start=T0 + 2 * HOUR, end=T0 + 3 * HOUR).ok


def test_entries_are_read_in_chunks(trail: Trail, monkeypatch: pytest.MonkeyPatch) -> None:
    # a break right across a chunk boundary is still classified with the next chunk's entries
    import daytwo.audit.sources as sources

    monkeypatch.setattr(sources, "CHUNK", 3)
    rewrite(trail.store, GW2, lambda old: [*old[:5], old[6], old[5], *old[7:]])
    assert first(check(trail)) == ("reordered", GW2, 6)
    assert len(entries(trail.store, GW2)) == 13
